#include "diffmem/io/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::io {
namespace {

using test::TempDir;

// An .npy file built by hand: v1.0 preamble, the given dict padded to 64 bytes, then data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  size_t pre = major == 1 ? 10 : 12;
  std::string h = dict;
  while ((pre + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < pre - 8; ++i) out += static_cast<char>((h.size() >> (8 * i)) & 0xFF);
  return out + h + data;
}

// The error reading `p` raises ("" and a test failure when it reads fine).
std::string npy_error(const std::filesystem::path& p) {
  return test::error_of([&] { read_npy(p); });
}

// Runs a Python script with the scratch directory as sys.argv[1]; a failed assert fails the test.
std::string run_py(const std::string& py, const TempDir& dir, const std::string& script) {
  test::write_bytes(dir / "script.py", "import sys\nd = sys.argv[1]\n" + script);
  auto r = test::run_shell(py + " " + test::shell_quote((dir / "script.py").string()) + " " +
                           test::shell_quote(dir.path().string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

TEST(Npy, WritesV1HeaderAlignedTo64WithNewline) {
  TempDir dir;
  HostArray a = HostArray::zeros(DType::kF32, {3, 4});
  write_npy(dir / "a.npy", a);
  std::string bytes = test::read_bytes(dir / "a.npy");
  ASSERT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  NpyHeader h = read_npy_header(dir / "a.npy");
  EXPECT_EQ(h.data_offset % 64, 0u);
  EXPECT_EQ(bytes[h.data_offset - 1], '\n');
  EXPECT_EQ(bytes.size(), h.data_offset + 48);
  EXPECT_NE(bytes.find("'shape': (3, 4), }"), std::string::npos);
  EXPECT_EQ(h.dtype, DType::kF32);
  EXPECT_EQ(h.shape, (std::vector<int64_t>{3, 4}));
}

TEST(Npy, ForcedV2HeaderRoundTrips) {
  TempDir dir;
  HostArray a = HostArray::zeros(DType::kI16, {5});
  for (int i = 0; i < 5; ++i) a.data<int16_t>()[i] = static_cast<int16_t>(-300 * i);
  write_npy(dir / "v2.npy", a, 2);
  std::string bytes = test::read_bytes(dir / "v2.npy");
  EXPECT_EQ(bytes[6], '\x02');
  NpyHeader h = read_npy_header(dir / "v2.npy");
  EXPECT_EQ(h.data_offset % 64, 0u);
  HostArray b = read_npy(dir / "v2.npy");
  EXPECT_EQ(b.shape, a.shape);
  EXPECT_EQ(b.bytes, a.bytes);

  // numpy caps ndim at 32/64, so only a synthetic shape makes the header outgrow v1.0's u16 length.
  HostArray tall = HostArray::zeros(DType::kU8, std::vector<int64_t>(25000, 1));
  tall.bytes[0] = 42;
  write_npy(dir / "auto_v2.npy", tall);
  EXPECT_EQ(test::read_bytes(dir / "auto_v2.npy")[6], '\x02');
  HostArray back = read_npy(dir / "auto_v2.npy");
  EXPECT_EQ(back.shape.size(), 25000u);
  EXPECT_EQ(back.bytes, tall.bytes);
  EXPECT_EQ(read_npy_header(dir / "auto_v2.npy").data_offset % 64, 0u);
}

TEST(Npy, NumpyLoadsWhatWeWrite) {
  std::string py = test::numpy_python();
  if (py.empty()) GTEST_SKIP() << "no python with numpy";
  TempDir dir;
  HostArray img = HostArray::zeros(DType::kU8, {2, 4, 5, 3});
  for (int64_t i = 0; i < img.numel(); ++i) img.data<uint8_t>()[i] = static_cast<uint8_t>((i * 7 + 3) % 256);
  write_npy(dir / "img.npy", img);
  HostArray ids = HostArray::zeros(DType::kI64, {6});
  for (int64_t i = 0; i < 6; ++i) ids.data<int64_t>()[i] = i * 1000000000007LL - 3;
  write_npy(dir / "ids.npy", ids);
  HostArray f = HostArray::zeros(DType::kF32, {3, 4});
  for (int64_t i = 0; i < 12; ++i) f.data<float>()[i] = static_cast<float>(i) * 0.25f - 1.0f;
  write_npy(dir / "f.npy", f);
  write_npy(dir / "f_v2.npy", f, 2);
  HostArray scalar = HostArray::zeros(DType::kF64, {});
  scalar.data<double>()[0] = -0.1;
  write_npy(dir / "s.npy", scalar);
  HostArray flags = HostArray::zeros(DType::kBool, {4});
  flags.data<uint8_t>()[1] = flags.data<uint8_t>()[2] = 1;
  write_npy(dir / "b.npy", flags);

  std::string out = run_py(py, dir,
      "import numpy as np\n"
      "a = np.load(d + '/img.npy')\n"
      "assert a.dtype == np.uint8 and a.shape == (2, 4, 5, 3), (a.dtype, a.shape)\n"
      "assert (a.ravel() == (np.arange(a.size) * 7 + 3) % 256).all()\n"
      "i = np.load(d + '/ids.npy')\n"
      "assert i.dtype == np.int64 and i.shape == (6,)\n"
      "assert (i == np.arange(6, dtype=np.int64) * 1000000000007 - 3).all(), i\n"
      "for name in ('f.npy', 'f_v2.npy'):\n"
      "    f = np.load(d + '/' + name)\n"
      "    assert f.dtype == np.float32 and f.shape == (3, 4)\n"
      "    assert (f.ravel() == np.arange(12, dtype=np.float32) * 0.25 - 1).all()\n"
      "with open(d + '/f_v2.npy', 'rb') as fh:\n"
      "    assert np.lib.format.read_magic(fh) == (2, 0)\n"
      "s = np.load(d + '/s.npy')\n"
      "assert s.shape == () and s.dtype == np.float64 and s == -0.1\n"
      "b = np.load(d + '/b.npy')\n"
      "assert b.dtype == np.bool_ and b.tolist() == [False, True, True, False]\n"
      "print('ok')\n");
  EXPECT_EQ(out, "ok\n");
}

TEST(Npy, ReadsWhatNumpyWrote) {
  std::string py = test::numpy_python();
  if (py.empty()) GTEST_SKIP() << "no python with numpy";
  TempDir dir;
  run_py(py, dir,
         "import numpy as np\n"
         "np.save(d + '/u8.npy', (np.arange(24).reshape(2, 3, 4) * 11 % 256).astype(np.uint8))\n"
         "np.save(d + '/i64.npy', np.array([-5, 0, 2**40, -2**62], dtype=np.int64))\n"
         "np.save(d + '/f32.npy', np.float32(2.5))\n"
         "np.save(d + '/bool.npy', np.array([[True, False], [False, True]]))\n"
         "np.save(d + '/f16.npy', np.array([0.5, -1.5, 65504, 2**-14], dtype=np.float16))\n"
         "np.save(d + '/i8.npy', np.array([-128, 127], dtype=np.int8))\n"
         "np.save(d + '/f64.npy', np.array([1e300, -0.0], dtype=np.float64))\n"
         "np.save(d + '/empty.npy', np.zeros((0, 3), dtype=np.int32))\n"
         "with open(d + '/v2.npy', 'wb') as f:\n"
         "    np.lib.format.write_array(f, np.arange(5, dtype=np.int32) - 2, version=(2, 0))\n");

  HostArray u8 = read_npy(dir / "u8.npy");
  ASSERT_EQ(u8.dtype, DType::kU8);
  ASSERT_EQ(u8.shape, (std::vector<int64_t>{2, 3, 4}));
  for (int i = 0; i < 24; ++i) EXPECT_EQ(u8.data<uint8_t>()[i], i * 11 % 256);

  HostArray i64 = read_npy(dir / "i64.npy");
  ASSERT_EQ(i64.dtype, DType::kI64);
  ASSERT_EQ(i64.shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(i64.data<int64_t>()[0], -5);
  EXPECT_EQ(i64.data<int64_t>()[2], int64_t{1} << 40);
  EXPECT_EQ(i64.data<int64_t>()[3], -(int64_t{1} << 62));

  HostArray f32 = read_npy(dir / "f32.npy");
  ASSERT_EQ(f32.dtype, DType::kF32);
  EXPECT_TRUE(f32.shape.empty());
  EXPECT_EQ(f32.data<float>()[0], 2.5f);

  HostArray b = read_npy(dir / "bool.npy");
  ASSERT_EQ(b.dtype, DType::kBool);
  ASSERT_EQ(b.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(b.bytes, (std::vector<uint8_t>{1, 0, 0, 1}));

  HostArray h = read_npy(dir / "f16.npy");
  ASSERT_EQ(h.dtype, DType::kF16);
  ASSERT_EQ(h.shape, (std::vector<int64_t>{4}));
  const uint16_t want16[] = {0x3800, 0xBE00, 0x7BFF, 0x0400};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h.data<uint16_t>()[i], want16[i]) << i;

  HostArray i8 = read_npy(dir / "i8.npy");
  ASSERT_EQ(i8.dtype, DType::kI8);
  EXPECT_EQ(i8.data<int8_t>()[0], -128);
  EXPECT_EQ(i8.data<int8_t>()[1], 127);

  HostArray f64 = read_npy(dir / "f64.npy");
  ASSERT_EQ(f64.dtype, DType::kF64);
  EXPECT_EQ(f64.data<double>()[0], 1e300);
  EXPECT_TRUE(std::signbit(f64.data<double>()[1]));

  HostArray empty = read_npy(dir / "empty.npy");
  EXPECT_EQ(empty.dtype, DType::kI32);
  EXPECT_EQ(empty.shape, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(empty.bytes.empty());

  HostArray v2 = read_npy(dir / "v2.npy");
  EXPECT_EQ(test::read_bytes(dir / "v2.npy")[6], '\x02');
  ASSERT_EQ(v2.dtype, DType::kI32);
  ASSERT_EQ(v2.shape, (std::vector<int64_t>{5}));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(v2.data<int32_t>()[i], i - 2);
}

TEST(Npy, ParsesAnyKeyOrderAndSpacing) {
  TempDir dir;
  std::string data(12, '\0');
  for (int i = 0; i < 6; ++i) data[2 * i] = static_cast<char>(i + 1);
  test::write_bytes(dir / "odd.npy",
                    npy_bytes("{ \"shape\" : ( 2 , 3 ) ,'fortran_order':False,  'descr':'<i2'}", data));
  HostArray a = read_npy(dir / "odd.npy");
  EXPECT_EQ(a.dtype, DType::kI16);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a.data<int16_t>()[i], i + 1);

  test::write_bytes(dir / "one.npy",
                    npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", "abcd"));
  EXPECT_EQ(read_npy(dir / "one.npy").shape, (std::vector<int64_t>{4}));
  test::write_bytes(dir / "zero.npy",
                    npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                              std::string(8, '\0')));
  EXPECT_TRUE(read_npy(dir / "zero.npy").shape.empty());
}

TEST(Npy, RejectsUnsupportedHeaders) {
  TempDir dir;
  struct Case {
    const char* name;
    std::string dict;
    std::string data;
    const char* needle;
  };
  const Case cases[] = {
      {"be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'),
       "big-endian"},
      {"fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }",
       std::string(4, '\0'), "fortran_order"},
      {"object.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
       std::string(8, '\0'), "objects"},
      {"struct.npy", "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }",
       std::string(4, '\0'), "structured"},
      {"u4.npy", "{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'),
       "'<u4'"},
      {"nokey.npy", "{'descr': '<f4', 'shape': (1,), }", std::string(4, '\0'), "missing"},
      {"negative.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "",
       "non-negative"},
      {"garbage.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk",
       std::string(4, '\0'), "junk"},
  };
  for (const Case& c : cases) {
    test::write_bytes(dir / c.name, npy_bytes(c.dict, c.data));
    std::string msg = npy_error(dir / c.name);
    EXPECT_NE(msg.find((dir / c.name).string()), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.needle), std::string::npos) << c.name << ": " << msg;
  }
}

TEST(Npy, TruncatedOrLyingFilesNameFileAndSizes) {
  TempDir dir;
  HostArray a = HostArray::zeros(DType::kF32, {10, 10});
  write_npy(dir / "a.npy", a);
  std::string good = test::read_bytes(dir / "a.npy");
  ASSERT_EQ(good.size(), 128u + 400u);

  test::write_bytes(dir / "short.npy", good.substr(0, good.size() - 5));
  std::string msg = npy_error(dir / "short.npy");
  EXPECT_NE(msg.find((dir / "short.npy").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("528"), std::string::npos) << msg;  // expected bytes
  EXPECT_NE(msg.find("523"), std::string::npos) << msg;  // found bytes
  EXPECT_THROW(read_npy_header(dir / "short.npy"), Error);

  test::write_bytes(dir / "long.npy", good + "x");
  EXPECT_NE(npy_error(dir / "long.npy").find("529"), std::string::npos);

  test::write_bytes(dir / "header_cut.npy", good.substr(0, 40));
  msg = npy_error(dir / "header_cut.npy");
  EXPECT_NE(msg.find("header_cut.npy"), std::string::npos) << msg;

  test::write_bytes(dir / "tiny.npy", "\x93NU");
  EXPECT_NE(npy_error(dir / "tiny.npy").find("tiny.npy"), std::string::npos);

  test::write_bytes(dir / "magic.npy", "PK\x03\x04" + good.substr(4));
  msg = npy_error(dir / "magic.npy");
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;

  msg = npy_error(dir / "missing.npy");
  EXPECT_NE(msg.find("missing.npy"), std::string::npos) << msg;
}

TEST(Npy, ReadsRowsWithoutTheRest) {
  TempDir tmp;
  HostArray a = HostArray::zeros(DType::kI64, {5, 2, 3});
  for (int64_t i = 0; i < 30; ++i) reinterpret_cast<int64_t*>(a.bytes.data())[i] = 100 + i;
  write_npy(tmp / "a.npy", a);
  const HostArray mid = read_npy_rows(tmp / "a.npy", 1, 3);
  EXPECT_EQ(mid.shape, (std::vector<int64_t>{3, 2, 3}));
  EXPECT_EQ(mid.data<int64_t>()[0], 106);
  EXPECT_EQ(mid.data<int64_t>()[17], 123);
  EXPECT_EQ(read_npy_rows(tmp / "a.npy", 5, 0).shape, (std::vector<int64_t>{0, 2, 3}));
  const HostArray picked = read_npy_rows(tmp / "a.npy", std::vector<int64_t>{4, 0, 4});
  EXPECT_EQ(picked.shape, (std::vector<int64_t>{3, 2, 3}));
  EXPECT_EQ(picked.data<int64_t>()[0], 124);
  EXPECT_EQ(picked.data<int64_t>()[6], 100);
  EXPECT_EQ(picked.data<int64_t>()[12], 124);
  const std::string past = test::error_of([&] { read_npy_rows(tmp / "a.npy", 3, 3); });
  EXPECT_NE(past.find("a.npy"), std::string::npos) << past;
  EXPECT_NE(past.find("past the end"), std::string::npos) << past;
  const std::string bad_row = test::error_of([&] { read_npy_rows(tmp / "a.npy", std::vector<int64_t>{1, 5}); });
  EXPECT_NE(bad_row.find("a row below 5"), std::string::npos) << bad_row;
  // A file cut short after its header: named, not read past.
  std::string bytes = test::read_bytes(tmp / "a.npy");
  test::write_bytes(tmp / "cut.npy", bytes.substr(0, bytes.size() - 8));
  EXPECT_NE(test::error_of([&] { read_npy_rows(tmp / "cut.npy", 4, 1); }).find("cut.npy"), std::string::npos);
}

TEST(Npy, WriterRejectsInconsistentArrays) {
  TempDir dir;
  HostArray a = HostArray::zeros(DType::kF32, {2, 2});
  a.bytes.pop_back();
  EXPECT_THROW(write_npy(dir / "bad.npy", a), Error);
  EXPECT_THROW(write_npy(dir / "bf.npy", HostArray::zeros(DType::kBF16, {2})), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.npy"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace diffmem::io
