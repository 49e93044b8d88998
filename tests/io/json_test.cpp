#include "diffmem/io/json.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace diffmem::io {
namespace {

TEST(Json, OverlayMergesObjectsAndKeepsNullAsAValue) {
  Json base = {{"a", 1}, {"b", {{"x", 1}, {"y", 2}}}, {"c", {1, 2}}, {"t", 0.5}};
  overlay_json(base, {{"b", {{"y", 3}, {"z", 4}}}, {"c", {9}}, {"t", nullptr}, {"new", "v"}});
  EXPECT_EQ(base, (Json{{"a", 1},
                        {"b", {{"x", 1}, {"y", 3}, {"z", 4}}},
                        {"c", {9}},
                        {"t", nullptr},
                        {"new", "v"}}));
}

TEST(Json, ReadsPythonsNonFiniteTokensAsStringsAndStillRefusesBadJson) {
  test::TempDir tmp;
  const auto path = tmp / "scheduler_config.json";
  // As diffusers' save_config writes a DPMSolverMultistepScheduler config; the token inside a
  // string stays as it is.
  test::write_bytes(path, R"({"lambda_min_clipped": -Infinity, "a": [Infinity, NaN], "s": "x -Infinity \" NaN"})");
  const Json j = read_json(path);
  EXPECT_EQ(j.at("lambda_min_clipped"), "-Infinity");
  EXPECT_EQ(j.at("a"), (Json{"Infinity", "NaN"}));
  EXPECT_EQ(j.at("s"), "x -Infinity \" NaN");
  test::write_bytes(path, R"({"a": -Infinity,})");
  const std::string e = test::error_of([&] { read_json(path); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("parse error"), std::string::npos) << e;
}

// 1e400 is valid JSON that no double holds: nlohmann throws out_of_range, not parse_error, and
// the message used to reach the user without the file.
TEST(Json, ANumberPastDoublesRangeNamesTheFile) {
  test::TempDir tmp;
  const auto path = tmp / "train.json";
  test::write_bytes(path, R"({"steps": 1e400})");
  const std::string e = test::error_of([&] { read_json(path); });
  EXPECT_EQ(e.rfind(path.string() + ": expected valid JSON with numbers a double holds", 0), 0u) << e;
  EXPECT_NE(e.find("number overflow"), std::string::npos) << e;
}

// Found by scripts/fuzz.sh: invalid JSON that also holds an overflowing number threw from the
// second parse (the one that reads NaN/Infinity tokens), past the handler.
TEST(Json, InvalidJsonWithAnOverflowingNumberNamesTheFile) {
  test::TempDir tmp;
  const auto path = tmp / "vocab.json";
  test::write_bytes(path, R"({"a": NaN, "b": 88888884.88E890)");
  const std::string e = test::error_of([&] { read_json(path); });
  EXPECT_EQ(e.rfind(path.string() + ": expected valid JSON", 0), 0u) << e;
}

}  // namespace
}  // namespace diffmem::io
