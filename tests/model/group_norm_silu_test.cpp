// The fused silu(group_norm(x)) against ATen's two operations, forward and backward.
#include "../../src/model/group_norm_silu.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <tuple>

#include "diffmem/core/runtime.h"
#include "model_test_util.h"

namespace diffmem::model::detail {
namespace {

using test::max_abs_diff;

struct GroupNormCase {
  std::vector<int64_t> shape;
  int64_t groups;
};

// Channel planes of 784 (a multiple of the kernel's 16 lanes), 49 and 196 (not), 1 value per
// channel, many channels per group and one; a 3-d input.
const std::vector<GroupNormCase> kCases = {
    {{4, 24, 28, 28}, 8}, {{3, 48, 7, 7}, 8}, {{2, 32, 14, 14}, 32},
    {{5, 16, 1, 1}, 4},   {{2, 12, 9}, 3},    {{1, 64, 4, 4}, 1},
};

torch::Tensor group_norm_reference(const torch::Tensor& x, int64_t groups, const torch::Tensor& w,
                        const torch::Tensor& b, double eps) {
  return torch::silu(torch::group_norm(x, groups, w, b, eps));
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> random_inputs(const GroupNormCase& c,
                                                                       int64_t seed) {
  torch::manual_seed(seed);
  const int64_t channels = c.shape[1];
  // An offset mean and a spread unlike 1, so the normalization does real work.
  const torch::Tensor x = torch::randn(c.shape) * 2.5 + 3.0;
  const torch::Tensor w = 1.0 + 0.5 * torch::randn({channels});
  const torch::Tensor b = 0.3 * torch::randn({channels});
  return {x, w, b};
}

TEST(GroupNormSiLU, ForwardMatchesAten) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < kCases.size(); ++i) {
    const auto [x, w, b] = random_inputs(kCases[i], static_cast<int64_t>(i));
    ASSERT_TRUE(group_norm_silu_is_fused(x, w, b));
    const torch::Tensor fused = group_norm_silu(x, kCases[i].groups, w, b, 1e-6);
    const torch::Tensor ref = group_norm_reference(x, kCases[i].groups, w, b, 1e-6);
    ASSERT_EQ(fused.sizes(), ref.sizes());
    EXPECT_LT(max_abs_diff(fused, ref), 2e-5) << "case " << i;
  }
}

TEST(GroupNormSiLU, BackwardMatchesAtenAutograd) {
  for (size_t i = 0; i < kCases.size(); ++i) {
    const auto [x0, w0, b0] = random_inputs(kCases[i], 100 + static_cast<int64_t>(i));
    const torch::Tensor upstream = torch::randn(x0.sizes());
    auto grads = [&](bool fused) {
      const torch::Tensor x = x0.clone().requires_grad_(true);
      const torch::Tensor w = w0.clone().requires_grad_(true);
      const torch::Tensor b = b0.clone().requires_grad_(true);
      const int64_t g = kCases[i].groups;
      const torch::Tensor y = fused ? group_norm_silu(x, g, w, b, 1e-5) : group_norm_reference(x, g, w, b, 1e-5);
      (y * upstream).sum().backward();
      return std::make_tuple(x.grad(), w.grad(), b.grad());
    };
    const auto [dx, dw, db] = grads(true);
    const auto [rx, rw, rb] = grads(false);
    ASSERT_TRUE(dx.defined() && dw.defined() && db.defined());
    // Relative to the gradient's own scale: ∂L/∂γ sums thousands of terms.
    EXPECT_LT(max_abs_diff(dx, rx), 1e-4 * (1 + rx.abs().max().item<double>())) << "case " << i;
    EXPECT_LT(max_abs_diff(dw, rw), 1e-4 * (1 + rw.abs().max().item<double>())) << "case " << i;
    EXPECT_LT(max_abs_diff(db, rb), 1e-4 * (1 + rb.abs().max().item<double>())) << "case " << i;
  }
}

TEST(GroupNormSiLU, GradientOnlyForTheInputThatNeedsIt) {
  const auto [x0, w, b] = random_inputs(kCases[0], 7);
  const torch::Tensor x = x0.clone().requires_grad_(true);
  group_norm_silu(x, kCases[0].groups, w, b, 1e-6).sum().backward();
  const torch::Tensor xr = x0.clone().requires_grad_(true);
  group_norm_reference(xr, kCases[0].groups, w, b, 1e-6).sum().backward();
  EXPECT_LT(max_abs_diff(x.grad(), xr.grad()), 1e-4);
  EXPECT_FALSE(w.grad().defined());
}

TEST(GroupNormSiLU, ExtremeValuesSaturateLikeSiLUAndNaNPropagates) {
  torch::NoGradGuard no_grad;
  // One channel per group: the normalized values are ±1, scaled by γ to ±200, far past where
  // e^x overflows a float.
  const torch::Tensor x = torch::tensor({-1.0f, 1.0f, -1.0f, 1.0f}).view({1, 2, 2});
  const torch::Tensor w = torch::tensor({200.0f, 0.5f});
  const torch::Tensor b = torch::zeros({2});
  const torch::Tensor y = group_norm_silu(x, 2, w, b, 0.0);
  const torch::Tensor ref = group_norm_reference(x, 2, w, b, 0.0);
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  EXPECT_LT(max_abs_diff(y, ref), 1e-4);

  torch::Tensor bad = torch::randn({2, 4, 3, 3});
  bad[1][2][1][1] = std::numeric_limits<float>::quiet_NaN();
  const torch::Tensor out = group_norm_silu(bad, 2, torch::ones({4}), torch::zeros({4}), 1e-6);
  // The NaN poisons its own (sample, group) and nothing else.
  EXPECT_TRUE(torch::isnan(out[1].slice(0, 2, 4)).all().item<bool>());
  EXPECT_FALSE(torch::isnan(out[0]).any().item<bool>());
  EXPECT_FALSE(torch::isnan(out[1].slice(0, 0, 2)).any().item<bool>());
}

TEST(GroupNormSiLU, SameBytesOnOneThreadAndOnAll) {
  const auto [x0, w0, b0] = random_inputs({{16, 24, 28, 28}, 8}, 3);
  const torch::Tensor upstream = torch::randn(x0.sizes());
  auto run = [&] {
    const torch::Tensor x = x0.clone().requires_grad_(true);
    const torch::Tensor w = w0.clone().requires_grad_(true);
    const torch::Tensor b = b0.clone().requires_grad_(true);
    const torch::Tensor y = group_norm_silu(x, 8, w, b, 1e-6);
    (y * upstream).sum().backward();
    return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
  };
  const int threads = torch::get_num_threads();
  core::set_threads(1);
  const auto one = run();
  core::set_threads(std::max(2, threads));
  const auto all = run();
  core::set_threads(threads);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(torch::equal(one[i], all[i])) << i;
}

TEST(GroupNormSiLU, OtherDtypesAndNonContiguousInputsStillWork) {
  torch::NoGradGuard no_grad;
  const auto [x, w, b] = random_inputs(kCases[1], 11);
  const torch::Tensor xd = x.to(torch::kDouble);
  EXPECT_FALSE(group_norm_silu_is_fused(xd, w.to(torch::kDouble), b.to(torch::kDouble)));
  const torch::Tensor yd =
      group_norm_silu(xd, 8, w.to(torch::kDouble), b.to(torch::kDouble), 1e-6);
  EXPECT_EQ(yd.scalar_type(), torch::kDouble);
  EXPECT_LT(max_abs_diff(yd, group_norm_reference(x, 8, w, b, 1e-6)), 1e-5);
  // A transposed (non-contiguous) view goes through the fused path after a copy.
  const torch::Tensor xt = x.transpose(2, 3);
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_LT(max_abs_diff(group_norm_silu(xt, 8, w, b, 1e-6), group_norm_reference(xt, 8, w, b, 1e-6)), 2e-5);
}

TEST(GroupNormSiLU, ChannelsNotDivisibleByGroupsIsAnError) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({1, 6, 2, 2});
  EXPECT_THROW(group_norm_silu(x, 4, torch::ones({6}), torch::zeros({6}), 1e-6), c10::Error);
}

}  // namespace
}  // namespace diffmem::model::detail
