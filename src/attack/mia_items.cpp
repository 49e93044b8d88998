#include "mia_items.h"

#include <torch/torch.h>

#include <algorithm>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/sampler.h"

namespace diffmem::attack::detail {

std::vector<double> mean_over_items(const data::Dataset& ds, const ItemLayout& layout,
                                    const torch::Device& device,
                                    const std::function<torch::Tensor(const ItemBatch&)>& fn,
                                    const ProgressFn& progress, const std::string& stage) {
  const int64_t n = ds.size();
  const int64_t per = layout.per_example;
  if (per < 1 || layout.batch < 1 || layout.flip_from < 0)
    fail(stage, "items per example >= 1 and batch >= 1", std::to_string(per) + " and " +
                                                           std::to_string(layout.batch));
  std::vector<double> sums(static_cast<size_t>(n), 0.0);
  if (n == 0) return sums;
  const int64_t H = ds.height(), W = ds.width(), C = ds.channels();
  const int64_t total = n * per;
  ProgressMeter meter(progress, stage, n, "examples");
  auto* base = const_cast<uint8_t*>(ds.images.data<uint8_t>());
  for (int64_t k0 = 0; k0 < total; k0 += layout.batch) {
    const int64_t k1 = std::min(total, k0 + layout.batch);
    const int64_t e0 = k0 / per, e1 = (k1 - 1) / per + 1;
    // The examples this batch touches, converted once, then one index per item.
    auto u8 = torch::from_blob(base + e0 * ds.image_bytes(), {e1 - e0, H, W, C}, torch::kUInt8);
    auto x = diffusion::from_uint8_nhwc(u8);
    auto mirrored = x.flip({3});
    ItemBatch b;
    std::vector<int64_t> plain_idx, flip_idx, plain_pos, flip_pos;
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t e = k / per, s = k % per;
      b.example.push_back(e);
      b.slot.push_back(s);
      const int64_t pos = k - k0;
      if (s >= layout.flip_from) {
        flip_idx.push_back(e - e0);
        flip_pos.push_back(pos);
      } else {
        plain_idx.push_back(e - e0);
        plain_pos.push_back(pos);
      }
    }
    auto x0 = torch::empty({k1 - k0, C, H, W}, torch::kFloat32);
    auto li = torch::kLong;
    if (!plain_idx.empty())
      x0.index_copy_(0, torch::tensor(plain_pos, li), x.index_select(0, torch::tensor(plain_idx, li)));
    if (!flip_idx.empty())
      x0.index_copy_(0, torch::tensor(flip_pos, li),
                     mirrored.index_select(0, torch::tensor(flip_idx, li)));
    b.x0 = x0.to(device);
    torch::Tensor v = fn(b).detach().to(torch::kCPU, torch::kFloat64).contiguous();
    if (v.dim() != 1 || v.size(0) != k1 - k0)
      fail(stage, "one value per item (" + std::to_string(k1 - k0) + ")",
           std::to_string(v.numel()) + " values");
    const double* vp = v.data_ptr<double>();
    for (int64_t k = k0; k < k1; ++k) sums[static_cast<size_t>(k / per)] += vp[k - k0];
    meter.update(k1 / per);
  }
  for (auto& s : sums) s /= static_cast<double>(per);
  meter.finish();
  return sums;
}

}  // namespace diffmem::attack::detail
