// Prompt files for text-to-image sampling: CSV (prompt or caption column) and JSONL.
#include "diffmem/data/prompts.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace diffmem::data {
namespace {

TEST(PromptFile, ReadsCsvAndJsonlInFileOrder) {
  test::TempDir tmp;
  test::write_bytes(tmp / "p.csv", "id,prompt\n1,\"a cat, sitting\"\n2,\"an \"\"owl\"\"\"\n");
  EXPECT_EQ(read_prompt_file(tmp / "p.csv"), (std::vector<std::string>{"a cat, sitting", "an \"owl\""}));
  test::write_bytes(tmp / "c.csv", "url,caption\nx,first\ny,second\n");
  EXPECT_EQ(read_prompt_file(tmp / "c.csv"), (std::vector<std::string>{"first", "second"}));
  test::write_bytes(tmp / "p.jsonl", "{\"caption\": \"\\u00e9t\\u00e9 <b>\"}\n\n{\"prompt\": \"two\", \"x\": 1}\n");
  EXPECT_EQ(read_prompt_file(tmp / "p.jsonl"), (std::vector<std::string>{"\xc3\xa9t\xc3\xa9 <b>", "two"}));
}

TEST(PromptFile, BadFilesAreOneLineErrorsNamingFileAndLine) {
  test::TempDir tmp;
  const auto err = [&](const std::string& name, const std::string& text) {
    test::write_bytes(tmp / name, text);
    return test::error_of([&] { read_prompt_file(tmp / name); });
  };
  EXPECT_NE(err("none.csv", "id,text\n1,a\n").find("prompt"), std::string::npos);
  EXPECT_NE(err("empty.csv", "prompt\n").find("at least one prompt"), std::string::npos);
  EXPECT_NE(err("bad.jsonl", "{\"prompt\": \"a\"}\n{nope\n").find("line 2"), std::string::npos);
  EXPECT_NE(err("num.jsonl", "{\"prompt\": 3}\n").find("line 1"), std::string::npos);
  EXPECT_NE(test::error_of([&] { read_prompt_file(tmp / "missing.csv"); }).find("missing.csv"),
            std::string::npos);
}

}  // namespace
}  // namespace diffmem::data
