#include "diffmem/diffusion/loss.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "diffusion_test_util.h"

using namespace diffmem;
using namespace diffmem::diffusion;

namespace {

/// eps = w * x with one trainable scalar, to check that the loss carries gradients.
class ScaledDenoiser : public model::Denoiser {
 public:
  torch::Tensor w = torch::full({}, 0.5f).set_requires_grad(true);
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor&) override { return w * x; }
  int64_t in_channels() const override { return 1; }
  int64_t sample_size() const override { return 4; }
  torch::Device device() const override { return torch::kCPU; }
  std::string describe() const override { return "scaled"; }
};

}  // namespace

TEST(NoisePredictionLoss, IsTheMeanSquaredErrorOfTheNoiseAtXt) {
  NoiseSchedule s;
  test::AffineDenoiser model(3, 4);
  auto x0 = torch::rand({5, 3, 4, 4}) * 2 - 1;
  auto eps = torch::randn({5, 3, 4, 4});
  auto t = torch::tensor({0, 10, 100, 500, 999}, torch::kLong);
  auto out = noise_prediction_loss(model, s, x0, t, eps);
  ASSERT_EQ(out.per_example.sizes(), (std::vector<int64_t>{5}));
  ASSERT_EQ(out.loss.dim(), 0);
  for (int64_t i = 0; i < 5; ++i) {
    // Naive double-precision version of the same quantity.
    double ab = s.alpha_cumprod(t[i].item<int64_t>());
    auto xt = std::sqrt(ab) * x0[i].to(torch::kFloat64) + std::sqrt(1 - ab) * eps[i].to(torch::kFloat64);
    auto pred = 0.9 * xt - 0.1 * t[i].item<double>() / 1000.0;
    double expected = (pred - eps[i].to(torch::kFloat64)).pow(2).mean().item<double>();
    EXPECT_NEAR(out.per_example[i].item<double>(), expected, 1e-5 * expected) << i;
  }
  EXPECT_NEAR(out.loss.item<double>(), out.per_example.mean().item<double>(), 1e-6);
}

// The ideal denoiser of a one-point data set predicts the noise exactly for that point and
// not for another: the loss is the membership signal.
TEST(NoisePredictionLoss, IsNearZeroForTheMemorizedPointOnly) {
  NoiseSchedule s;
  auto x_star = torch::linspace(-0.8, 0.8, 48).reshape({3, 4, 4});
  test::GaussianDataDenoiser model(s, x_star, 0.0);
  auto x0 = torch::stack({x_star, -x_star});
  auto eps = torch::randn({2, 3, 4, 4});
  auto out = noise_prediction_loss(model, s, x0, torch::tensor({100, 100}, torch::kLong), eps);
  EXPECT_LT(out.per_example[0].item<float>(), 1e-8);
  EXPECT_GT(out.per_example[1].item<float>(), 1.0);
}

TEST(NoisePredictionLoss, CarriesGradientsToTheModel) {
  NoiseSchedule s;
  ScaledDenoiser model;
  auto x0 = torch::rand({2, 1, 4, 4}) * 2 - 1;
  auto eps = torch::randn({2, 1, 4, 4});
  auto t = torch::tensor({50, 700}, torch::kLong);
  auto out = noise_prediction_loss(model, s, x0, t, eps);
  out.loss.backward();
  auto xt = add_noise(s, x0, eps, t);
  double expected = (2 * (0.5 * xt - eps) * xt).mean().item<double>();
  EXPECT_NEAR(model.w.grad().item<double>(), expected, 1e-5);
}

TEST(NoisePredictionLoss, RejectsMismatchedInputs) {
  NoiseSchedule s;
  test::AffineDenoiser model(1, 4);
  auto x0 = torch::zeros({2, 1, 4, 4});
  EXPECT_THROW(noise_prediction_loss(model, s, x0, torch::tensor({1, 2}, torch::kLong),
                                     torch::zeros({2, 1, 4, 3})),
               Error);
  EXPECT_THROW(noise_prediction_loss(model, s, x0, torch::tensor({1, 1000}, torch::kLong),
                                     torch::zeros({2, 1, 4, 4})),
               Error);
  EXPECT_THROW(noise_prediction_loss(model, s, torch::zeros({2, 16}), torch::tensor({1, 2}, torch::kLong),
                                     torch::zeros({2, 16})),
               Error);
}
