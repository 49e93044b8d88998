#pragma once
// Test doubles and reference-file readers shared by the diffusion tests.
#include <torch/torch.h>

#include <string>

#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/json.h"
#include "diffmem/model/denoiser.h"
#include "test_support.h"

namespace diffmem::test {

/// tests/reference/diffusion/scheduler_reference.json (made by make_scheduler_reference.py).
inline const io::Json& scheduler_reference() {
  static const io::Json ref = io::read_json(source_dir() +
                                            "/tests/reference/diffusion/scheduler_reference.json");
  return ref;
}

/// {"shape": [...], "data": [...]} → f32 (or i64 / u8 when asked) CPU tensor.
inline torch::Tensor ref_tensor(const io::Json& j, torch::ScalarType type = torch::kFloat32) {
  std::vector<int64_t> shape = j.at("shape").get<std::vector<int64_t>>();
  std::vector<double> data = j.at("data").get<std::vector<double>>();
  auto t = torch::tensor(data, torch::kFloat64).to(type);
  return t.reshape(shape);
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

/// eps = 0.9 x - 0.1 t/1000, the same float32 expression as fake_eps in the reference script.
class AffineDenoiser : public model::Denoiser {
 public:
  AffineDenoiser(int64_t channels, int64_t size, torch::Device device = torch::kCPU)
      : c_(channels), s_(size), device_(device) {}
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override {
    ++calls;
    EXPECT_EQ(x.device(), device_);
    auto tt = t.to(torch::kFloat32).reshape({-1, 1, 1, 1}) / 1000.0;
    return x * 0.9 - tt * 0.1;
  }
  int64_t in_channels() const override { return c_; }
  int64_t sample_size() const override { return s_; }
  torch::Device device() const override { return device_; }
  std::string describe() const override { return "affine test double"; }
  int64_t calls = 0;

 private:
  int64_t c_, s_;
  torch::Device device_;
};

/// The ideal noise predictor for data ~ N(mu, sigma^2) per pixel (sigma = 0: a single point mu):
/// E[eps | x_t] = sqrt(1-ab) (x_t - sqrt(ab) mu) / (ab sigma^2 + 1 - ab).
class GaussianDataDenoiser : public model::Denoiser {
 public:
  GaussianDataDenoiser(diffusion::NoiseSchedule schedule, torch::Tensor mu, double sigma)
      : schedule_(std::move(schedule)), mu_(std::move(mu)), sigma_(sigma) {}
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override {
    auto ab = schedule_.alphas_cumprod().to(torch::kFloat64).index_select(0, t).reshape({-1, 1, 1, 1});
    auto xd = x.to(torch::kFloat64);
    auto eps = (1 - ab).sqrt() * (xd - ab.sqrt() * mu_.to(torch::kFloat64)) /
               (ab * sigma_ * sigma_ + 1 - ab);
    return eps.to(torch::kFloat32);
  }
  int64_t in_channels() const override { return mu_.size(0); }
  int64_t sample_size() const override { return mu_.size(1); }
  torch::Device device() const override { return torch::kCPU; }
  std::string describe() const override { return "gaussian-data test double"; }

 private:
  diffusion::NoiseSchedule schedule_;
  torch::Tensor mu_;  // [C,H,W]
  double sigma_;
};

}  // namespace diffmem::test
