// The Fréchet distance and its statistics: closed forms, an independent route to tr (Σ₁Σ₂)^½,
// saved statistics and their errors.
#include "diffmem/quality/fid.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffmem/io/json.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "test_support.h"

namespace diffmem::quality {
namespace {
namespace fs = std::filesystem;

torch::Tensor random_spd(int64_t d, uint64_t seed) {
  torch::Generator g = at::detail::createCPUGenerator(seed);
  const torch::Tensor a = torch::randn({d, d}, g, torch::kFloat64);
  return a.mm(a.t()) / static_cast<double>(d) + 0.1 * torch::eye(d, torch::kFloat64);
}

TEST(FeatureStats, MeanAndCovarianceAsNumpyCov) {
  // Three points in 2-D, worked by hand: mean (2, 1); deviations (-1,-1), (0,0), (1,1);
  // np.cov (ddof 1) = [[1, 1], [1, 1]].
  const torch::Tensor x = torch::tensor({1.0, 0.0, 2.0, 1.0, 3.0, 2.0}).view({3, 2});
  const FeatureStats s = feature_stats(x, "x");
  EXPECT_EQ(s.count, 3);
  EXPECT_TRUE(torch::allclose(s.mu, torch::tensor({2.0, 1.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(s.sigma, torch::ones({2, 2}, torch::kFloat64)));
  EXPECT_EQ(s.sigma.scalar_type(), torch::kFloat64);
}

TEST(Frechet, ClosedFormForScaledIdentities) {
  // Σ₁ = aI, Σ₂ = bI: FD = ‖Δμ‖² + D (a + b − 2√(ab)) = ‖Δμ‖² + D (√a − √b)².
  const int64_t d = 16;
  FeatureStats s1{torch::zeros({d}, torch::kFloat64), 4.0 * torch::eye(d, torch::kFloat64), 1000};
  FeatureStats s2{torch::full({d}, 0.5, torch::kFloat64), 9.0 * torch::eye(d, torch::kFloat64), 1000};
  const FrechetResult r = frechet_distance(s1, s2, "fd");
  EXPECT_NEAR(r.mean_term, 16 * 0.25, 1e-12);
  EXPECT_NEAR(r.trace_term, 16.0 * 1.0, 1e-9);
  EXPECT_NEAR(r.distance, 20.0, 1e-9);
  EXPECT_TRUE(r.warning.empty()) << r.warning;
  EXPECT_NEAR(frechet_distance(s1, s1, "fd").distance, 0.0, 1e-9);
}

TEST(Frechet, MatchesTheEigenvaluesOfTheProductForNonCommutingCovariances) {
  // tr (Σ₁Σ₂)^½ = Σ √λ(Σ₁Σ₂): the product's eigenvalues (real, ≥ 0) by a general eigensolver.
  const int64_t d = 24;
  const torch::Tensor s1 = random_spd(d, 1), s2 = random_spd(d, 2);
  ASSERT_GT((s1.mm(s2) - s2.mm(s1)).abs().max().item<double>(), 0.1) << "they must not commute";
  const torch::Tensor lambda = torch::real(torch::linalg_eigvals(s1.mm(s2)));
  const double tr_sqrt = lambda.clamp_min(0).sqrt().sum().item<double>();
  const torch::Tensor mu1 = torch::linspace(0, 1, d, torch::kFloat64), mu2 = torch::zeros({d}, torch::kFloat64);
  const double expected = mu1.pow(2).sum().item<double>() + s1.trace().item<double>() +
                          s2.trace().item<double>() - 2 * tr_sqrt;
  const FrechetResult r = frechet_distance({mu1, s1, 100}, {mu2, s2, 100}, "fd");
  EXPECT_NEAR(r.distance, expected, 1e-9 * std::abs(expected));
  EXPECT_GT(r.distance, 1.0);
  // Symmetric in its arguments.
  EXPECT_NEAR(frechet_distance({mu2, s2, 100}, {mu1, s1, 100}, "fd").distance, r.distance, 1e-9 * r.distance);
}

TEST(Frechet, FromFeaturesOfTwoGaussiansApproachesTheirDistance) {
  // 20000 draws of N(0, I) and N(m, 4I) in 8-D: FD → ‖m‖² + 8 (2 − 1)² = 8 + 8.
  torch::Generator g = at::detail::createCPUGenerator(5);
  const torch::Tensor a = torch::randn({20000, 8}, g, torch::kFloat64);
  const torch::Tensor b = 2 * torch::randn({20000, 8}, g, torch::kFloat64) + 1.0;
  const FrechetResult r = frechet_distance(feature_stats(a, "a"), feature_stats(b, "b"), "fd");
  EXPECT_NEAR(r.distance, 16.0, 0.4);
}

TEST(Frechet, FewerVectorsThanDimensionsIsFlagged) {
  torch::Generator g = at::detail::createCPUGenerator(3);
  const FeatureStats a = feature_stats(torch::randn({6, 10}, g), "a"), b = feature_stats(torch::randn({50, 10}, g), "b");
  const FrechetResult r = frechet_distance(a, b, "fd");
  EXPECT_NE(r.warning.find("6 vectors for 10 dimensions"), std::string::npos) << r.warning;
  EXPECT_TRUE(std::isfinite(r.distance));
}

TEST(Frechet, BadInputsAreOneLineErrors) {
  EXPECT_NE(test::error_of([] { feature_stats(torch::zeros({1, 4}), "gen"); }).find("at least 2"), std::string::npos);
  EXPECT_NE(test::error_of([] { feature_stats(torch::zeros({4}), "gen"); }).find("features [N,D]"), std::string::npos);
  torch::Tensor nan = torch::zeros({3, 2});
  nan[1][1] = std::nan("");
  EXPECT_NE(test::error_of([&] { feature_stats(nan, "gen"); }).find("gen: expected finite"), std::string::npos);
  const FeatureStats a{torch::zeros({3}, torch::kFloat64), torch::eye(3, torch::kFloat64), 10};
  const FeatureStats b{torch::zeros({4}, torch::kFloat64), torch::eye(4, torch::kFloat64), 10};
  EXPECT_NE(test::error_of([&] { frechet_distance(a, b, "fd"); }).find("same dimension"), std::string::npos);
  const FeatureStats c{torch::zeros({3}, torch::kFloat64), torch::eye(4, torch::kFloat64), 10};
  EXPECT_NE(test::error_of([&] { frechet_distance(a, c, "fd"); }).find("covariance [3,3]"), std::string::npos);
}

TEST(FeatureStatsFiles, RoundTripAndRefuseBrokenOnes) {
  test::TempDir tmp;
  const torch::Tensor s = random_spd(5, 9);
  const FeatureStats st{torch::arange(5, torch::kFloat64), s, 77};
  save_stats(tmp / "ref", st, "dataset-net (x)");
  std::string name;
  const FeatureStats back = load_stats(tmp / "ref", &name);
  EXPECT_EQ(name, "dataset-net (x)");
  EXPECT_EQ(back.count, 77);
  EXPECT_TRUE(torch::equal(back.mu, st.mu));
  EXPECT_TRUE(torch::equal(back.sigma, st.sigma));
  EXPECT_NE(test::error_of([&] { load_stats(tmp / "none"); }).find("mu.npy: expected saved feature statistics"),
            std::string::npos);
  torch::Tensor asym = s.clone();
  asym[0][1] += 1.0;
  io::write_npy(tmp / "ref" / "sigma.npy", io::from_tensor(asym));
  EXPECT_NE(test::error_of([&] { load_stats(tmp / "ref"); }).find("symmetric"), std::string::npos);
  io::write_npy(tmp / "ref" / "sigma.npy", io::from_tensor(s));
  io::write_json(tmp / "ref" / "stats.json", io::Json{{"dim", 6}});
  EXPECT_NE(test::error_of([&] { load_stats(tmp / "ref"); }).find("stats.json"), std::string::npos);
}

}  // namespace
}  // namespace diffmem::quality

namespace diffmem::quality {
namespace {

namespace fs = std::filesystem;

TEST(Frechet, MatchesPytorchFidOnInceptionFeatures) {
  // pool3 features of 6 RGB and 4 grayscale images from pytorch-fid's Inception with formula
  // weights, and pytorch_fid.fid_score.calculate_frechet_distance of their statistics
  // (tests/reference/model/make_inception_reference.py). 2048 dimensions from 6 and 4 vectors:
  // singular covariances, where scipy's sqrtm and the symmetric route still agree.
  const auto ref = io::read_safetensors(fs::path(test::source_dir()) / "tests/reference/model/inception_io.safetensors");
  const torch::Tensor rgb = io::to_tensor(ref.tensors.at("features_rgb")), gray = io::to_tensor(ref.tensors.at("features_gray"));
  const double expected = io::to_tensor(ref.tensors.at("fid_rgb_gray")).item<double>();
  const FrechetResult r = frechet_distance(feature_stats(rgb, "rgb"), feature_stats(gray, "gray"), "fid");
  EXPECT_NEAR(r.distance, expected, 1e-6 * expected);
  EXPECT_GT(expected, 1.0);
  EXPECT_FALSE(r.warning.empty()) << "4 vectors in 2048 dimensions";
}

}  // namespace
}  // namespace diffmem::quality
