// batched_matmul (the attention blocks' GEMMs) against ATen's matmul, forward and backward, on
// the operand layouts the attention uses: broadcast weights, transposed and narrowed views.
#include "../../src/model/batched_matmul.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "model_test_util.h"

namespace diffmem::model::detail {
namespace {

using test::max_abs_diff;

struct Operands {
  std::string name;
  torch::Tensor a, b, bias;  // bias may be undefined
};

// Each case builds its operands from leaf tensors, so gradients reach the leaves through the
// views, as they do in the attention block.
std::vector<Operands> cases(const std::vector<torch::Tensor>& leaves) {
  const torch::Tensor &w = leaves[0], &x = leaves[1], &qkv = leaves[2], &bias = leaves[3],
                      &p = leaves[4];
  const int64_t c = 24;
  const torch::Tensor q = qkv.narrow(1, 0, c), k = qkv.narrow(1, c, c), v = qkv.narrow(1, 2 * c, c);
  return {
      {"broadcast weight with bias", w, x, bias},         // [1, 3c, c] × [B, c, N] + b
      {"broadcast weight, no bias", w, x, {}},            //
      {"transposed narrow × narrow", q.transpose(1, 2), k, {}},  // qᵀ k: [B, N, N]
      {"narrow × transposed", v, p.transpose(1, 2), {}},         // v pᵀ: [B, c, N]
      {"broadcast right operand", x.transpose(1, 2), w.narrow(1, 0, c).transpose(1, 2), {}},
  };
}

std::vector<torch::Tensor> make_leaves(int64_t batch, int64_t n, int64_t seed) {
  torch::manual_seed(seed);
  const int64_t c = 24;
  return {torch::randn({1, 3 * c, c}), torch::randn({batch, c, n}),
          torch::randn({batch, 3 * c, n}), torch::randn({3 * c}),
          torch::softmax(torch::randn({batch, n, n}), -1)};
}

torch::Tensor matmul_reference(const Operands& o) {
  const torch::Tensor c = torch::matmul(o.a, o.b);
  return o.bias.defined() ? c + o.bias.view({1, -1, 1}) : c;
}

TEST(BatchedMatmul, ForwardMatchesAtenOnEveryLayout) {
  torch::NoGradGuard no_grad;
  for (const int64_t batch : {1, 5}) {
    for (const int64_t n : {49, 16}) {
      for (const Operands& o : cases(make_leaves(batch, n, batch * 100 + n))) {
        const torch::Tensor got = batched_matmul(o.a, o.b, o.bias);
        const torch::Tensor want = matmul_reference(o);
        ASSERT_EQ(got.sizes(), want.sizes()) << o.name;
        EXPECT_LT(max_abs_diff(got, want), 1e-4) << o.name << ", batch " << batch << ", n " << n;
      }
    }
  }
}

TEST(BatchedMatmul, GradientsMatchAtenAutograd) {
  const int64_t batch = 3, n = 20;
  for (size_t i = 0; i < cases(make_leaves(batch, n, 7)).size(); ++i) {
    auto grads = [&](const std::function<torch::Tensor(const Operands&)>& product) {
      std::vector<torch::Tensor> leaves = make_leaves(batch, n, 7);
      for (auto& t : leaves) t.requires_grad_(true);
      const Operands o = cases(leaves)[i];
      const torch::Tensor y = product(o);
      torch::manual_seed(99);
      (y * torch::randn(y.sizes())).sum().backward();
      std::vector<torch::Tensor> out;
      for (auto& t : leaves) out.push_back(t.grad().defined() ? t.grad() : torch::zeros_like(t));
      return std::make_pair(o.name, out);
    };
    const auto [name, got] = grads([](const Operands& o) { return batched_matmul(o.a, o.b, o.bias); });
    const auto [unused, want] = grads(matmul_reference);
    for (size_t l = 0; l < got.size(); ++l)
      EXPECT_LT(max_abs_diff(got[l], want[l]), 1e-4 * (1 + want[l].abs().max().item<double>()))
          << name << ", leaf " << l;
  }
}

TEST(BatchedMatmul, OtherDtypesRunAten) {
  const torch::Tensor a = torch::randn({2, 3, 4}, torch::kFloat64), b = torch::randn({1, 4, 5}, torch::kFloat64);
  EXPECT_FALSE(batched_matmul_uses_onednn(a, b));
  EXPECT_LT(max_abs_diff(batched_matmul(a, b), torch::matmul(a, b)), 1e-12);
}

TEST(BatchedMatmul, EmptyInnerDimensionGivesTheBias) {
  const torch::Tensor a = torch::randn({2, 3, 0}), b = torch::randn({2, 0, 4}), bias = torch::randn({3});
  const torch::Tensor c = batched_matmul(a, b, bias);
  ASSERT_EQ(c.sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_LT(max_abs_diff(c, bias.view({1, 3, 1}).expand({2, 3, 4})), 1e-7);
}

TEST(BatchedMatmul, MismatchedShapesAreErrors) {
  const auto message = [](const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias) {
    try {
      batched_matmul(a, b, bias);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(torch::randn({2, 3, 4}), torch::randn({2, 5, 6}), {}).find("(2, 3, 4) and (2, 5, 6)"),
            std::string::npos);
  EXPECT_NE(message(torch::randn({2, 3, 4}), torch::randn({3, 4, 6}), {}).find("[B|1, M, K]"),
            std::string::npos);
  EXPECT_NE(message(torch::randn({3, 4}), torch::randn({4, 6}), {}).find("3-d"), std::string::npos);
  EXPECT_NE(message(torch::randn({2, 3, 4}), torch::randn({2, 4, 6}), torch::randn({6})).find("shape (3)"),
            std::string::npos);
}

}  // namespace
}  // namespace diffmem::model::detail
