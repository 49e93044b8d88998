#include "diffmem/data/dataset.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <sys/resource.h>

#include "diffmem/core/error.h"
#include "diffmem/io/npy.h"
#include "test_support.h"

namespace diffmem::data {
namespace {
namespace fs = std::filesystem;

// N images of H×W×C whose every byte is 10*i + (position % 7), so each image is recognizable.
Dataset make_dataset(int64_t n, int64_t h = 4, int64_t w = 3, int64_t c = 1) {
  Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, h, w, c});
  const int64_t per = h * w * c;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < per; ++k) ds.images.bytes[i * per + k] = uint8_t(10 * i + k % 7);
  for (int64_t i = 0; i < n; ++i) {
    ds.labels.push_back(i % 3 == 2 ? -1 : i % 3);
    ds.ids.push_back(1000 + 7 * i);
  }
  ds.manifest = {{"source", "synthetic"}, {"count", n}};
  return ds;
}

io::HostArray i64(std::vector<int64_t> v) {
  io::HostArray a = io::HostArray::zeros(io::DType::kI64, {int64_t(v.size())});
  std::memcpy(a.bytes.data(), v.data(), v.size() * 8);
  return a;
}

// Expects a diffmem::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  const std::string msg = test::error_of(f);
  for (const auto& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "message '" << msg << "' lacks '" << p << "'";
}

TEST(Dataset, RoundTripKeepsEverything) {
  test::TempDir tmp;
  Dataset ds = make_dataset(5, 4, 3, 3);
  ds.members = std::vector<bool>{true, false, false, true, true};
  save_dataset(tmp / "d", ds);
  for (const char* f : {"images.npy", "labels.npy", "ids.npy", "members.npy", "manifest.json"})
    EXPECT_TRUE(fs::exists(tmp / "d" / f)) << f;

  Dataset back = load_dataset(tmp / "d");
  EXPECT_EQ(back.images.shape, (std::vector<int64_t>{5, 4, 3, 3}));
  EXPECT_EQ(back.images.bytes, ds.images.bytes);
  EXPECT_EQ(back.labels, ds.labels);
  EXPECT_EQ(back.ids, ds.ids);
  EXPECT_EQ(back.manifest, ds.manifest);
  ASSERT_TRUE(back.members.has_value());
  EXPECT_EQ(*back.members, *ds.members);
  EXPECT_EQ(back.size(), 5);
  EXPECT_EQ(back.image_bytes(), 36);
  EXPECT_EQ(back.image(3)[0], 30);
  EXPECT_EQ(back.image(3)[5], 35);
  EXPECT_THROW(back.image(5), Error);
  EXPECT_THROW(back.image(-1), Error);
}

TEST(Dataset, NumpyReadsTheFilesWithTheirDtypes) {
  const std::string py = test::numpy_python();
  if (py.empty()) GTEST_SKIP() << "no python with numpy";
  test::TempDir tmp;
  Dataset ds = make_dataset(4);
  ds.members = std::vector<bool>{false, true, true, false};
  save_dataset(tmp.path(), ds);
  const std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "im = np.load(d + '/images.npy'); lb = np.load(d + '/labels.npy')\n"
      "ids = np.load(d + '/ids.npy'); m = np.load(d + '/members.npy')\n"
      "assert im.dtype == np.uint8 and im.shape == (4, 4, 3, 1), (im.dtype, im.shape)\n"
      "assert im[2, 1, 2, 0] == 20 + 5 % 7, im[2]\n"
      "assert lb.dtype == np.int64 and list(lb) == [0, 1, -1, 0], lb\n"
      "assert ids.dtype == np.int64 and list(ids) == [1000, 1007, 1014, 1021], ids\n"
      "assert m.dtype == np.bool_ and list(m) == [False, True, True, False], m\n";
  test::write_bytes(tmp / "check.py", script);
  auto r = test::run_shell(py + " " + test::shell_quote((tmp / "check.py").string()) + " " +
                           test::shell_quote(tmp.path().string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(Dataset, SavingWithoutMembersRemovesAStaleMask) {
  test::TempDir tmp;
  Dataset ds = make_dataset(3);
  ds.members = std::vector<bool>{true, false, true};
  save_dataset(tmp.path(), ds);
  ds.members.reset();
  save_dataset(tmp.path(), ds);
  EXPECT_FALSE(fs::exists(tmp / "members.npy"));
  EXPECT_FALSE(load_dataset(tmp.path()).members.has_value());
}

// A full disk while a new data set replaces an old one (`data subset --out EXISTING`): the write
// fails, and the old data set is still whole, manifest included; no staging folder is left.
TEST(Dataset, AFailedSaveOverAnOldDataSetLeavesTheOldOneWhole) {
  test::TempDir dir;
  const fs::path d = dir / "d";
  const Dataset old = make_dataset(3);
  save_dataset(d, old);
  const std::string old_manifest = test::read_bytes(d / "manifest.json");
  const std::string old_images = test::read_bytes(d / "images.npy");
  // RLIMIT_FSIZE stands in for the disk: a file past 16 KiB fails with EFBIG (SIGXFSZ ignored).
  struct rlimit before {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &before), 0);
  auto* const old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = before;
  small.rlim_cur = 16 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string e = test::error_of([&] { save_dataset(d, make_dataset(100, 16, 16, 3)); });
  setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(e, "");
  EXPECT_EQ(test::read_bytes(d / "manifest.json"), old_manifest);
  EXPECT_EQ(test::read_bytes(d / "images.npy"), old_images);
  const Dataset back = load_dataset(d);
  EXPECT_EQ(back.ids, old.ids);
  for (const auto& entry : fs::directory_iterator(d))
    EXPECT_EQ(entry.path().filename().string().find(".staging"), std::string::npos) << entry.path();
  // With the space back, the same save goes through.
  save_dataset(d, make_dataset(100, 16, 16, 3));
  EXPECT_EQ(load_dataset(d).size(), 100);
}

TEST(Dataset, MissingFilesAreNamed) {
  test::TempDir tmp;
  expect_error([&] { load_dataset(tmp / "nope"); }, {"nope", "dataset directory"});
  save_dataset(tmp.path(), make_dataset(3));
  fs::remove(tmp / "labels.npy");
  expect_error([&] { load_dataset(tmp.path()); }, {"labels.npy", "a file"});
  save_dataset(tmp.path(), make_dataset(3));
  fs::remove(tmp / "manifest.json");
  expect_error([&] { load_dataset(tmp.path()); }, {"manifest.json"});
}

TEST(Dataset, InfoHasShapeIdsAndManifestWithoutTheImages) {
  test::TempDir tmp;
  save_dataset(tmp.path(), make_dataset(6, 4, 3, 3));
  const DatasetInfo info = load_dataset_info(tmp.path());
  EXPECT_EQ(info.shape, (std::vector<int64_t>{6, 4, 3, 3}));
  EXPECT_EQ(info.ids, make_dataset(6).ids);
  EXPECT_EQ(info.manifest, make_dataset(6).manifest);
  EXPECT_EQ(info.images, tmp / "images.npy");
  // Checked as load_dataset checks: ids of the wrong length, a missing manifest, float images.
  io::write_npy(tmp / "ids.npy", i64({0, 1, 2}));
  expect_error([&] { load_dataset_info(tmp.path()); }, {"ids.npy", "(6,)", "(3)"});
  fs::remove(tmp / "manifest.json");
  expect_error([&] { load_dataset_info(tmp.path()); }, {"manifest.json"});
  save_dataset(tmp.path(), make_dataset(2));
  io::write_npy(tmp / "images.npy", io::HostArray::zeros(io::DType::kF32, {2, 4, 3, 1}));
  expect_error([&] { load_dataset_info(tmp.path()); }, {"images.npy", "U8"});
}

TEST(Dataset, ShapeMismatchBetweenImagesAndLabelsIsNamed) {
  test::TempDir tmp;
  save_dataset(tmp.path(), make_dataset(4));
  io::write_npy(tmp / "labels.npy", i64({0, 1, 2}));
  expect_error([&] { load_dataset(tmp.path()); }, {"labels.npy", "(4,)", "(3)"});
  save_dataset(tmp.path(), make_dataset(4));
  io::write_npy(tmp / "ids.npy", i64({0, 1, 2, 3, 4}));
  expect_error([&] { load_dataset(tmp.path()); }, {"ids.npy", "(5)"});
}

TEST(Dataset, WrongDtypesAndRanksAreNamed) {
  test::TempDir tmp;
  save_dataset(tmp.path(), make_dataset(4));
  io::write_npy(tmp / "images.npy", io::HostArray::zeros(io::DType::kF32, {4, 4, 3, 1}));
  expect_error([&] { load_dataset(tmp.path()); }, {"images.npy", "U8", "F32"});
  io::write_npy(tmp / "images.npy", io::HostArray::zeros(io::DType::kU8, {4, 4, 3}));
  expect_error([&] { load_dataset(tmp.path()); }, {"images.npy", "4-D"});
  io::write_npy(tmp / "images.npy", io::HostArray::zeros(io::DType::kU8, {4, 4, 3, 2}));
  expect_error([&] { load_dataset(tmp.path()); }, {"images.npy", "channels"});

  save_dataset(tmp.path(), make_dataset(4));
  io::write_npy(tmp / "labels.npy", io::HostArray::zeros(io::DType::kI32, {4}));
  expect_error([&] { load_dataset(tmp.path()); }, {"labels.npy", "I64", "I32"});
  io::write_npy(tmp / "labels.npy", io::HostArray::zeros(io::DType::kI64, {4, 1}));
  expect_error([&] { load_dataset(tmp.path()); }, {"labels.npy", "(4, 1)"});
}

TEST(Dataset, MembersMustBeBoolOfLengthN) {
  test::TempDir tmp;
  save_dataset(tmp.path(), make_dataset(4));
  io::write_npy(tmp / "members.npy", io::HostArray::zeros(io::DType::kU8, {4}));
  expect_error([&] { load_dataset(tmp.path()); }, {"members.npy", "BOOL", "U8"});
  io::write_npy(tmp / "members.npy", io::HostArray::zeros(io::DType::kBool, {5}));
  expect_error([&] { load_dataset(tmp.path()); }, {"members.npy", "(4,)", "(5)"});
  io::HostArray two = io::HostArray::zeros(io::DType::kBool, {4});
  two.bytes[2] = 2;
  io::write_npy(tmp / "members.npy", two);
  expect_error([&] { load_members(tmp.path()); }, {"members.npy", "0 or 1", "index 2"});
  // A model folder has members.npy and nothing else.
  save_members(tmp / "model", {true, false, true});
  EXPECT_EQ(*load_members(tmp / "model"), (std::vector<bool>{true, false, true}));
  EXPECT_FALSE(load_members(tmp / "elsewhere").has_value());
}

TEST(Dataset, SaveRejectsInconsistentDatasets) {
  test::TempDir tmp;
  Dataset ds = make_dataset(3);
  ds.labels.pop_back();
  expect_error([&] { save_dataset(tmp / "a", ds); }, {"3 labels", "found 2"});
  ds = make_dataset(3);
  ds.members = std::vector<bool>{true};
  expect_error([&] { save_dataset(tmp / "b", ds); }, {"member flags"});
  EXPECT_FALSE(fs::exists(tmp / "a" / "manifest.json"));
}

}  // namespace
}  // namespace diffmem::data
