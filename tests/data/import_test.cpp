#include "diffmem/data/import.h"

#include <gtest/gtest.h>
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <set>

#include "diffmem/core/error.h"
#include "diffmem/data/captions.h"
#include "diffmem/io/image_file.h"
#include "test_support.h"

namespace diffmem::data {
namespace {
namespace fs = std::filesystem;

void expect_import_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  const std::string msg = test::error_of(f);
  for (const auto& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "message '" << msg << "' lacks '" << p << "'";
}

// ---- IDX fixtures -------------------------------------------------------------------------

std::string idx_file(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s{char(0), char(0), char(8), char(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(char((d >> shift) & 0xff));
  s.append(data.begin(), data.end());
  return s;
}

void write_gz(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

uint8_t idx_pixel(int64_t i, int64_t k) { return uint8_t((i * 31 + k * 3) % 256); }

// n images of 5×4 with labels i % 10, written as `prefix`-{images,labels} in the given style.
void write_idx_pair(const fs::path& dir, const std::string& prefix, int64_t n, bool gz,
                    const std::string& sep = "-", int64_t n_labels = -1) {
  fs::create_directories(dir);
  std::vector<uint8_t> px(n * 20), lb(n_labels < 0 ? n : n_labels);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < 20; ++k) px[i * 20 + k] = idx_pixel(i, k);
  for (size_t i = 0; i < lb.size(); ++i) lb[i] = uint8_t(i % 10);
  const std::string images = idx_file({uint32_t(n), 5, 4}, px);
  const std::string labels = idx_file({uint32_t(lb.size())}, lb);
  const fs::path ip = dir / (prefix + sep + "images-idx3-ubyte" + (gz ? ".gz" : ""));
  const fs::path lp = dir / (prefix + sep + "labels-idx1-ubyte" + (gz ? ".gz" : ""));
  if (gz) {
    write_gz(ip, images);
    write_gz(lp, labels);
  } else {
    test::write_bytes(ip, images);
    test::write_bytes(lp, labels);
  }
}

TEST(ImportIdx, FashionMnistFromGzipFiles) {
  test::TempDir tmp;
  write_idx_pair(tmp.path(), "train", 7, true);
  write_idx_pair(tmp.path(), "t10k", 3, true);
  ImportOptions o;
  o.src = tmp.path();
  Dataset ds = import_dataset(o);
  ASSERT_EQ(ds.images.shape, (std::vector<int64_t>{7, 5, 4, 1}));
  for (int64_t i = 0; i < 7; ++i)
    for (int64_t k = 0; k < 20; ++k) ASSERT_EQ(ds.image(i)[k], idx_pixel(i, k)) << i << "," << k;
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ds.ids, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_FALSE(ds.members.has_value());
  const io::Json& m = ds.manifest;
  EXPECT_EQ(m["created_by"], "diffmem data import");
  EXPECT_EQ(m["source"], "fashion-mnist");
  EXPECT_EQ(m["src"], fs::absolute(tmp.path()).lexically_normal().string());
  EXPECT_EQ(m["split"], "train");
  EXPECT_EQ(m["count"], 7);
  EXPECT_EQ(m["shape"], io::Json({7, 5, 4, 1}));
  EXPECT_EQ(m["options"]["limit"], 0);
  EXPECT_EQ(m["classes"].size(), 10u);
  EXPECT_EQ(m["classes"][9], "Ankle boot");
  EXPECT_EQ(m["source_files"][0], "train-images-idx3-ubyte.gz");

  o.split = "test";
  ds = import_dataset(o);
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.manifest["split"], "test");
  EXPECT_EQ(ds.image(2)[1], idx_pixel(2, 1));
}

TEST(ImportIdx, PlainDotNamedMnistWithLimitAndChannels) {
  test::TempDir tmp;
  write_idx_pair(tmp.path(), "train", 6, false, ".");
  ImportOptions o;
  o.source = "mnist";
  o.src = tmp.path();
  o.limit = 4;
  o.channels = 3;
  Dataset ds = import_dataset(o);
  ASSERT_EQ(ds.images.shape, (std::vector<int64_t>{4, 5, 4, 3}));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t k = 0; k < 20; ++k)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(ds.image(i)[k * 3 + c], idx_pixel(i, k));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(ds.manifest["classes"][3], "3");
}

TEST(ImportIdx, ResizeKeepsAConstantImageConstant) {
  test::TempDir tmp;
  fs::create_directories(tmp.path());
  std::vector<uint8_t> px(2 * 20, 77);
  test::write_bytes(tmp / "train-images-idx3-ubyte", idx_file({2, 5, 4}, px));
  test::write_bytes(tmp / "train-labels-idx1-ubyte", idx_file({2}, {1, 8}));
  ImportOptions o;
  o.src = tmp.path();
  o.size = 8;
  Dataset ds = import_dataset(o);
  ASSERT_EQ(ds.images.shape, (std::vector<int64_t>{2, 8, 8, 1}));
  for (uint8_t b : ds.images.bytes) ASSERT_EQ(b, 77);
  EXPECT_TRUE(ds.manifest.contains("resize_filter"));
}

TEST(ImportIdx, BadInputsNameTheFile) {
  test::TempDir tmp;
  ImportOptions o;
  o.src = tmp / "absent";
  expect_import_error([&] { import_dataset(o); }, {(tmp / "absent").string(), "directory"});

  o.src = tmp.path();
  write_idx_pair(tmp.path(), "train", 5, true);
  fs::remove(tmp / "train-labels-idx1-ubyte.gz");
  expect_import_error([&] { import_dataset(o); },
               {(tmp / "train-labels-idx1-ubyte.gz").string(), "no such file"});

  // Shape mismatch: 5 images, 4 labels.
  write_idx_pair(tmp.path(), "train", 5, true, "-", 4);
  expect_import_error([&] { import_dataset(o); },
               {"train-labels-idx1-ubyte.gz", "5 labels", "found 4"});

  // Labels outside the 10 classes.
  write_gz(tmp / "train-labels-idx1-ubyte.gz", idx_file({5}, {0, 1, 12, 3, 4}));
  expect_import_error([&] { import_dataset(o); }, {"train-labels-idx1-ubyte.gz", "12 at index 2"});

  // A labels file where the images file should be (wrong rank).
  write_gz(tmp / "train-images-idx3-ubyte.gz", idx_file({5}, {0, 1, 2, 3, 4}));
  expect_import_error([&] { import_dataset(o); }, {"train-images-idx3-ubyte.gz", "[N,H,W]"});

  // Truncated gzip data: the io layer names the file.
  write_idx_pair(tmp.path(), "train", 5, true);
  std::string gz = test::read_bytes(tmp / "train-images-idx3-ubyte.gz");
  test::write_bytes(tmp / "train-images-idx3-ubyte.gz", gz.substr(0, gz.size() / 2));
  expect_import_error([&] { import_dataset(o); }, {"train-images-idx3-ubyte.gz"});
}

TEST(ImportOptionsCheck, RejectsUnknownValuesAndMissingSrc) {
  ImportOptions o;
  o.source = "svhn";
  expect_import_error([&] { import_dataset(o); }, {"source", "svhn"});
  o = ImportOptions{};
  o.split = "val";
  expect_import_error([&] { import_dataset(o); }, {"split", "val"});
  o = ImportOptions{};
  o.channels = 2;
  expect_import_error([&] { import_dataset(o); }, {"channels", "2"});
  o = ImportOptions{};
  o.source = "cifar10";
  expect_import_error([&] { import_dataset(o); }, {"src", "cifar10"});
  EXPECT_EQ(default_source_dir("fashion-mnist"), fs::path("/usr/share/datasets/fashion-mnist"));
  EXPECT_TRUE(default_source_dir("mnist").empty());
}

// ---- CIFAR-10 fixtures --------------------------------------------------------------------

// Record r of a batch: label (b + r) % 10; channel c of pixel p = (p + 50 c + 7 b + r) % 256.
uint8_t cifar_px(int b, int r, int p, int c) { return uint8_t((p + 50 * c + 7 * b + r) % 256); }

void write_cifar(const fs::path& p, int b, int records) {
  std::string s;
  for (int r = 0; r < records; ++r) {
    s.push_back(char((b + r) % 10));
    for (int c = 0; c < 3; ++c)
      for (int px = 0; px < 1024; ++px) s.push_back(char(cifar_px(b, r, px, c)));
  }
  test::write_bytes(p, s);
}

TEST(ImportCifar, TrainBatchesInOrderWithHwcPixels) {
  test::TempDir tmp;
  const fs::path dir = tmp / "cifar-10-batches-bin";
  fs::create_directories(dir);
  for (int b = 1; b <= 5; ++b)
    write_cifar(dir / ("data_batch_" + std::to_string(b) + ".bin"), b, 2);
  write_cifar(dir / "test_batch.bin", 0, 3);
  ImportOptions o;
  o.source = "cifar10";
  o.src = tmp.path();  // the parent of cifar-10-batches-bin works too
  Dataset ds = import_dataset(o);
  ASSERT_EQ(ds.images.shape, (std::vector<int64_t>{10, 32, 32, 3}));
  for (int i = 0; i < 10; ++i) {
    const int b = i / 2 + 1, r = i % 2;
    EXPECT_EQ(ds.labels[i], (b + r) % 10);
    EXPECT_EQ(ds.ids[i], i);
    for (int p : {0, 1, 33, 1023})
      for (int c = 0; c < 3; ++c) ASSERT_EQ(ds.image(i)[p * 3 + c], cifar_px(b, r, p, c));
  }
  EXPECT_EQ(ds.manifest["classes"][0], "airplane");
  EXPECT_EQ(ds.manifest["source_files"].size(), 5u);

  o.split = "test";
  o.src = dir;
  o.channels = 1;
  ds = import_dataset(o);
  ASSERT_EQ(ds.images.shape, (std::vector<int64_t>{3, 32, 32, 1}));
  const int p = 40, r = 2;
  const int y =
      (77 * cifar_px(0, r, p, 0) + 150 * cifar_px(0, r, p, 1) + 29 * cifar_px(0, r, p, 2)) >> 8;
  EXPECT_EQ(ds.image(r)[p], y);
}

TEST(ImportCifar, LimitReadsOnlyTheBatchesItNeedsAndMissingBatchIsNamed) {
  test::TempDir tmp;
  write_cifar(tmp / "data_batch_1.bin", 1, 2);
  write_cifar(tmp / "data_batch_2.bin", 2, 2);
  ImportOptions o;
  o.source = "cifar10";
  o.src = tmp.path();
  o.limit = 3;
  Dataset ds = import_dataset(o);
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.manifest["source_files"].size(), 2u);
  EXPECT_EQ(ds.image(2)[0], cifar_px(2, 0, 0, 0));
  o.limit = 0;
  expect_import_error([&] { import_dataset(o); }, {(tmp / "data_batch_3.bin").string(), "no such file"});
  test::write_bytes(tmp / "data_batch_3.bin", std::string(3000, '\0'));
  o.limit = 5;
  expect_import_error([&] { import_dataset(o); }, {"data_batch_3.bin", "3073"});
}

// ---- image folders ------------------------------------------------------------------------

io::HostArray solid(int h, int w, int c, uint8_t v) {
  io::HostArray a = io::HostArray::zeros(io::DType::kU8, {h, w, c});
  for (size_t i = 0; i < a.bytes.size(); ++i) a.bytes[i] = uint8_t(v + i % 5);
  return a;
}

TEST(ImportImages, SortedRecursiveWithLabelsFromSubfolders) {
  test::TempDir tmp;
  const fs::path src = tmp / "photos";
  fs::create_directories(src / "dogs");
  fs::create_directories(src / "cats" / "inner");
  fs::create_directories(src / ".cache");
  io::write_png(src / "cats" / "b.png", solid(6, 5, 3, 10));
  io::write_png(src / "cats" / "inner" / "a.PNG", solid(6, 5, 3, 20));
  io::write_png(src / "dogs" / "a.png", solid(6, 5, 3, 30));
  io::write_png(src / "top.png", solid(6, 5, 3, 40));
  io::write_png(src / ".cache" / "z.png", solid(9, 9, 3, 0));  // hidden: skipped
  io::write_png(src / "._junk.png", solid(9, 9, 3, 0));        // hidden: skipped
  test::write_bytes(src / "notes.txt", "not an image");
  io::HostArray jpg = solid(6, 5, 3, 100);
  ASSERT_NE(stbi_write_jpg((src / "dogs" / "c.jpg").c_str(), 5, 6, 3, jpg.bytes.data(), 95), 0);

  ImportOptions o;
  o.source = "images";
  o.src = src;
  Dataset ds = import_dataset(o);
  ASSERT_EQ(ds.images.shape, (std::vector<int64_t>{5, 6, 5, 3}));
  EXPECT_EQ(ds.manifest["files"],
            io::Json({"cats/b.png", "cats/inner/a.PNG", "dogs/a.png", "dogs/c.jpg", "top.png"}));
  EXPECT_EQ(ds.manifest["classes"], io::Json({"cats", "dogs"}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 0, 1, 1, -1}));
  EXPECT_EQ(ds.ids, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(ds.manifest["split"], "all");
  const io::HostArray b = solid(6, 5, 3, 10), top = solid(6, 5, 3, 40);
  EXPECT_TRUE(std::equal(b.bytes.begin(), b.bytes.end(), ds.image(0)));
  EXPECT_TRUE(std::equal(top.bytes.begin(), top.bytes.end(), ds.image(4)));
  EXPECT_NEAR(ds.image(3)[0], 100, 6);  // JPEG is lossy

  // --limit keeps the class numbering of the whole folder.
  o.limit = 3;
  ds = import_dataset(o);
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(ds.manifest["classes"], io::Json({"cats", "dogs"}));
}

TEST(ImportImages, GrayFirstFileSetsChannelsAndSizesMustAgreeUnlessResized) {
  test::TempDir tmp;
  io::write_png(tmp / "a.png", solid(4, 4, 1, 50));
  io::write_png(tmp / "b.png", solid(4, 4, 3, 60));
  io::write_png(tmp / "c.png", solid(7, 3, 1, 70));
  ImportOptions o;
  o.source = "images";
  o.src = tmp.path();
  expect_import_error([&] { import_dataset(o); }, {(tmp / "c.png").string(), "4x4", "7x3"});
  o.size = 4;
  Dataset ds = import_dataset(o);
  ASSERT_EQ(ds.images.shape, (std::vector<int64_t>{3, 4, 4, 1}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{-1, -1, -1}));
  EXPECT_EQ(ds.image(0)[0], 50);
  o.channels = 3;
  ds = import_dataset(o);
  ASSERT_EQ(ds.images.shape, (std::vector<int64_t>{3, 4, 4, 3}));
  EXPECT_EQ(ds.image(1)[0], 60);
  EXPECT_EQ(ds.image(1)[1], 61);

  test::TempDir empty;
  o.src = empty.path();
  expect_import_error([&] { import_dataset(o); }, {empty.path().string(), "PNG/JPEG"});
  test::write_bytes(empty / "broken.png", "\x89PNG not really");
  expect_import_error([&] { import_dataset(o); }, {"broken.png"});
}

// ---- captions ------------------------------------------------------------------------------

TEST(ImportCaptions, GeneratedFromClassNamesSeededAndSaved) {
  test::TempDir tmp;
  write_idx_pair(tmp / "src", "train", 12, true);
  ImportOptions o;
  o.src = tmp / "src";
  o.captions = "generated";
  o.caption_seed = 5;
  const Dataset ds = import_dataset(o);
  ASSERT_TRUE(ds.captions.has_value());
  ASSERT_EQ(ds.captions->size(), 12u);
  EXPECT_EQ(ds.manifest["captions"], "generated");
  // Labels are i % 10: class 0 is Fashion-MNIST's T-shirt/top, class 1 its trousers.
  EXPECT_NE((*ds.captions)[0].find(" t-shirt "), std::string::npos) << (*ds.captions)[0];
  EXPECT_NE((*ds.captions)[1].find(" pair of trousers "), std::string::npos) << (*ds.captions)[1];
  EXPECT_NE((*ds.captions)[9].find(" ankle boot "), std::string::npos) << (*ds.captions)[9];
  EXPECT_EQ((*ds.captions)[3], generated_caption("dress", 5, 3));
  std::set<std::string> distinct(ds.captions->begin(), ds.captions->end());
  EXPECT_GE(distinct.size(), 11u);  // phrases make captions of one class differ
  o.caption_seed = 6;
  EXPECT_NE(*import_dataset(o).captions, *ds.captions);

  save_dataset(tmp / "ds", ds);
  EXPECT_EQ(*load_dataset(tmp / "ds").captions, *ds.captions);
  test::write_bytes(tmp / "ds" / "captions.jsonl", "{\"caption\": \"only one\"}\n");
  expect_import_error([&] { load_dataset(tmp / "ds"); }, {"captions.jsonl", "12 captions"});
  test::write_bytes(tmp / "ds" / "captions.jsonl", "{\"text\": \"x\"}\n");
  expect_import_error([&] { load_dataset(tmp / "ds"); }, {"captions.jsonl: line 1", "caption"});
  // Saved again without captions: the stale file goes.
  Dataset plain = ds;
  plain.captions.reset();
  save_dataset(tmp / "ds", plain);
  EXPECT_FALSE(fs::exists(tmp / "ds" / "captions.jsonl"));
}

TEST(ImportCaptions, FolderWithACaptionFileInLaionOrImagefolderShape) {
  test::TempDir tmp;
  const fs::path src = tmp / "photos";
  io::write_png(src / "a.png", solid(4, 4, 3, 10));
  io::write_png(src / "sub" / "b.png", solid(4, 4, 3, 20));
  ImportOptions o;
  o.source = "images";
  o.src = src;
  test::write_bytes(tmp / "caps.csv", "caption,file\n\"a red, square\",a.png\nsomething <b>bold</b>,sub/b.png\n");
  test::write_bytes(tmp / "metadata.jsonl",
                    "{\"file_name\": \"sub/./b.png\", \"text\": \"something <b>bold</b>\"}\n"
                    "{\"file_name\": \"a.png\", \"text\": \"a red, square\"}\n");
  for (const char* f : {"caps.csv", "metadata.jsonl"}) {
    o.captions = (tmp / f).string();
    const Dataset ds = import_dataset(o);
    ASSERT_TRUE(ds.captions.has_value()) << f;
    EXPECT_EQ(*ds.captions, (std::vector<std::string>{"a red, square", "something <b>bold</b>"})) << f;
  }
  test::write_bytes(tmp / "short.csv", "file,caption\na.png,x\n");
  o.captions = (tmp / "short.csv").string();
  expect_import_error([&] { import_dataset(o); }, {"short.csv", "sub/b.png"});
  test::write_bytes(tmp / "twice.csv", "file,caption\na.png,x\na.png,y\n");
  o.captions = (tmp / "twice.csv").string();
  expect_import_error([&] { import_dataset(o); }, {"twice.csv: record 2", "a.png"});
  test::write_bytes(tmp / "nocol.csv", "name,caption\na.png,x\n");
  o.captions = (tmp / "nocol.csv").string();
  expect_import_error([&] { import_dataset(o); }, {"nocol.csv", "file"});
  test::write_bytes(tmp / "empty.jsonl", "{\"file\": \"a.png\", \"caption\": \"\"}\n");
  o.captions = (tmp / "empty.jsonl").string();
  expect_import_error([&] { import_dataset(o); }, {"empty.jsonl: line 1", "non-empty caption"});
  // A caption file is for folders; other sources generate theirs.
  ImportOptions idx;
  idx.src = tmp.path();
  idx.captions = (tmp / "caps.csv").string();
  expect_import_error([&] { import_dataset(idx); }, {"import captions", "generated"});
}

}  // namespace
}  // namespace diffmem::data
