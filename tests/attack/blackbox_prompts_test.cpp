#include "diffmem/attack/blackbox_prompts.h"

#include <gtest/gtest.h>

#include <set>

#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {

TEST(BlackboxPrompts, CsvAndJsonlReadTheSameEntries) {
  test::TempDir dir;
  test::write_bytes(dir / "p.csv",
                    "prompt,id,duplicates,train_image,extra\n"
                    "\"a cat, sitting\",c1,12,imgs/cat.png,x\n"
                    "\"multi\nline \"\"quoted\"\"\",c2,,,y\n"
                    "abs,c3,0,/abs/t.png,z\n");
  test::write_bytes(dir / "p.jsonl",
                    "{\"id\": \"c1\", \"prompt\": \"a cat, sitting\", \"duplicates\": 12, \"train_image\": \"imgs/cat.png\"}\n"
                    "\n"
                    "{\"id\": \"c2\", \"prompt\": \"multi\\nline \\\"quoted\\\"\"}\n"
                    "{\"id\": \"c3\", \"prompt\": \"abs\", \"duplicates\": 0, \"train_image\": \"/abs/t.png\"}\n");
  for (const char* name : {"p.csv", "p.jsonl"}) {
    const auto e = read_prompts(dir / name);
    ASSERT_EQ(e.size(), 3u) << name;
    EXPECT_EQ(e[0].id, "c1");
    EXPECT_EQ(e[0].prompt, "a cat, sitting");
    EXPECT_EQ(e[0].duplicates, 12);
    EXPECT_EQ(e[0].train_image, dir / "imgs/cat.png");
    EXPECT_EQ(e[1].prompt, "multi\nline \"quoted\"");
    EXPECT_EQ(e[1].duplicates, -1);
    EXPECT_TRUE(e[1].train_image.empty());
    EXPECT_EQ(e[2].train_image, std::filesystem::path("/abs/t.png"));
    EXPECT_EQ(e[2].duplicates, 0);
  }
  test::write_bytes(dir / "n.jsonl", "{\"id\": 17, \"prompt\": \"x\"}\n");
  EXPECT_EQ(read_prompts(dir / "n.jsonl").at(0).id, "17");
}

TEST(BlackboxPrompts, IdsDefaultToTheRowCaptionsAndLabelsAreRead) {
  test::TempDir dir;
  test::write_bytes(dir / "c.csv", "caption,memorized\na dog,1\na cat,0\n");
  test::write_bytes(dir / "c.jsonl", "{\"caption\": \"a dog\", \"memorized\": true}\n\n{\"caption\": \"a cat\", \"memorized\": 0}\n");
  for (const char* name : {"c.csv", "c.jsonl"}) {
    const auto e = read_prompts(dir / name);
    ASSERT_EQ(e.size(), 2u) << name;
    EXPECT_EQ(e[0].id, "0");  // the row among the prompts, as diffmem screen's index
    EXPECT_EQ(e[1].id, "1");
    EXPECT_EQ(e[0].prompt, "a dog");
    EXPECT_EQ(e[0].label, 1);
    EXPECT_EQ(e[1].label, 0);
    EXPECT_EQ(read_prompts(dir / name, "other")[0].label, -1);  // no such column: no labels
  }
  // A label on some rows only, or not 0/1, names the file and the row.
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
           {"some.jsonl", "{\"prompt\": \"a\", \"memorized\": 1}\n{\"prompt\": \"b\"}\n"},
           {"late.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\", \"memorized\": 1}\n"},
           {"two.jsonl", "{\"prompt\": \"a\", \"memorized\": 2}\n"},
           {"yes.csv", "prompt,memorized\na,yes\n"}}) {
    test::write_bytes(dir / name, text);
    const std::string msg = test::error_of([&] { read_prompts(dir / name); });
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_NE(msg.find("memorized"), std::string::npos) << msg;
  }
}

void expect_error_naming(const std::filesystem::path& p, const std::string& text) {
  test::write_bytes(p, text);
  SCOPED_TRACE("input: " + text);
  const std::string msg = test::error_of([&] { read_prompts(p); });
  EXPECT_NE(msg.find(p.filename().string()), std::string::npos) << msg;
}

TEST(BlackboxPrompts, BadFilesNameTheFile) {
  test::TempDir dir;
  expect_error_naming(dir / "nocol.csv", "id,text\n1,a\n");
  expect_error_naming(dir / "dup.csv", "id,prompt\n1,a\n1,b\n");
  expect_error_naming(dir / "emptyid.csv", "id,prompt\n,a\n");
  expect_error_naming(dir / "fields.csv", "id,prompt\n1,a,b\n");
  expect_error_naming(dir / "baddup.csv", "id,prompt,duplicates\n1,a,many\n");
  expect_error_naming(dir / "open.csv", "id,prompt\n1,\"a\n");
  expect_error_naming(dir / "empty.csv", "");
  expect_error_naming(dir / "header.csv", "id,prompt\n");
  expect_error_naming(dir / "bad.jsonl", "{\"id\": \"1\", \"prompt\": \"a\"}\n{\"id\": \"2\", \n");
  expect_error_naming(dir / "noprompt.jsonl", "{\"id\": \"1\"}\n");
  expect_error_naming(dir / "neg.jsonl", "{\"id\": \"1\", \"prompt\": \"a\", \"duplicates\": -2}\n");
  EXPECT_THROW(read_prompts(dir / "missing.csv"), Error);
}

TEST(BlackboxPrompts, GroupFolderNames) {
  EXPECT_EQ(group_folder_name("prompt-0001_a.b"), "prompt-0001_a.b");
  std::set<std::string> names;
  for (const std::string& id : std::vector<std::string>{"a/b", "a_b", "a b", "..", ".hidden", "x;rm -rf", "ünï", std::string(150, 'z')}) {
    const std::string n = group_folder_name(id);
    EXPECT_TRUE(names.insert(n).second) << id << " -> " << n;
    EXPECT_EQ(n.find('/'), std::string::npos);
    EXPECT_NE(n[0], '.');
    EXPECT_LE(n.size(), 100u);
  }
}

}  // namespace
}  // namespace diffmem::attack
