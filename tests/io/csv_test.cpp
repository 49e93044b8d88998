#include "diffmem/io/csv.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::io {
namespace {

TEST(Csv, ParseCsvFollowsRfc4180) {
  const std::string text =
      "\xEF\xBB\xBFid,prompt\r\n"
      "1,\"a, b\"\r\n"
      "2,\"she said \"\"hi\"\"\"\n"
      "\n"
      "3,\"two\nlines\"\n"
      "4,\n"
      "5,plain \"inner\" quotes";
  const CsvRows rows = parse_csv(text, "t.csv");
  const CsvRows expect = {{"id", "prompt"},
                       {"1", "a, b"},
                       {"2", "she said \"hi\""},
                       {"3", "two\nlines"},
                       {"4", ""},
                       {"5", "plain \"inner\" quotes"}};
  EXPECT_EQ(rows, expect);
  EXPECT_THROW(parse_csv("id,prompt\n1,\"open", "t.csv"), Error);
  EXPECT_THROW(parse_csv("id,prompt\n1,\"closed\"x\n", "t.csv"), Error);
}

TEST(Csv, CsvFieldRoundTrips) {
  const std::vector<std::string> values = {"plain", "", "a,b", "q\"uote", "\"", "line\nbreak",
                                           "cr\r\nlf", " lead", "trail ", "$(touch x); `y`"};
  std::string line;
  for (const auto& v : values) line += (line.empty() ? "" : ",") + csv_field(v);
  const CsvRows rows = parse_csv(line + "\n", "t");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], values);
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
}

TEST(Csv, ReadsFilesAndNamesTheFileAndColumn) {
  test::TempDir dir;
  test::write_bytes(dir / "m.csv", "generation,l2\n0,0.1\n");
  const CsvRows rows = read_csv(dir / "m.csv");
  ASSERT_EQ(rows.size(), 2u);
  const auto cols = csv_columns(rows[0], {"l2"}, (dir / "m.csv").string());
  EXPECT_EQ(cols.at("l2"), 1u);
  const std::string missing =
      test::error_of([&] { csv_columns(rows[0], {"nearest_id"}, (dir / "m.csv").string()); });
  EXPECT_NE(missing.find("m.csv"), std::string::npos) << missing;
  EXPECT_NE(missing.find("nearest_id"), std::string::npos) << missing;
  test::write_bytes(dir / "open.csv", "a,b\n1,\"open\n");
  const std::string open = test::error_of([&] { read_csv(dir / "open.csv"); });
  EXPECT_NE(open.find("open.csv"), std::string::npos) << open;
}

}  // namespace
}  // namespace diffmem::io
