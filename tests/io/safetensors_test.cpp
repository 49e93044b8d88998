#include "diffmem/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::io {
namespace {

using test::TempDir;

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

// A safetensors file from a raw header string and data section.
std::string st_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// The error reading `p` raises ("" and a test failure when it reads fine).
std::string safetensors_error(const std::filesystem::path& p) {
  return test::error_of([&] { read_safetensors(p); });
}

HostArray pattern(DType d, std::vector<int64_t> shape, int seed) {
  HostArray a = HostArray::zeros(d, std::move(shape));
  for (size_t i = 0; i < a.bytes.size(); ++i)
    a.bytes[i] = d == DType::kBool ? (i + seed) % 2 : static_cast<uint8_t>(i * 13 + seed);
  return a;
}

TEST(Safetensors, RoundTripsAllDtypesAndMetadata) {
  TempDir dir;
  Safetensors f;
  f.metadata = {{"format", "pt"}, {"step", "1200"}};
  const DType all[] = {DType::kU8,  DType::kI8,   DType::kI16, DType::kI32, DType::kI64,
                       DType::kF16, DType::kBF16, DType::kF32, DType::kF64, DType::kBool};
  int seed = 1;
  for (DType d : all) f.tensors["t_" + dtype_name(d)] = pattern(d, {2, 3}, seed++);
  f.tensors["scalar"] = pattern(DType::kF32, {}, 7);
  f.tensors["empty"] = pattern(DType::kF32, {0, 4}, 0);
  write_safetensors(dir / "all.safetensors", f);

  Safetensors g = read_safetensors(dir / "all.safetensors");
  EXPECT_EQ(g.metadata, f.metadata);
  ASSERT_EQ(g.tensors.size(), f.tensors.size());
  for (const auto& [name, a] : f.tensors) {
    const HostArray& b = g.tensors.at(name);
    EXPECT_EQ(b.dtype, a.dtype) << name;
    EXPECT_EQ(b.shape, a.shape) << name;
    EXPECT_EQ(b.bytes, a.bytes) << name;
  }

  // Layout: header padded with spaces to a multiple of 8, tensors stored in name order.
  std::string bytes = test::read_bytes(dir / "all.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.find("\"__metadata__\""), 1u);
  size_t last = 0;
  for (const auto& [name, a] : f.tensors) {
    size_t at = header.find("\"" + name + "\"");
    ASSERT_NE(at, std::string::npos) << name;
    EXPECT_GT(at, last) << name;
    last = at;
  }
  size_t data_at = 8 + n;
  for (const auto& [name, a] : f.tensors) {
    EXPECT_EQ(bytes.compare(data_at, a.bytes.size(),
                            std::string(a.bytes.begin(), a.bytes.end())), 0) << name;
    data_at += a.bytes.size();
  }
  EXPECT_EQ(data_at, bytes.size());
}

TEST(Safetensors, NoMetadataWrittenWhenEmpty) {
  TempDir dir;
  Safetensors f;
  f.tensors["x"] = pattern(DType::kU8, {3}, 5);
  write_safetensors(dir / "x.safetensors", f);
  EXPECT_EQ(test::read_bytes(dir / "x.safetensors").find("__metadata__"), std::string::npos);
  Safetensors g = read_safetensors(dir / "x.safetensors");
  EXPECT_TRUE(g.metadata.empty());
  EXPECT_EQ(g.tensors.at("x").bytes, f.tensors["x"].bytes);
}

// Written by Python's safetensors (tests/reference/io/make_safetensors.py).
TEST(Safetensors, ReadsReferenceFileFromPythonPackage) {
  Safetensors f =
      read_safetensors(test::source_dir() + "/tests/reference/io/small.safetensors");
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "diffmem test"}}));
  ASSERT_EQ(f.tensors.size(), 7u);

  const HostArray& w = f.tensors.at("conv.weight");
  ASSERT_EQ(w.dtype, DType::kF32);
  ASSERT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(w.data<float>()[i], i + 0.5f);

  const HostArray& steps = f.tensors.at("steps");
  ASSERT_EQ(steps.dtype, DType::kI64);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(steps.data<int64_t>()[i], 2 * i - 2);

  const HostArray& half = f.tensors.at("half");
  ASSERT_EQ(half.dtype, DType::kF16);
  EXPECT_EQ(half.data<uint16_t>()[0], 0x3C00);  // 1.0
  EXPECT_EQ(half.data<uint16_t>()[1], 0xC000);  // -2.0
  EXPECT_EQ(half.data<uint16_t>()[2], 0x3400);  // 0.25

  const HostArray& bf = f.tensors.at("bf");
  ASSERT_EQ(bf.dtype, DType::kBF16);
  EXPECT_EQ(bf.data<uint16_t>()[0], 0x3FC0);  // 1.5
  EXPECT_EQ(bf.data<uint16_t>()[1], 0xC040);  // -3.0

  const HostArray& pix = f.tensors.at("pix");
  ASSERT_EQ(pix.dtype, DType::kU8);
  ASSERT_EQ(pix.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(pix.bytes, (std::vector<uint8_t>{0, 1, 254, 255}));

  const HostArray& mask = f.tensors.at("mask");
  ASSERT_EQ(mask.dtype, DType::kBool);
  EXPECT_EQ(mask.bytes, (std::vector<uint8_t>{1, 0, 1}));

  const HostArray& scale = f.tensors.at("scale");
  ASSERT_EQ(scale.dtype, DType::kF64);
  EXPECT_TRUE(scale.shape.empty());
  EXPECT_EQ(scale.data<double>()[0], 0.125);
}

TEST(Safetensors, CorruptFilesFailNamingTheFile) {
  TempDir dir;
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Case {
    const char* name;
    std::string bytes;
    const char* needle;
  };
  std::string valid = st_bytes("{" + ok_entry + "}", std::string(8, 'x'));
  std::string huge_len = valid;
  huge_len.replace(0, 8, le64(valid.size()));
  const Case cases[] = {
      {"len_past_end", huge_len, "within the file"},
      {"len_over_100mb", le64(200'000'000) + valid.substr(8), "100 MB"},
      {"short_len", std::string("\x10\x00\x00", 3), "header length"},
      {"gap",
       st_bytes("{" + ok_entry + R"(,"b":{"dtype":"U8","shape":[4],"data_offsets":[12,16]}})",
                std::string(16, 'x')),
       "gap"},
      {"overlap",
       st_bytes("{" + ok_entry + R"(,"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                std::string(8, 'x')),
       "overlap"},
      {"wrong_length", st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                std::string(8, 'x')),
       "12 bytes"},
      {"unknown_dtype", st_bytes(R"({"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})",
                                 std::string(8, 'x')),
       "F7"},
      {"negative_shape", st_bytes(R"({"a":{"dtype":"U8","shape":[-2],"data_offsets":[0,2]}})",
                                  std::string(2, 'x')),
       "non-negative"},
      {"missing_field", st_bytes(R"({"a":{"dtype":"U8","shape":[2]}})", std::string(2, 'x')),
       "data_offsets"},
      {"bad_json", st_bytes(R"({"a":{"dtype":"U8",)", ""), "JSON"},
      // Found by scripts/fuzz.sh: nlohmann throws out_of_range, not parse_error, for it.
      {"number_overflow", st_bytes(R"({"a":{"dtype":"U8","shape":[5e99999999],"data_offsets":[0,2]}})", std::string(2, 'x')),
       "numbers a double holds"},
      {"not_object", st_bytes("[1, 2]", ""), "object"},
      {"bad_metadata", st_bytes(R"({"__metadata__":{"step":3}})", ""), "strings"},
      {"truncated", valid.substr(0, valid.size() - 3), "truncated"},
      {"trailing", valid + "zz", "trailing"},
  };
  for (const Case& c : cases) {
    auto p = dir / (std::string(c.name) + ".safetensors");
    test::write_bytes(p, c.bytes);
    std::string msg = safetensors_error(p);
    EXPECT_NE(msg.find(p.string()), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.needle), std::string::npos) << c.name << ": " << msg;
  }
  test::write_bytes(dir / "valid.safetensors", valid);
  EXPECT_EQ(read_safetensors(dir / "valid.safetensors").tensors.at("a").bytes.size(), 8u);
}

TEST(Safetensors, WriterRejectsInconsistentTensors) {
  TempDir dir;
  Safetensors f;
  f.tensors["a"] = HostArray::zeros(DType::kF32, {2});
  f.tensors["a"].bytes.push_back(0);
  EXPECT_THROW(write_safetensors(dir / "bad.safetensors", f), Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace diffmem::io
