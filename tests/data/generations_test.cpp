#include "diffmem/data/generations.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "diffmem/io/npy.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {
io::HostArray images(int64_t n, uint8_t base) {
  auto a = io::HostArray::zeros(io::DType::kU8, {n, 2, 2, 1});
  for (size_t i = 0; i < a.bytes.size(); ++i) a.bytes[i] = static_cast<uint8_t>(base + i);
  return a;
}
}  // namespace

TEST(Generations, ShardsConcatenateInIndexOrder) {
  test::TempDir dir;
  data::write_shard(dir.path(), 1, images(2, 100), {12, 13});
  data::write_shard(dir.path(), 0, images(3, 0), {0, 1, 2});
  auto shards = data::list_shards(dir.path());
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards[0].index, 0);
  auto g = data::load_generations(dir.path());
  EXPECT_EQ(g.images.shape, (std::vector<int64_t>{5, 2, 2, 1}));
  EXPECT_EQ(g.seeds, (std::vector<int64_t>{0, 1, 2, 12, 13}));
  EXPECT_EQ(g.images.bytes[12], 100);  // first byte of shard 1 follows shard 0's 12 bytes
}

TEST(Generations, HalfWrittenShardIsSkippedUnlessStrict) {
  test::TempDir dir;
  data::write_shard(dir.path(), 0, images(1, 0), {7});
  // An interrupted shard: its seeds landed, its images did not.
  io::write_npy(data::shard_files(dir.path(), 1).seeds, io::HostArray::zeros(io::DType::kI64, {1}));
  EXPECT_EQ(data::list_shards(dir.path()).size(), 1u);
  EXPECT_THROW(data::list_shards(dir.path(), true), Error);
}

TEST(Generations, MismatchedSeedsAndShapesAreErrorsNamingTheFile) {
  test::TempDir dir;
  EXPECT_THROW(data::write_shard(dir.path(), 0, images(2, 0), {1}), Error);
  data::write_shard(dir.path(), 0, images(2, 0), {1, 2});
  io::write_npy(data::shard_files(dir.path(), 0).seeds, io::HostArray::zeros(io::DType::kI64, {3}));
  try {
    data::load_generations(dir.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("seeds-00000.npy"), std::string::npos) << e.what();
  }
  auto other = io::HostArray::zeros(io::DType::kU8, {1, 3, 3, 1});
  data::write_shard(dir.path(), 0, images(2, 0), {1, 2});
  data::write_shard(dir.path(), 1, other, {5});
  EXPECT_THROW(data::load_generations(dir.path()), Error);
  EXPECT_THROW(data::load_generations(dir / "missing"), Error);
}
