// The k-NN search must never hold more than one query_block × base_block slab of distances:
// a recording CPU allocator watches every tensor allocation made during search().
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <cstring>

#include "diffmem/search/knn.h"

// LibTorch 2.3 made Allocator::allocate non-const; 1.13 (Debian's) declares it const.
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3))
#define DIFFMEM_ALLOCATE_CONST
#else
#define DIFFMEM_ALLOCATE_CONST const
#endif

namespace diffmem::search {
namespace {

class RecordingAllocator : public c10::Allocator {
 public:
  explicit RecordingAllocator(c10::Allocator* inner) : inner_(inner) {}
  c10::DataPtr allocate(size_t n) DIFFMEM_ALLOCATE_CONST override {
    size_t seen = largest_.load();
    while (n > seen && !largest_.compare_exchange_weak(seen, n)) {
    }
    return inner_->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return inner_->raw_deleter(); }
  // Pure virtual in newer libtorch (no `override`, so that 1.13, which lacks it, compiles too).
  void copy_data(void* dest, const void* src, std::size_t count) const {
    std::memcpy(dest, src, count);
  }
  size_t largest() const { return largest_.load(); }

 private:
  c10::Allocator* inner_;
  mutable std::atomic<size_t> largest_{0};
};

// Installs the recorder for its lifetime and puts the previous allocator back after.
class ScopedRecorder {
 public:
  ScopedRecorder() : previous_(c10::GetCPUAllocator()), recorder_(previous_) {
    c10::SetCPUAllocator(&recorder_, /*priority=*/100);
  }
  ~ScopedRecorder() { c10::SetCPUAllocator(previous_, /*priority=*/100); }
  size_t largest() const { return recorder_.largest(); }

 private:
  c10::Allocator* previous_;
  RecordingAllocator recorder_;
};

TEST(KnnMemory, LargestAllocationIsOneBlock) {
  torch::manual_seed(13);
  const int64_t n_base = 3000, n_query = 400, d = 16, k = 5;
  const torch::Tensor base = torch::rand({n_base, d});
  const torch::Tensor queries = torch::rand({n_query, d});
  for (KnnSelect sel : {KnnSelect::kFused, KnnSelect::kTopk}) {
    KnnOptions o;
    o.k = k;
    o.query_block = 96;
    o.base_block = 256;
    o.select = sel;
    const KnnIndex index(base, o);
    size_t largest = 0;
    KnnResult r;
    const int before = at::get_num_threads();
    at::set_num_threads(2);  // the row-parallel path shares the one slab between threads
    {
      ScopedRecorder rec;
      r = index.search(queries);
      largest = rec.largest();
    }
    at::set_num_threads(before);
    const size_t block_bytes = 96 * 256 * sizeof(float);
    SCOPED_TRACE(knn_select_name(sel));
    EXPECT_EQ(r.query_block, 96);
    EXPECT_EQ(r.base_block, 256);
    EXPECT_LE(r.peak_temp_bytes, static_cast<int64_t>(block_bytes));
    // The recorder saw the block buffer itself, and nothing bigger: not the 400×3000 matrix
    // (4.8 MB), not a per-query copy of the base. The outputs ([400,5] i64 = 16 KB) are smaller.
    EXPECT_GE(largest, block_bytes);
    EXPECT_LE(largest, block_bytes);
    EXPECT_LT(static_cast<size_t>(n_query * k * 8), block_bytes);
    EXPECT_EQ(r.indices.size(0), n_query);
  }
}

TEST(KnnMemory, Uint8QueriesConvertOneBlockAtATime) {
  torch::manual_seed(14);
  const torch::Tensor base = torch::rand({500, 48});
  const torch::Tensor queries = torch::randint(0, 256, {1000, 4, 4, 3}).to(torch::kByte);
  KnnOptions o;
  o.k = 3;
  o.query_block = 64;
  o.base_block = 128;
  const KnnIndex index(base, o);
  ScopedRecorder rec;
  const KnnResult r = index.search(queries);
  // A float copy of all queries would be 1000×48×4 = 192 KB; one block is 64×128×4 = 32 KB.
  EXPECT_LE(rec.largest(), static_cast<size_t>(64 * 128 * 4));
  EXPECT_LE(r.peak_temp_bytes, 64 * 128 * 4);
}

}  // namespace
}  // namespace diffmem::search
