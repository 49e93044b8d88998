#pragma once
// Test doubles and tiny fixtures shared by the membership-inference tests.
#include <torch/torch.h>

#include <random>
#include <vector>

#include "diffmem/data/dataset.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/model/denoiser.h"
#include "diffmem/model/unet2d.h"

namespace diffmem::test {

/// n random u8 images of size×size×channels, ids 1000 + 7·row (never equal to the row), labels 0.
/// Mirror-symmetric images when `symmetric`.
inline data::Dataset random_dataset(int64_t n, int64_t size, int64_t channels, uint32_t seed,
                                    bool symmetric = false) {
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, size, size, channels});
  std::mt19937 rng(seed);
  uint8_t* p = ds.images.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x)
        for (int64_t c = 0; c < channels; ++c) {
          int64_t xx = symmetric && x >= size / 2 ? size - 1 - x : x;
          uint8_t* px = p + ((i * size + y) * size + x) * channels + c;
          if (xx == x) *px = static_cast<uint8_t>(rng() % 256);
          else *px = p[((i * size + y) * size + xx) * channels + c];
        }
  for (int64_t i = 0; i < n; ++i) {
    ds.labels.push_back(0);
    ds.ids.push_back(1000 + 7 * i);
  }
  return ds;
}

/// A very small UNet2D for size×size×channels images (two levels, 8/16 channels).
inline model::UNet2DConfig tiny_config(int64_t size, int64_t channels) {
  model::UNet2DConfig c;
  c.sample_size = size;
  c.in_channels = c.out_channels = channels;
  c.block_out_channels = {8, 16};
  c.down_block_types = {"DownBlock2D", "DownBlock2D"};
  c.up_block_types = {"UpBlock2D", "UpBlock2D"};
  c.layers_per_block = 1;
  c.norm_num_groups = 4;
  c.attention_head_dim = 4;
  return c;
}

inline model::UNet2D tiny_unet(int64_t size, int64_t channels, uint64_t seed) {
  torch::manual_seed(seed);
  model::UNet2D unet(tiny_config(size, channels));
  unet->eval();
  return unet;
}

/// A denoiser that "memorized" some images: for x_t it finds the remembered image x0 whose implied
/// noise (x_t − sqrt(ab) x0) / sqrt(1 − ab) is smallest; when that noise is plausible (mean square
/// < 2) it returns it — the true noise — else zeros. Members thus have loss ≈ 0, others ≈ 1.
class MemorizingDenoiser : public model::Denoiser {
 public:
  MemorizingDenoiser(diffusion::NoiseSchedule schedule, torch::Tensor remembered)
      : schedule_(std::move(schedule)), mem_(std::move(remembered)) {}
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override {
    auto out = torch::zeros_like(x);
    for (int64_t i = 0; i < x.size(0); ++i) {
      const double ab = schedule_.alpha_cumprod(t[i].item<int64_t>());
      auto r = (x[i].unsqueeze(0) - std::sqrt(ab) * mem_) / std::sqrt(1 - ab);  // [M,C,H,W]
      auto ms = r.pow(2).mean(std::vector<int64_t>{1, 2, 3});
      int64_t best = ms.argmin().item<int64_t>();
      if (ms[best].item<double>() < 2.0) out[i].copy_(r[best]);
    }
    return out;
  }
  int64_t in_channels() const override { return mem_.size(1); }
  int64_t sample_size() const override { return mem_.size(2); }
  torch::Device device() const override { return torch::kCPU; }
  std::string describe() const override { return "memorizing test double"; }

 private:
  diffusion::NoiseSchedule schedule_;
  torch::Tensor mem_;  // [M,C,H,W] in [-1,1]
};

}  // namespace diffmem::test
