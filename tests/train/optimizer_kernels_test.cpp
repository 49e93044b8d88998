// The optimizer's single-pass flat-buffer kernels against ATen's tensor operations, and their
// independence from the thread count.
#include "../../src/train/optimizer_kernels.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffmem/core/runtime.h"

namespace diffmem::train::detail {
namespace {

// Three full 64 Ki chunks and a ragged tail.
constexpr int64_t kN = 3 * 65536 + 1237;

// The largest difference relative to the largest value.
double scaled_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

TEST(OptimizerKernels, SumOfSquaresIsExactEnoughAndTheSameOnAnyThreadCount) {
  torch::manual_seed(4);
  const torch::Tensor g = torch::randn({kN});
  long double serial = 0;
  const float* p = g.data_ptr<float>();
  for (int64_t i = 0; i < kN; ++i) serial += static_cast<long double>(p[i]) * p[i];
  core::set_threads(1);
  const double one = sum_of_squares(p, kN);
  core::set_threads(2);
  const double two = sum_of_squares(p, kN);
  EXPECT_EQ(one, two);  // bit for bit
  EXPECT_NEAR(one, static_cast<double>(serial), 1e-12 * static_cast<double>(serial));
  EXPECT_EQ(sum_of_squares(p, 0), 0.0);
  EXPECT_EQ(sum_of_squares(p, 3), static_cast<double>(p[0]) * p[0] +
                                      static_cast<double>(p[1]) * p[1] +
                                      static_cast<double>(p[2]) * p[2]);
}

TEST(OptimizerKernels, AdamMatchesATensorOperationsWithClipAndWeightDecay) {
  torch::manual_seed(5);
  const torch::Tensor p0 = torch::randn({kN}), g = torch::randn({kN}) * 3;
  const torch::Tensor m0 = torch::randn({kN}) * 0.1, v0 = torch::rand({kN}) * 0.01;
  const double clip = 0.37, wd = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = 2e-3;
  const int64_t step = 6;
  const double bc1 = 1 - std::pow(b1, step + 1), bc2 = 1 - std::pow(b2, step + 1);

  // The reference: the update as ATen operations (what Adam::step does off the CPU).
  torch::Tensor p = p0.clone(), m = m0.clone(), v = v0.clone();
  torch::Tensor gg = g * clip + wd * p;
  m.mul_(b1).add_(gg, 1 - b1);
  v.mul_(b2).addcmul_(gg, gg, 1 - b2);
  p.addcdiv_(m, (v.sqrt() / std::sqrt(bc2)).add_(eps), -lr / bc1);

  AdamScalars s;
  s.grad_scale = static_cast<float>(clip);
  s.weight_decay = static_cast<float>(wd);
  s.beta1 = static_cast<float>(b1);
  s.one_minus_beta1 = static_cast<float>(1 - b1);
  s.beta2 = static_cast<float>(b2);
  s.one_minus_beta2 = static_cast<float>(1 - b2);
  s.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  s.eps = static_cast<float>(eps);
  s.step_size = static_cast<float>(lr / bc1);
  torch::Tensor outs[2][3];
  for (int threads : {1, 2}) {
    core::set_threads(threads);
    torch::Tensor pk = p0.clone(), mk = m0.clone(), vk = v0.clone();
    adam_update(pk.data_ptr<float>(), g.data_ptr<float>(), mk.data_ptr<float>(),
                vk.data_ptr<float>(), kN, s);
    outs[threads - 1][0] = pk;
    outs[threads - 1][1] = mk;
    outs[threads - 1][2] = vk;
  }
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(torch::equal(outs[0][k], outs[1][k])) << k;
  // Float rounding differs only where ATen fuses a multiply-add.
  EXPECT_LT(scaled_diff(outs[0][1], m), 1e-6);
  EXPECT_LT(scaled_diff(outs[0][2], v), 1e-6);
  EXPECT_LT(scaled_diff(outs[0][0], p), 1e-6);
  EXPECT_GT((outs[0][0] - p0).abs().mean().item<double>(), 1e-4);  // the step did move them
}

TEST(OptimizerKernels, EmaMatchesMulAdd) {
  torch::manual_seed(6);
  const torch::Tensor e0 = torch::randn({kN}), p = torch::randn({kN});
  const double d = 0.995;
  torch::Tensor ref = e0.clone();
  ref.mul_(d).add_(p, 1 - d);
  torch::Tensor e = e0.clone();
  core::set_threads(2);
  ema_update(e.data_ptr<float>(), p.data_ptr<float>(), kN, static_cast<float>(d),
             static_cast<float>(1 - d));
  EXPECT_LT((e - ref).abs().max().item<double>(), 1e-6);
  EXPECT_GT((e - e0).abs().max().item<double>(), 1e-3);
}

}  // namespace
}  // namespace diffmem::train::detail
