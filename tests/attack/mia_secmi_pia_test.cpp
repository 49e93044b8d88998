// SecMI's t-error and PIA's proximal-initialization error against naive one-image loops written
// from the papers' formulas, on a tiny random UNet.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffmem/attack/mia_scores.h"
#include "diffmem/core/error.h"
#include "diffmem/diffusion/sampler.h"
#include "mia_test_util.h"

namespace diffmem::attack {
namespace {

torch::Tensor image(const data::Dataset& ds, int64_t i) {
  auto u8 = torch::from_blob(const_cast<uint8_t*>(ds.image(i)),
                             {1, ds.height(), ds.width(), ds.channels()}, torch::kUInt8);
  return diffusion::from_uint8_nhwc(u8).to(torch::kFloat64);
}

// The model in double on the inputs, as the papers' code would call it (f32 model, f64 bookkeeping).
torch::Tensor eps(model::UNet2D& unet, const torch::Tensor& x, int64_t t) {
  return unet->forward(x.to(torch::kFloat32), torch::full({1}, t, torch::kLong)).to(torch::kFloat64);
}

// DDIM deterministic step in double: x0 = (x − √(1−a_s) ε)/√a_s; x' = √a_t x0 + √(1−a_t) ε.
torch::Tensor step(const diffusion::NoiseSchedule& s, const torch::Tensor& x, const torch::Tensor& e,
                   int64_t from, int64_t to) {
  double af = s.alpha_cumprod(from), at = s.alpha_cumprod(to);
  auto x0 = (x - std::sqrt(1 - af) * e) / std::sqrt(af);
  return std::sqrt(at) * x0 + std::sqrt(1 - at) * e;
}

double naive_secmi(model::UNet2D& unet, const diffusion::NoiseSchedule& s, torch::Tensor x,
                   int64_t t_sec, int64_t k) {
  // SecMI's code: target_steps = range(0, t_sec, k)[1:]; invert x0 through them, then one step
  // up to target_steps[-1] + k and back, and compare.
  int64_t tc = 0;
  for (int64_t target = k; target < t_sec; target += k) {
    x = step(s, x, eps(unet, x, tc), tc, target);
    tc = target;
  }
  auto up = step(s, x, eps(unet, x, tc), tc, tc + k);
  auto back = step(s, up, eps(unet, up, tc + k), tc + k, tc);
  return (back - x).pow(2).mean().item<double>();
}

double naive_pia(model::UNet2D& unet, const diffusion::NoiseSchedule& s, const torch::Tensor& x0,
                 int64_t t, int p) {
  auto e0 = eps(unet, x0, 0);
  double ab = s.alpha_cumprod(t);
  auto xt = std::sqrt(ab) * x0 + std::sqrt(1 - ab) * e0;
  return (eps(unet, xt, t) - e0).abs().pow(p).mean().item<double>();
}

TEST(MiaSecMi, MatchesTheNaiveRoundTripPerImage) {
  auto ds = test::random_dataset(5, 8, 1, 21);
  auto unet = test::tiny_unet(8, 1, 9);
  model::UNet2DDenoiser d(unet);
  diffusion::NoiseSchedule sched;
  SecMiOptions o;  // t 100, step 10: the paper's setting
  o.batch = 3;
  auto got = secmi_errors(d, sched, ds, o);
  torch::NoGradGuard ng;
  for (int64_t i = 0; i < 5; ++i) {
    double want = naive_secmi(unet, sched, image(ds, i), 100, 10);
    EXPECT_TRUE(std::isfinite(got[i]));
    EXPECT_GT(want, 0);
    EXPECT_NEAR(got[i], want, 1e-3 * want + 1e-9) << i;
  }
  // t = step: the round trip starts at x0 itself.
  o.t = 20;
  o.step = 20;
  auto short_trip = secmi_errors(d, sched, ds, o);
  EXPECT_NEAR(short_trip[0], naive_secmi(unet, sched, image(ds, 0), 20, 20), 1e-3 * short_trip[0]);
}

TEST(MiaSecMi, FlipAveragesTheMirroredImage) {
  auto ds = test::random_dataset(3, 8, 1, 22);
  auto unet = test::tiny_unet(8, 1, 10);
  model::UNet2DDenoiser d(unet);
  diffusion::NoiseSchedule sched;
  SecMiOptions o;
  o.t = 40;
  o.flip = true;
  auto got = secmi_errors(d, sched, ds, o);
  torch::NoGradGuard ng;
  for (int64_t i = 0; i < 3; ++i) {
    double want = (naive_secmi(unet, sched, image(ds, i), 40, 10) +
                   naive_secmi(unet, sched, image(ds, i).flip({3}), 40, 10)) / 2;
    EXPECT_NEAR(got[i], want, 1e-3 * want) << i;
  }
}

TEST(MiaSecMi, DdimMovesInvertEachOther) {
  diffusion::NoiseSchedule sched;
  torch::manual_seed(1);
  auto x = torch::randn({2, 1, 4, 4}), e = torch::randn({2, 1, 4, 4});
  auto there = ddim_move(sched, x, e, 90, 100);
  EXPECT_FALSE(torch::allclose(there, x));
  EXPECT_TRUE(torch::allclose(ddim_move(sched, there, e, 100, 90), x, 1e-5, 1e-5));
  // With the true noise, a move from 0 lands on add_noise's x_t (x0 = (x − √(1−a0) ε)/√a0).
  auto x0 = torch::randn({2, 1, 4, 4});
  auto x_at0 = diffusion::add_noise(sched, x0, e, torch::zeros({2}, torch::kLong));
  auto x_at50 = diffusion::add_noise(sched, x0, e, torch::full({2}, 50, torch::kLong));
  EXPECT_TRUE(torch::allclose(ddim_move(sched, x_at0, e, 0, 50), x_at50, 1e-5, 1e-5));
}

TEST(MiaSecMi, RejectsATimestepOffItsGrid) {
  auto ds = test::random_dataset(1, 8, 1, 23);
  model::UNet2DDenoiser d(test::tiny_unet(8, 1, 11));
  diffusion::NoiseSchedule sched;
  SecMiOptions o;
  o.t = 105;
  EXPECT_THROW(secmi_errors(d, sched, ds, o), Error);
  o.t = 0;
  EXPECT_THROW(secmi_errors(d, sched, ds, o), Error);
}

TEST(MiaPia, MatchesTheNaiveFormulaForL4AndL2) {
  auto ds = test::random_dataset(4, 8, 1, 24);
  auto unet = test::tiny_unet(8, 1, 12);
  model::UNet2DDenoiser d(unet);
  diffusion::NoiseSchedule sched;
  for (int p : {4, 2}) {
    PiaOptions o;
    o.p = p;
    o.batch = 3;
    auto got = pia_errors(d, sched, ds, o);
    torch::NoGradGuard ng;
    for (int64_t i = 0; i < 4; ++i) {
      double want = naive_pia(unet, sched, image(ds, i), 200, p);
      EXPECT_TRUE(std::isfinite(got[i]));
      EXPECT_GT(want, 0);
      EXPECT_NEAR(got[i], want, 1e-3 * want) << "p " << p << " image " << i;
    }
  }
}

TEST(MiaPia, RejectsAnUnsupportedNormAndTimestepZero) {
  auto ds = test::random_dataset(1, 8, 1, 25);
  model::UNet2DDenoiser d(test::tiny_unet(8, 1, 13));
  diffusion::NoiseSchedule sched;
  PiaOptions o;
  o.p = 3;
  EXPECT_THROW(pia_errors(d, sched, ds, o), Error);
  o.p = 4;
  o.t = 0;
  EXPECT_THROW(pia_errors(d, sched, ds, o), Error);
}

}  // namespace
}  // namespace diffmem::attack
