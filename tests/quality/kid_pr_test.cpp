// KID against a direct O(n²) evaluation of the unbiased MMD², and precision/recall on
// configurations whose answer is known by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffmem/quality/kid.h"
#include "diffmem/quality/precision_recall.h"
#include "test_support.h"

namespace diffmem::quality {
namespace {

double naive_mmd2(const torch::Tensor& x, const torch::Tensor& y) {
  const int64_t m = x.size(0), d = x.size(1);
  auto k = [&](const torch::Tensor& a, const torch::Tensor& b) {
    return std::pow(a.dot(b).item<double>() / static_cast<double>(d) + 1.0, 3);
  };
  double xx = 0, yy = 0, xy = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      if (i != j) {
        xx += k(x[i], x[j]);
        yy += k(y[i], y[j]);
      }
      xy += k(x[i], y[j]);
    }
  return xx / (m * (m - 1.0)) + yy / (m * (m - 1.0)) - 2 * xy / (static_cast<double>(m) * m);
}

TEST(Kid, OneSubsetOfEverythingIsTheUnbiasedMmd) {
  torch::Generator g = at::detail::createCPUGenerator(4);
  const torch::Tensor x = torch::randn({12, 5}, g, torch::kFloat64), y = torch::randn({12, 5}, g, torch::kFloat64) + 0.7;
  KidOptions o;
  o.subsets = 1;
  o.subset_size = 1000;  // lowered to 12: the whole sets, in any order the same value
  const KidResult r = kernel_distance(x, y, o, "kid");
  EXPECT_EQ(r.subset_size, 12);
  EXPECT_NEAR(r.mean, naive_mmd2(x, y), 1e-9);
  EXPECT_EQ(r.std, 0.0);
}

TEST(Kid, NearZeroForOneDistributionAndGrowsWithTheShift) {
  torch::Generator g = at::detail::createCPUGenerator(8);
  const torch::Tensor a = torch::randn({600, 16}, g), b = torch::randn({600, 16}, g);
  KidOptions o;
  o.subsets = 20;
  o.subset_size = 200;
  const KidResult same = kernel_distance(a, b, o, "kid");
  // Unbiased: the mean over subsets of one distribution is 0 up to a few standard errors.
  EXPECT_LT(std::abs(same.mean), 4 * same.standard_error + 1e-6) << same.mean << " ± " << same.standard_error;
  const KidResult near = kernel_distance(a, b + 0.3, o, "kid"), far = kernel_distance(a, b + 1.0, o, "kid");
  EXPECT_GT(near.mean, same.mean + 4 * same.standard_error);
  EXPECT_GT(far.mean, near.mean);
  // Seeded: the same subsets again.
  EXPECT_EQ(kernel_distance(a, b + 0.3, o, "kid").mean, near.mean);
}

TEST(Kid, BadInputsAreOneLineErrors) {
  KidOptions o;
  EXPECT_NE(test::error_of([&] { kernel_distance(torch::zeros({1, 3}), torch::zeros({5, 3}), o, "kid"); })
                .find("N >= 2"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { kernel_distance(torch::zeros({4, 3}), torch::zeros({5, 2}), o, "kid"); })
                .find("same dimension"),
            std::string::npos);
  o.subsets = 0;
  EXPECT_NE(test::error_of([&] { kernel_distance(torch::zeros({4, 3}), torch::zeros({5, 3}), o, "kid"); })
                .find("subsets"),
            std::string::npos);
}

TEST(PrecisionRecall, CountsWhatFallsInsideTheOtherSetsBalls) {
  // Real: 0, 1, …, 9 on a line; k = 1 gives every real point radius 1. Generated: 0.5 (inside)
  // and 100 (outside): precision 1/2. The generated set's own radii are 99.5, so its balls cover
  // every real point: recall 1.
  const torch::Tensor real = torch::arange(10, torch::kFloat64).unsqueeze(1);
  const torch::Tensor gen = torch::tensor({0.5, 100.0}, torch::kFloat64).unsqueeze(1);
  const PrecisionRecall pr = precision_recall(real, gen, 1, "pr");
  EXPECT_DOUBLE_EQ(pr.precision, 0.5);
  EXPECT_DOUBLE_EQ(pr.recall, 1.0);
  // Generated: three points close together at 0, 0.1, 0.2 (k = 1: radius 0.1): they cover only
  // the real point 0. Precision 1 (all inside real balls), recall 1/10. Chunks of 3 rows give
  // the same answer as one pass.
  const torch::Tensor tight = torch::tensor({0.0, 0.1, 0.2}, torch::kFloat64).unsqueeze(1);
  for (int64_t chunk : {1024, 3}) {
    const PrecisionRecall t = precision_recall(real, tight, 1, "pr", chunk);
    EXPECT_DOUBLE_EQ(t.precision, 1.0);
    EXPECT_DOUBLE_EQ(t.recall, 0.1);
  }
}

TEST(PrecisionRecall, BadInputsAreOneLineErrors) {
  EXPECT_NE(test::error_of([] { precision_recall(torch::zeros({3, 2}), torch::zeros({5, 2}), 3, "pr"); })
                .find("N > k = 3"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { precision_recall(torch::zeros({5, 2}), torch::zeros({5, 2}), 0, "pr"); })
                .find("k: expected at least 1"),
            std::string::npos);
}

}  // namespace
}  // namespace diffmem::quality
