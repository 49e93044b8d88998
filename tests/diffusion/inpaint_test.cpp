#include "diffmem/diffusion/inpaint.h"

#include <gtest/gtest.h>

#include <cmath>

#include "diffmem/core/error.h"
#include "diffusion_test_util.h"

using namespace diffmem;
using namespace diffmem::diffusion;

namespace {

/// Knows the true images: returns the exact noise (x_t − sqrt(ab) x0) / sqrt(1 − ab) of x0[i]
/// for batch row i (so it must see the whole batch at once).
class PerfectDenoiser : public model::Denoiser {
 public:
  PerfectDenoiser(NoiseSchedule s, torch::Tensor x0) : s_(std::move(s)), x0_(std::move(x0)) {}
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override {
    EXPECT_EQ(x.size(0), x0_.size(0));
    auto ab = s_.alphas_cumprod().to(torch::kFloat64).index_select(0, t.cpu()).reshape({-1, 1, 1, 1});
    return ((x.to(torch::kFloat64) - ab.sqrt() * x0_.to(torch::kFloat64)) / (1 - ab).sqrt())
        .to(torch::kFloat32);
  }
  int64_t in_channels() const override { return x0_.size(1); }
  int64_t sample_size() const override { return x0_.size(2); }
  torch::Device device() const override { return torch::kCPU; }
  std::string describe() const override { return "perfect test double"; }

 private:
  NoiseSchedule s_;
  torch::Tensor x0_;
};

/// The ideal denoiser for data that is one of two images with equal probability: the posterior
/// mean of x0 weighs each image by the likelihood of x_t under it.
class TwoPointDenoiser : public model::Denoiser {
 public:
  TwoPointDenoiser(NoiseSchedule s, torch::Tensor a, torch::Tensor b)
      : s_(std::move(s)), a_(a.to(torch::kFloat64)), b_(b.to(torch::kFloat64)) {}
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override {
    auto ab = s_.alphas_cumprod().to(torch::kFloat64).index_select(0, t.cpu()).reshape({-1, 1, 1, 1});
    auto xd = x.to(torch::kFloat64);
    auto d = [&](const torch::Tensor& mu) {
      return (xd - ab.sqrt() * mu).pow(2).sum({1, 2, 3}, true) / (2 * (1 - ab));
    };
    auto wa = torch::sigmoid(d(b_) - d(a_));  // p(a | x_t)
    auto x0 = wa * a_ + (1 - wa) * b_;
    return ((xd - ab.sqrt() * x0) / (1 - ab).sqrt()).to(torch::kFloat32);
  }
  int64_t in_channels() const override { return a_.size(0); }
  int64_t sample_size() const override { return a_.size(1); }
  torch::Device device() const override { return torch::kCPU; }
  std::string describe() const override { return "two-point test double"; }

 private:
  NoiseSchedule s_;
  torch::Tensor a_, b_;
};

/// Records every input it is given, answers like the affine double.
class RecordingDenoiser : public test::AffineDenoiser {
 public:
  using AffineDenoiser::AffineDenoiser;
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override {
    inputs.push_back(x.clone());
    timesteps.push_back(t[0].item<int64_t>());
    return AffineDenoiser::predict_noise(x, t);
  }
  std::vector<torch::Tensor> inputs;
  std::vector<int64_t> timesteps;
};

torch::Tensor images(int64_t n, int64_t c, int64_t s, uint64_t seed) {
  auto g = make_cpu_generator(seed);
  return at::rand({n, c, s, s}, g, torch::kFloat32) * 1.8 - 0.9;
}

/// 1 = known: the right half of every image, and for image 1 also its top-left corner.
torch::Tensor per_image_mask(int64_t n, int64_t s) {
  auto m = torch::zeros({n, 1, s, s});
  m.slice(3, s / 2, s).fill_(1);
  if (n > 1) m[1].slice(1, 0, s / 4).slice(2, 0, s / 4).fill_(1);
  return m;
}

InpaintOptions inpaint_opts(const std::string& sampler, int64_t steps, int64_t r = 1) {
  InpaintOptions o;
  o.sampler = sampler;
  o.steps = steps;
  o.resample_jumps = r;
  return o;
}

}  // namespace

// A denoiser that knows the images leads every sampler back to them, unknown region included.
TEST(Inpaint, PerfectDenoiserReconstructsTheOriginal) {
  NoiseSchedule s;
  auto x0 = images(3, 2, 8, 7);
  for (auto o : {inpaint_opts("ddpm", 1000), inpaint_opts("ddpm", 100), inpaint_opts("ddim", 50), inpaint_opts("ddim", 20, 3)}) {
    SCOPED_TRACE(o.sampler + " steps=" + std::to_string(o.steps) +
                 " r=" + std::to_string(o.resample_jumps));
    PerfectDenoiser model(s, x0);
    auto out = inpaint(model, s, x0, per_image_mask(3, 8), {1, 2, 3}, o);
    ASSERT_EQ(out.sizes(), x0.sizes());
    EXPECT_LT(test::max_abs_diff(out, x0), 1e-4);
  }
}

// Whatever the denoiser says, the known pixels come back bit for bit; the others change.
TEST(Inpaint, KnownRegionIsNeverAltered) {
  NoiseSchedule s;
  auto x0 = images(3, 2, 8, 11);
  auto mask = per_image_mask(3, 8);
  auto keep = (mask > 0.5).expand({3, 2, 8, 8});
  for (auto o : {inpaint_opts("ddpm", 30), inpaint_opts("ddim", 10, 2)}) {
    test::AffineDenoiser model(2, 8);
    auto out = inpaint(model, s, x0, mask, {5, 6, 7}, o);
    EXPECT_TRUE(torch::equal(out.masked_select(keep), x0.masked_select(keep)));
    EXPECT_GT((out - x0).abs().masked_select(keep.logical_not()).min().item<double>(), 0.0);
    EXPECT_LE(out.abs().max().item<double>(), 1.0);
  }
  // One mask for the whole batch ([1,1,H,W]) as well.
  auto one = per_image_mask(1, 8);
  test::AffineDenoiser model(2, 8);
  auto out = inpaint(model, s, x0, one, {5, 6, 7}, inpaint_opts("ddim", 10));
  auto k1 = (one > 0.5).expand({3, 2, 8, 8});
  EXPECT_TRUE(torch::equal(out.masked_select(k1), x0.masked_select(k1)));
}

// Data is one of two flat images (+0.8 or −0.8). Knowing half of the image decides which: the
// inpainted half must follow the known half for every seed, which only happens when the known
// region steers each step (plain sampling would pick either image).
TEST(Inpaint, UnknownHalfFollowsTheKnownHalf) {
  NoiseSchedule s;
  auto a = torch::full({1, 8, 8}, 0.8f), b = torch::full({1, 8, 8}, -0.8f);
  std::vector<uint64_t> seeds = {0, 1, 2, 3, 4, 5, 6, 7};
  auto known = torch::cat({a.expand({4, 1, 8, 8}), b.expand({4, 1, 8, 8})}, 0);
  auto mask = torch::zeros({1, 1, 8, 8});
  mask.slice(3, 0, 4).fill_(1);  // left half known
  for (auto o : {inpaint_opts("ddpm", 100), inpaint_opts("ddim", 25), inpaint_opts("ddim", 25, 4)}) {
    SCOPED_TRACE(o.sampler + " r=" + std::to_string(o.resample_jumps));
    TwoPointDenoiser model(s, a, b);
    auto out = inpaint(model, s, known, mask, seeds, o);
    auto right = out.slice(3, 4, 8);
    EXPECT_LT((right.slice(0, 0, 4) - 0.8).abs().max().item<double>(), 0.05);
    EXPECT_LT((right.slice(0, 4, 8) + 0.8).abs().max().item<double>(), 0.05);
  }
}

// Every denoiser input carries the known region at the input's own noise level:
// (x_t − sqrt(ab_t) x0) / sqrt(1 − ab_t) is standard normal there — after a plain step and after a
// resampling jump back up.
TEST(Inpaint, KnownRegionIsNoisedToTheCurrentTimestep) {
  NoiseSchedule s;
  const int64_t n = 4, S = 32;
  auto x0 = torch::full({n, 1, S, S}, 0.9f);
  auto mask = torch::zeros({1, 1, S, S});
  mask.slice(3, 0, S / 2).fill_(1);
  auto keep = (mask > 0.5).expand({n, 1, S, S});
  for (auto o : {inpaint_opts("ddim", 10, 3), inpaint_opts("ddpm", 10, 2)}) {
    SCOPED_TRACE(o.sampler);
    RecordingDenoiser model(1, S);
    inpaint(model, s, x0, mask, {1, 2, 3, 4}, o);
    ASSERT_EQ(static_cast<int64_t>(model.inputs.size()), inpaint_forwards(s, o));
    for (size_t k = 0; k < model.inputs.size(); ++k) {
      const double ab = s.alpha_cumprod(model.timesteps[k]);
      auto z = ((model.inputs[k].to(torch::kFloat64) - std::sqrt(ab) * 0.9) / std::sqrt(1 - ab))
                   .masked_select(keep);
      const double cnt = static_cast<double>(z.numel());
      SCOPED_TRACE("call " + std::to_string(k) + " t=" + std::to_string(model.timesteps[k]));
      EXPECT_LT(std::abs(z.mean().item<double>()), 5 / std::sqrt(cnt));
      EXPECT_NEAR(z.var().item<double>(), 1.0, 0.15);
    }
  }
}

// RePaint's schedule: each step r times, the last step (to x_0) once.
TEST(Inpaint, ResamplingRepeatsEachStep) {
  NoiseSchedule s;
  auto x0 = images(2, 1, 4, 3);
  auto mask = per_image_mask(1, 4);
  RecordingDenoiser model(1, 4);
  auto o = inpaint_opts("ddim", 5, 3);
  inpaint(model, s, x0, mask, {1, 2}, o);
  std::vector<int64_t> want;
  for (int64_t t : {800, 600, 400, 200})
    for (int k = 0; k < 3; ++k) want.push_back(t);
  want.push_back(0);
  EXPECT_EQ(model.timesteps, want);
  EXPECT_EQ(inpaint_forwards(s, o), 13);
  EXPECT_EQ(inpaint_forwards(s, inpaint_opts("ddpm", 1000)), 1000);
  EXPECT_EQ(inpaint_forwards(s, inpaint_opts("ddpm", 100, 10)), 99 * 10 + 1);
}

// Same seeds → same bytes, whatever the batching; another seed → another completion.
TEST(Inpaint, SeededAndIndependentOfBatching) {
  NoiseSchedule s;
  auto x0 = images(5, 1, 8, 1);
  auto mask = per_image_mask(5, 8);
  std::vector<uint64_t> seeds = {10, 11, 12, 13, 14};
  for (auto o : {inpaint_opts("ddpm", 20, 2), inpaint_opts("ddim", 10)}) {
    test::AffineDenoiser model(1, 8);
    o.batch = 5;
    auto a = inpaint(model, s, x0, mask, seeds, o);
    auto b = inpaint(model, s, x0, mask, seeds, o);
    o.batch = 2;
    auto c = inpaint(model, s, x0, mask, seeds, o);
    EXPECT_TRUE(torch::equal(a, b));
    EXPECT_TRUE(torch::equal(a, c));
    // Image 2 alone, from its own seed, is the same image.
    auto one = inpaint(model, s, x0.slice(0, 2, 3), mask.slice(0, 2, 3), {12}, o);
    EXPECT_TRUE(torch::equal(one, a.slice(0, 2, 3)));
    auto d = inpaint(model, s, x0, mask, {10, 11, 99, 13, 14}, o);
    EXPECT_TRUE(torch::equal(d.slice(0, 0, 2), a.slice(0, 0, 2)));
    EXPECT_FALSE(torch::equal(d.slice(0, 2, 3), a.slice(0, 2, 3)));
  }
}

TEST(Inpaint, RejectsBadInput) {
  NoiseSchedule s;
  test::AffineDenoiser model(1, 8);
  auto x0 = images(2, 1, 8, 1);
  auto mask = per_image_mask(2, 8);
  auto o = inpaint_opts("ddim", 5);
  EXPECT_THROW(inpaint(model, s, x0, mask, {1}, o), Error);                                  // seeds
  EXPECT_THROW(inpaint(model, s, x0, torch::ones({2, 1, 4, 4}), {1, 2}, o), Error);           // size
  EXPECT_THROW(inpaint(model, s, x0, torch::ones({3, 1, 8, 8}), {1, 2}, o), Error);           // N
  EXPECT_THROW(inpaint(model, s, x0, torch::full({2, 1, 8, 8}, 0.5), {1, 2}, o), Error);      // 0/1
  EXPECT_THROW(inpaint(model, s, images(2, 3, 8, 1), mask, {1, 2}, o), Error);                // C
  auto bad = o;
  bad.resample_jumps = 0;
  EXPECT_THROW(inpaint(model, s, x0, mask, {1, 2}, bad), Error);
  bad = o;
  bad.sampler = "euler";
  EXPECT_THROW(inpaint(model, s, x0, mask, {1, 2}, bad), Error);
  try {
    inpaint(model, s, x0, torch::ones({2, 1, 4, 4}), {1, 2}, o);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mask"), std::string::npos) << e.what();
  }
}

TEST(Inpaint, OptionsRoundTripThroughJson) {
  InpaintOptions o = inpaint_opts("ddpm", 250, 5);
  o.clip = false;
  o.batch = 7;
  auto back = io::read_options<InpaintOptions>(io::fields_json(o), "test");
  EXPECT_EQ(back.sampler, "ddpm");
  EXPECT_EQ(back.steps, 250);
  EXPECT_EQ(back.resample_jumps, 5);
  EXPECT_EQ(back.batch, 7);
  ASSERT_TRUE(back.clip.has_value());
  EXPECT_FALSE(*back.clip);
  EXPECT_EQ(io::read_options<InpaintOptions>(io::Json::object(), "test").steps, InpaintOptions{}.steps);
  EXPECT_THROW(io::read_options<InpaintOptions>({{"resample_jumps", 0}}, "test"), Error);
  EXPECT_THROW(io::read_options<InpaintOptions>({{"resample_jumps", "2"}}, "test"), Error);
}
