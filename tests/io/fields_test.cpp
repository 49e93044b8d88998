// One field list per options struct: JSON out, the strict reader, key paths.
#include "diffmem/io/fields.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace diffmem::fields_test {

struct Inner {
  int64_t k = 50;
  bool recheck = true;
};
DIFFMEM_FIELDS(Inner, k, recheck)

struct Outer {
  Outer() { inner.k = 7; }  // an enclosing struct's own default for a nested field
  double delta = 0.15;
  std::optional<double> threshold;
  uint64_t seed = 0;
  std::string name = "x";
  std::vector<int64_t> counts = {1, 2};
  Inner inner;
};
DIFFMEM_VISIT_FIELDS(Outer) {
  v("delta", o.delta);
  v("threshold", o.threshold);
  v("seed", o.seed);
  v("name", o.name);
  v("counts", o.counts);
  v("inner", o.inner);
  v.note("distance", "normalized l2");
}

struct Checked {
  int64_t n = 1;
};
DIFFMEM_FIELDS(Checked, n)
void validate(const Checked& c, const std::string& where) {
  check(c.n >= 1, where + ": n", "at least 1", std::to_string(c.n));
}

using io::Json;

TEST(Fields, WritesEveryFieldNotesAndNullForAnEmptyOptional) {
  const Json j = io::fields_json(Outer{});
  EXPECT_EQ(j, Json::parse(R"({"delta":0.15,"threshold":null,"seed":0,"name":"x","counts":[1,2],
                              "inner":{"k":7,"recheck":true},"distance":"normalized l2"})"));
  const Json same = Outer{};  // nlohmann's conversion goes through the same list
  EXPECT_EQ(same, j);
}

TEST(Fields, ReadsBackWhatItWroteAndKeepsDefaultsOfMissingKeys) {
  Outer o;
  o.delta = 0.3;
  o.threshold = 2.5;
  o.inner.recheck = false;
  const Outer r = io::read_options<Outer>(io::fields_json(o), "x.json");
  EXPECT_EQ(io::fields_json(r), io::fields_json(o));
  const Outer p = io::read_options<Outer>(Json::parse(R"({"inner":{"recheck":false}})"), "x.json");
  EXPECT_EQ(p.inner.k, 7) << "a nested struct is read in place: the enclosing default holds";
  EXPECT_FALSE(p.inner.recheck);
  EXPECT_DOUBLE_EQ(p.delta, 0.15);
  const Outer n = io::read_options<Outer>(Json::parse(R"({"delta":null,"threshold":null})"), "x.json");
  EXPECT_DOUBLE_EQ(n.delta, 0.15) << "null keeps the default";
  EXPECT_FALSE(n.threshold.has_value());
}

TEST(Fields, UnknownKeysAreErrorsNamingTheKeyAndTheFile) {
  const std::string top = test::error_of([] { io::read_options<Outer>(Json{{"delt", 1}}, "cfg.json"); });
  EXPECT_NE(top.find("cfg.json"), std::string::npos) << top;
  EXPECT_NE(top.find("'delt'"), std::string::npos) << top;
  const std::string nested =
      test::error_of([] { io::read_options<Outer>(Json::parse(R"({"inner":{"kk":1}})"), "cfg.json"); });
  EXPECT_NE(nested.find("'inner.kk'"), std::string::npos) << nested;
  EXPECT_EQ(nested.find('\n'), std::string::npos) << "one line";
  // A note is a known key (it was written out), and reading it back changes nothing.
  EXPECT_NO_THROW(io::read_options<Outer>(Json{{"distance", "anything"}}, "cfg.json"));
}

TEST(Fields, ValuesOfTheWrongTypeAreErrorsNamingTheKey) {
  const auto err = [](const char* text) {
    return test::error_of([&] { io::read_options<Outer>(Json::parse(text), "cfg.json"); });
  };
  EXPECT_NE(err(R"({"inner":{"k":1.5}})").find("cfg.json: inner.k: expected an integer"), std::string::npos)
      << err(R"({"inner":{"k":1.5}})");
  EXPECT_NE(err(R"({"delta":"8"})").find("delta: expected a number"), std::string::npos);
  EXPECT_NE(err(R"({"seed":-1})").find("seed: expected a non-negative integer"), std::string::npos);
  EXPECT_NE(err(R"({"name":3})").find("name: expected a string"), std::string::npos);
  EXPECT_NE(err(R"({"counts":[1,"a"]})").find("counts[1]: expected an integer"), std::string::npos);
  EXPECT_NE(err(R"({"inner":{"recheck":1}})").find("inner.recheck: expected true or false"),
            std::string::npos);
  EXPECT_NE(err(R"({"inner":3})").find("inner: expected an object"), std::string::npos);
  EXPECT_NE(err(R"([1])").find("cfg.json: expected an object"), std::string::npos);
  EXPECT_EQ(io::read_options<Outer>(Json::parse(R"({"seed":18446744073709551615})"), "c").seed,
            UINT64_MAX);
}

TEST(Fields, ReadOptionsValidatesWhenTheStructHasAValidator) {
  const std::string e = test::error_of([] { io::read_options<Checked>(Json{{"n", 0}}, "c.json"); });
  EXPECT_NE(e.find("c.json: n: expected at least 1"), std::string::npos) << e;
  EXPECT_EQ(io::read_options<Checked>(Json{{"n", 3}}, "c.json").n, 3);
}

TEST(Fields, KeyPathsFlattenNestedStructs) {
  EXPECT_EQ(io::field_keys<Outer>(),
            (std::vector<std::string>{"delta", "threshold", "seed", "name", "counts", "inner.k",
                                      "inner.recheck"}));
}

}  // namespace diffmem::fields_test

namespace diffmem::fields_test {

TEST(Fields, ReadKnownOptionsIgnoresOtherKeysButChecksKnownOnes) {
  const Outer o = io::read_known_options<Outer>(
      io::Json::parse(R"({"delta":0.5,"_class_name":"X","inner":{"k":3,"extra":1}})"), "config.json");
  EXPECT_DOUBLE_EQ(o.delta, 0.5);
  EXPECT_EQ(o.inner.k, 3);
  const std::string e = test::error_of(
      [] { io::read_known_options<Outer>(io::Json::parse(R"({"inner":{"k":"3"}})"), "config.json"); });
  EXPECT_NE(e.find("config.json: inner.k: expected an integer"), std::string::npos) << e;
}

}  // namespace diffmem::fields_test
