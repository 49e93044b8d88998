// `diffmem data import|subset|show` as a user runs them: real process, real files.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <zlib.h>

#include "diffmem/data/dataset.h"
#include "diffmem/data/subset.h"
#include "diffmem/io/image_file.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using test::shell_quote;

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n + (!s.empty() && s.back() != '\n');
}

void write_gz(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
}

std::string idx_file(const std::vector<uint32_t>& dims, const std::string& data) {
  std::string s{char(0), char(0), char(8), char(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(char((d >> shift) & 0xff));
  return s + data;
}

// 50 MNIST-style 6×6 images, image i filled with 5*i, label i % 10.
void write_small_mnist(const fs::path& dir) {
  fs::create_directories(dir);
  std::string px, lb;
  for (int i = 0; i < 50; ++i) {
    px.append(36, char(5 * i));
    lb.push_back(char(i % 10));
  }
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_file({50, 6, 6}, px));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_file({50}, lb));
}

TEST(DataCli, ImportSubsetShowOnASmallIdxSet) {
  test::TempDir tmp;
  write_small_mnist(tmp / "src");
  auto r = test::run_diffmem("data import --from mnist --src " + test::quoted(tmp / "src") + " --out " +
                             test::quoted(tmp / "d"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("imported 50 images"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find((tmp / "d").string()), std::string::npos) << r.output;

  const std::string subset = "data subset --data " + test::quoted(tmp / "d") +
                             " --n 20 --classes 1,2,3,4,5 --split half --duplicate-counts 1,2,4"
                             " --seed 4 --out ";
  r = test::run_diffmem(subset + test::quoted(tmp / "s1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("24 images"), std::string::npos) << r.output;
  ASSERT_EQ(test::run_diffmem(subset + test::quoted(tmp / "s2")).exit_code, 0);
  for (const char* f : {"images.npy", "labels.npy", "ids.npy", "members.npy"})
    EXPECT_EQ(test::read_bytes(tmp / "s1" / f), test::read_bytes(tmp / "s2" / f)) << f;

  const data::Dataset s = data::load_dataset(tmp / "s1");
  ASSERT_EQ(s.size(), 20 + 0 + 1 + 3);
  ASSERT_TRUE(s.members.has_value());
  EXPECT_EQ(s.manifest["members"]["count"], 10);
  EXPECT_EQ(s.manifest["parent"]["dir"], fs::absolute(tmp / "d").lexically_normal().string());
  for (int64_t r2 = 0; r2 < s.size(); ++r2) {
    EXPECT_TRUE(s.labels[r2] >= 1 && s.labels[r2] <= 5);
    EXPECT_EQ(s.image(r2)[0], uint8_t(5 * s.ids[r2]));
  }
  for (const auto& g : data::duplicate_groups(s.manifest))
    EXPECT_EQ(std::count(s.ids.begin(), s.ids.end(), g.id), g.count);

  r = test::run_diffmem("data show " + test::quoted(tmp / "s1") + " --out " + test::quoted(tmp / "grid.png") +
                        " --n 10 --cols 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const io::HostArray grid = io::read_image(tmp / "grid.png");
  EXPECT_EQ(grid.shape, (std::vector<int64_t>{2 * 8 + 2, 5 * 8 + 2, 1}));
  EXPECT_EQ(grid.bytes[(2 * grid.shape[1] + 2)], s.image(0)[0]);  // first tile, after the pad

  // Writing a subset over its own input is refused.
  r = test::run_diffmem("data subset --data " + test::quoted(tmp / "d") + " --out " + test::quoted(tmp / "d"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(lines(r.output), 1) << r.output;
}

TEST(DataCli, MissingSourceFilesFailWithOneLineNamingThePath) {
  test::TempDir tmp;
  write_small_mnist(tmp / "src");
  fs::remove(tmp / "src" / "train-labels-idx1-ubyte.gz");
  auto r = test::run_diffmem("data import --from fashion-mnist --src " + test::quoted(tmp / "src") +
                             " --out " + test::quoted(tmp / "d"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find((tmp / "src" / "train-labels-idx1-ubyte.gz").string()),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(tmp / "d" / "manifest.json"));

  r = test::run_diffmem("data import --from cifar10 --src " + test::quoted(tmp / "nowhere") + " --out " +
                        test::quoted(tmp / "d"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find((tmp / "nowhere").string()), std::string::npos) << r.output;

  r = test::run_diffmem("data show " + test::quoted(tmp / "nowhere") + " --out " + test::quoted(tmp / "g.png"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(lines(r.output), 1) << r.output;
}

TEST(DataCli, FullFashionMnistTrainSetMatchesTheIdxFiles) {
  if (!fs::exists(test::kFashionMnist / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string py = test::numpy_python();
  if (py.empty()) GTEST_SKIP() << "no python with numpy";
  test::TempDir tmp;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_diffmem("data import --out " + test::quoted(tmp / "fm"));  // default source and src
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::printf("[ timing ] diffmem data import of Fashion-MNIST train (60000 images): %.2f s\n",
              secs);

  // numpy decodes the IDX files on its own and compares every byte.
  const std::string script =
      "import gzip, json, struct, sys\n"
      "import numpy as np\n"
      "src, d = sys.argv[1], sys.argv[2]\n"
      "raw = gzip.open(src + '/train-images-idx3-ubyte.gz').read()\n"
      "magic, n, h, w = struct.unpack('>IIII', raw[:16])\n"
      "assert magic == 0x803, hex(magic)\n"
      "want = np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w, 1)\n"
      "lab = gzip.open(src + '/train-labels-idx1-ubyte.gz').read()\n"
      "want_lab = np.frombuffer(lab, np.uint8, offset=8).astype(np.int64)\n"
      "im = np.load(d + '/images.npy')\n"
      "if im.dtype != np.uint8 or im.shape != want.shape: sys.exit('shape %s %s' % (im.dtype, "
      "im.shape))\n"
      "if not np.array_equal(im, want): sys.exit('pixels differ')\n"
      "if not np.array_equal(np.load(d + '/labels.npy'), want_lab): sys.exit('labels differ')\n"
      "if not np.array_equal(np.load(d + '/ids.npy'), np.arange(n)): sys.exit('ids differ')\n"
      "m = json.load(open(d + '/manifest.json'))\n"
      "if m['count'] != n or m['shape'] != [n, h, w, 1] or m['source'] != 'fashion-mnist':\n"
      "    sys.exit('manifest %r' % {k: m[k] for k in ('count', 'shape', 'source')})\n"
      "print('numpy: %d images %dx%d identical' % (n, h, w))\n";
  test::write_bytes(tmp / "check.py", script);
  r = test::run_shell(py + " " + test::quoted(tmp / "check.py") + " " + test::quoted(test::kFashionMnist) + " " + test::quoted(tmp / "fm"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("60000 images 28x28 identical"), std::string::npos) << r.output;

  r = test::run_diffmem("data subset --data " + test::quoted(tmp / "fm") + " --out " + test::quoted(tmp / "sub") +
                        " --n 1000 --duplicate-counts 1,2,4,8,16,32 --seed 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const data::Dataset s = data::load_dataset(tmp / "sub");
  EXPECT_EQ(s.size(), 1000 + 1 + 3 + 7 + 15 + 31);
  EXPECT_EQ(data::duplicate_groups(s.manifest).size(), 6u);

  r = test::run_diffmem("data show " + test::quoted(tmp / "sub") + " --out " + test::quoted(tmp / "grid.png"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::read_bytes(tmp / "grid.png").substr(1, 3), "PNG");
  EXPECT_EQ(io::read_image(tmp / "grid.png").shape,
            (std::vector<int64_t>{8 * 30 + 2, 8 * 30 + 2, 1}));
}

}  // namespace
}  // namespace diffmem
