// The text-to-image attention (query blocks, batched GEMMs, the vector-exp softmax) against the
// three-op formula, on shapes that split into several query blocks and on the tiny ones the
// reference pipelines use; with autograd on, the plain path and its gradients.
#include "../../src/model/attention_kernel.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <vector>

#include "../../src/model/softmax_kernels.h"
#include "model_test_util.h"

namespace diffmem::model::detail {
namespace {

torch::Tensor reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const auto q64 = q.to(torch::kFloat64), k64 = k.to(torch::kFloat64), v64 = v.to(torch::kFloat64);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  return torch::matmul(torch::softmax(torch::matmul(q64, k64.transpose(-1, -2)) * scale, -1), v64);
}

TEST(Attention, MatchesTheFormulaAcrossQueryBlocks) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  // {N, M, heads, head_dim}: SD self-attention at 32x32 latents (several blocks), cross-attention
  // to 77 tokens, an odd size, and the reference pipelines' tiny blocks.
  for (const auto& [n, m, h, d] : std::vector<std::array<int64_t, 4>>{
           {1024, 1024, 8, 8}, {1024, 77, 8, 8}, {999, 999, 2, 40}, {16, 16, 2, 8}, {64, 77, 4, 4}}) {
    SCOPED_TRACE(std::to_string(n) + "x" + std::to_string(m));
    // Strided inputs, as the blocks pass them ([B, N, h, d] transposed to [B, h, N, d]).
    const torch::Tensor q = (torch::randn({2, n, h, d}) * 2).transpose(1, 2);
    const torch::Tensor k = (torch::randn({2, m, h, d}) * 2).transpose(1, 2);
    const torch::Tensor v = torch::randn({2, m, h, d}).transpose(1, 2);
    const torch::Tensor got = attention(q, k, v);
    ASSERT_EQ(got.sizes(), q.sizes());
    EXPECT_LT(test::max_abs_diff(got, reference(q, k, v)), 2e-5);
  }
}

TEST(Attention, KeepsTheInputDtypeAndComputesInF32) {
  torch::NoGradGuard no_grad;
  const torch::Tensor q = torch::randn({1, 2, 40, 8}).to(torch::kBFloat16);
  const torch::Tensor k = torch::randn({1, 2, 30, 8}).to(torch::kBFloat16);
  const torch::Tensor v = torch::randn({1, 2, 30, 8}).to(torch::kBFloat16);
  const torch::Tensor got = attention(q, k, v);
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  EXPECT_LT(test::max_abs_diff(got, reference(q, k, v)), 2e-2);  // bf16 output rounding
}

TEST(Attention, DifferentiableWithAutograd) {
  const torch::Tensor q = torch::randn({1, 2, 12, 4}, torch::requires_grad());
  const torch::Tensor k = torch::randn({1, 2, 9, 4}, torch::requires_grad());
  const torch::Tensor v = torch::randn({1, 2, 9, 4}, torch::requires_grad());
  attention(q, k, v).pow(2).sum().backward();
  ASSERT_TRUE(q.grad().defined() && k.grad().defined() && v.grad().defined());
  EXPECT_GT(q.grad().abs().sum().item<double>(), 0);
}

TEST(SoftmaxRows, MatchesAtenOnLongAndShortRows) {
  torch::manual_seed(4);
  for (const int64_t n : {1, 7, 16, 77, 1024, 4097}) {
    torch::Tensor x = torch::randn({5, n}) * 10;
    const torch::Tensor want = torch::softmax(x.to(torch::kFloat64), -1);
    softmax_rows(x.data_ptr<float>(), 5, n);
    EXPECT_LT(test::max_abs_diff(x, want), 1e-6) << n;
    EXPECT_NEAR(x.sum(1).max().item<double>(), 1.0, 1e-5) << n;
  }
}

}  // namespace
}  // namespace diffmem::model::detail
