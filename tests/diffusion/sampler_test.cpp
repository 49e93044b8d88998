#include "diffmem/diffusion/sampler.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/ddim.h"
#include "diffmem/diffusion/ddpm.h"
#include "diffmem/diffusion/noise.h"
#include "diffusion_test_util.h"

using namespace diffmem;
using namespace diffmem::diffusion;

// The whole loop of diffusers' DDPMPipeline / DDIMPipeline with one generator per image, run in
// Python with the same affine test double: same initial noise, same per-step noise, same images.
TEST(Sample, MatchesDiffusersPipelinesWithPerImageGenerators) {
  int n = 0;
  for (const auto& e : test::scheduler_reference().at("pipelines")) {
    SchedulerConfig c;
    c.variance_type = e.at("variance_type").get<std::string>();
    c.timestep_spacing = e.at("timestep_spacing").get<std::string>();
    SampleOptions o;
    o.sampler = e.at("sampler").get<std::string>();
    o.steps = e.at("steps").get<int64_t>();
    o.eta = e.at("eta").get<double>();
    o.batch = 2;  // the reference drew all three at once: batching must not matter
    auto seeds = e.at("seeds").get<std::vector<uint64_t>>();
    SCOPED_TRACE(o.sampler + " steps=" + std::to_string(o.steps) + " eta=" + std::to_string(o.eta));
    test::AffineDenoiser model(1, 4);
    auto x = sample(model, NoiseSchedule(c), seeds, o);
    auto ref = test::ref_tensor(e.at("final"));
    ASSERT_EQ(x.sizes(), ref.sizes());
    // 1000 chained steps keep float32 rounding differences below 1e-5 too (observed: 0 or ~1e-7).
    double d = test::max_abs_diff(x, ref.clamp(-1, 1));
    EXPECT_LT(d, 1e-5);
    std::printf("[ %s %lld steps: max |diff| vs diffusers' pipeline = %.3g ]\n", o.sampler.c_str(),
                static_cast<long long>(o.steps), d);
    auto u8 = to_uint8_nhwc(x);
    EXPECT_TRUE(torch::equal(u8, test::ref_tensor(e.at("uint8_nhwc"), torch::kUInt8)));
    EXPECT_EQ(model.calls, 2 * o.steps);  // two batches (2 + 1 images), one call per step each
    ++n;
  }
  EXPECT_EQ(n, 4);
}

namespace {

torch::Tensor target_point() {
  return torch::linspace(-0.9, 0.9, 3 * 8 * 8, torch::kFloat32).reshape({3, 8, 8});
}

}  // namespace

// Data distribution = one point x*: the ideal eps is (x_t - sqrt(ab) x*) / sqrt(1 - ab), and every
// sampler must land on x*.
TEST(Sample, PointMassDataEndsAtThePoint) {
  NoiseSchedule s;
  auto x_star = target_point();
  test::GaussianDataDenoiser model(s, x_star, 0.0);
  struct Case {
    const char* sampler;
    int64_t steps;
    double eta;
  } cases[] = {{"ddpm", 1000, 0.0}, {"ddpm", 100, 0.0}, {"ddim", 50, 0.0}, {"ddim", 20, 1.0}};
  for (const auto& c : cases) {
    SampleOptions o;
    o.sampler = c.sampler;
    o.steps = c.steps;
    o.eta = c.eta;
    auto x = sample(model, s, image_seeds(0, 0, 4), o);
    ASSERT_EQ(x.sizes(), (std::vector<int64_t>{4, 3, 8, 8}));
    EXPECT_LT(test::max_abs_diff(x, x_star.expand({4, 3, 8, 8})), 1e-4)
        << c.sampler << " steps=" << c.steps << " eta=" << c.eta;
  }
}

namespace {

struct Moments {
  double mean, sd;
};

// Per pixel, with the ideal eps of N(mu, s^2) data every step is affine in x_t:
// d' = r d + sigma z for d = x_t - sqrt(ab_t) mu. Derived here in double from the papers' formulas
// (not from the library's code): DDPM posterior mean with x0_hat = E[x0 | x_t], DDIM's update.
Moments predicted_moments(const NoiseSchedule& s, const std::vector<int64_t>& ts, bool ddim,
                          double eta, bool fixed_large, double mu, double sd) {
  auto ab_at = [&](int64_t t) { return t >= 0 ? double(s.alpha_cumprod(t)) : 1.0; };
  double m = -std::sqrt(ab_at(ts[0])) * mu, var = 1.0;  // x_T ~ N(0, 1)
  for (size_t i = 0; i < ts.size(); ++i) {
    int64_t t = ts[i];
    int64_t prev = ddim ? t - s.num_train_timesteps() / int64_t(ts.size())
                        : (i + 1 < ts.size() ? ts[i + 1] : -1);
    double ab = ab_at(t), abp = ab_at(prev);
    double v = ab * sd * sd + 1 - ab;                    // Var[x_t]
    double x0_gain = std::sqrt(ab) * sd * sd / v;        // x0_hat - mu = x0_gain * d
    double eps_gain = std::sqrt(1 - ab) / v;             // eps_hat = eps_gain * d
    double r, sigma2;
    if (ddim) {
      sigma2 = eta * eta * (1 - abp) / (1 - ab) * (1 - ab / abp);
      r = std::sqrt(abp) * x0_gain + std::sqrt(1 - abp - sigma2) * eps_gain;
    } else {
      double beta = 1 - ab / abp;
      double c0 = std::sqrt(abp) * beta / (1 - ab), c1 = std::sqrt(1 - beta) * (1 - abp) / (1 - ab);
      r = c0 * x0_gain + c1;
      sigma2 = t == 0 ? 0.0 : (fixed_large ? beta : (1 - abp) / (1 - ab) * beta);
    }
    m = r * m;
    var = r * r * var + sigma2;
  }
  return {mu + m, std::sqrt(var)};  // the last step lands at alpha-bar 1: x = mu + d
}

}  // namespace

// Data ~ N(0.3, 0.2^2) per pixel with its ideal eps: sample mean and spread must match the exact
// moments of each sampler's chain. This catches what a point mass cannot (a wrong variance, a
// missing or extra noise term), and shows DDIM's known shrinkage at few steps.
TEST(Sample, GaussianDataGivesTheChainsExactMoments) {
  SchedulerConfig cfg;
  cfg.clip_sample = false;
  const double mu = 0.3, sd = 0.2;
  struct Case {
    const char* sampler;
    const char* variance;
    int64_t steps;
    double eta;
  } cases[] = {{"ddpm", "fixed_small", 1000, 0.0}, {"ddpm", "fixed_large", 1000, 0.0},
               {"ddpm", "fixed_small", 20, 0.0},   {"ddpm", "fixed_large", 20, 0.0},
               {"ddim", "fixed_small", 50, 0.0},   {"ddim", "fixed_small", 10, 1.0}};
  for (const auto& c : cases) {
    SchedulerConfig cc = cfg;
    cc.variance_type = c.variance;
    NoiseSchedule s(cc);
    test::GaussianDataDenoiser model(s, torch::full({3, 8, 8}, float(mu)), sd);
    SampleOptions o;
    o.sampler = c.sampler;
    o.steps = c.steps;
    o.eta = c.eta;
    auto x = sample(model, s, image_seeds(1, 0, 32), o).to(torch::kFloat64);
    auto expect = predicted_moments(s, make_scheduler(s, o)->timesteps(), o.sampler == "ddim", c.eta,
                                    std::string(c.variance) == "fixed_large", mu, sd);
    // 6144 independent draws: standard errors ~0.0026 (mean) and ~0.0019 (spread); 4 sigma.
    EXPECT_NEAR(x.mean().item<double>(), expect.mean, 0.011)
        << c.sampler << " " << c.variance << " steps=" << c.steps << " eta=" << c.eta;
    EXPECT_NEAR(x.std().item<double>(), expect.sd, 0.008)
        << c.sampler << " " << c.variance << " steps=" << c.steps << " eta=" << c.eta;
    std::printf("[ %s %s steps=%lld eta=%.1f: mean %.4f (exact %.4f), sd %.4f (exact %.4f) ]\n",
                c.sampler, c.variance, (long long)c.steps, c.eta, x.mean().item<double>(),
                expect.mean, x.std().item<double>(), expect.sd);
  }
}

TEST(Sample, EachImageDependsOnlyOnItsOwnSeed) {
  test::AffineDenoiser model(3, 8);
  NoiseSchedule s;
  auto seeds = image_seeds(42, 0, 8);
  for (const char* sampler : {"ddpm", "ddim"}) {
    SampleOptions o;
    o.sampler = sampler;
    o.steps = 20;
    o.eta = std::string(sampler) == "ddim" ? 1.0 : 0.0;  // ddim with noise, so seeds matter per step
    o.batch = 8;
    auto all = sample(model, s, seeds, o);
    o.batch = 5;
    auto first3 = sample(model, s, std::vector<uint64_t>(seeds.begin(), seeds.begin() + 3), o);
    auto last5 = sample(model, s, std::vector<uint64_t>(seeds.begin() + 3, seeds.end()), o);
    EXPECT_TRUE(torch::equal(all, torch::cat({first3, last5}, 0))) << sampler;
    o.batch = 3;
    EXPECT_TRUE(torch::equal(all, sample(model, s, seeds, o))) << sampler;
    // Image 5 alone, and image 5's seed placed first in another batch.
    EXPECT_TRUE(torch::equal(all[5], sample(model, s, {seeds[5]}, o)[0])) << sampler;
    EXPECT_TRUE(torch::equal(all[5], sample(model, s, {seeds[5], 999}, o)[0])) << sampler;
    // Different seeds, different images.
    EXPECT_GT(test::max_abs_diff(all[0], all[1]), 0.1) << sampler;
  }
}

// The noise comes from CPU generators whatever the device, so a GPU run makes the same images
// (up to float rounding of the device's kernels).
TEST(Sample, SameImagesOnTheGpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  test::AffineDenoiser cpu(3, 8), gpu(3, 8, torch::Device(torch::kCUDA, 0));
  for (const char* sampler : {"ddpm", "ddim"}) {
    SampleOptions o;
    o.sampler = sampler;
    o.steps = 50;
    o.eta = std::string(sampler) == "ddim" ? 1.0 : 0.0;
    auto a = sample(cpu, NoiseSchedule(), image_seeds(5, 0, 6), o);
    auto b = sample(gpu, NoiseSchedule(), image_seeds(5, 0, 6), o);
    EXPECT_TRUE(b.device().is_cpu());
    EXPECT_LT(test::max_abs_diff(a, b), 1e-4) << sampler;
  }
}

// A non-square model (diffusers' sample_size [H, W]): noise of its shape, and each image the same
// as in a batch of its own.
TEST(Sample, NonSquareModelsGetNonSquareNoise) {
  class Wide : public test::AffineDenoiser {
   public:
    Wide() : AffineDenoiser(1, 4) {}
    int64_t sample_width() const override { return 8; }
  } model;
  SampleOptions o;
  o.sampler = "ddim";
  o.steps = 3;
  o.batch = 2;
  const torch::Tensor x = sample(model, NoiseSchedule(), {5, 6}, o);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{2, 1, 4, 8}));
  o.batch = 1;
  EXPECT_TRUE(torch::equal(sample(model, NoiseSchedule(), {6}, o)[0], x[1]));
}

TEST(Sample, ReportsProgressAndHandlesNoImages) {
  test::AffineDenoiser model(1, 4);
  SampleOptions o;
  o.sampler = "ddim";
  o.steps = 10;
  o.batch = 2;
  std::vector<ProgressEvent> events;
  auto x = sample(model, NoiseSchedule(), image_seeds(0, 0, 5), o,
                  [&](const ProgressEvent& e) { events.push_back(e); });
  EXPECT_EQ(x.size(0), 5);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.back().finished);
  EXPECT_EQ(events.back().stage, "sample");
  EXPECT_EQ(events.back().total, 30);  // 3 batches × 10 steps
  EXPECT_EQ(events.back().done, 30);
  auto none = sample(model, NoiseSchedule(), {}, o);
  EXPECT_EQ(none.sizes(), (std::vector<int64_t>{0, 1, 4, 4}));
}

TEST(Sample, ClipOptionOverridesTheConfig) {
  SchedulerConfig no_clip;
  no_clip.clip_sample = false;
  SampleOptions o;
  o.clip = true;
  o.steps = 10;
  auto a = make_scheduler(NoiseSchedule(no_clip), o);
  SampleOptions ten;
  ten.steps = 10;
  auto b = make_scheduler(NoiseSchedule(), ten);
  auto x = torch::full({1, 1, 2, 2}, 5.0f), eps = torch::zeros({1, 1, 2, 2});
  auto n = torch::zeros({1, 1, 2, 2});
  EXPECT_TRUE(torch::equal(a->step(eps, 900, x, n).pred_original_sample,
                           b->step(eps, 900, x, n).pred_original_sample));
  EXPECT_EQ(b->step(eps, 900, x, n).pred_original_sample.max().item<float>(), 1.0f);
  // Defaults: every training step for ddpm, 50 for ddim (diffusers' pipeline defaults).
  EXPECT_EQ(make_scheduler(NoiseSchedule(), SampleOptions{})->timesteps().size(), 1000u);
  SampleOptions ddim;
  ddim.sampler = "ddim";
  EXPECT_EQ(make_scheduler(NoiseSchedule(), ddim)->timesteps().size(), 50u);
}

TEST(SampleOptionsJson, RoundTripsAndRejectsBadValues) {
  SampleOptions o;
  o.sampler = "ddim";
  o.steps = 25;
  o.eta = 0.5;
  o.clip = false;
  o.batch = 16;
  auto r = io::read_options<SampleOptions>(io::fields_json(o), "opts.json");
  EXPECT_EQ(r.sampler, "ddim");
  EXPECT_EQ(r.steps, 25);
  EXPECT_EQ(r.eta, 0.5);
  ASSERT_TRUE(r.clip.has_value());
  EXPECT_FALSE(*r.clip);
  EXPECT_EQ(r.batch, 16);
  EXPECT_FALSE(io::read_options<SampleOptions>(io::fields_json(SampleOptions{}), "x").clip.has_value());
  for (const char* bad : {R"({"sampler": "euler"})", R"({"steps": -1})", R"({"steps": "10"})",
                          R"({"batch": 0})", R"({"eta": 1.0})", R"({"clip": 1})"}) {
    try {
      io::read_options<SampleOptions>(io::Json::parse(bad), "opts.json");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("opts.json: "), std::string::npos) << e.what();
    }
  }
  SampleOptions too_many;
  too_many.steps = 1001;
  test::AffineDenoiser model(1, 4);
  EXPECT_THROW(sample(model, NoiseSchedule(), {1}, too_many), Error);
}

TEST(PixelConversion, RoundsLikeDiffusersAndInvertsExactly) {
  auto x = torch::tensor({-1.5f, -1.0f, 0.0f, 1.0f, 2.0f, 1.0f / 255, -0.5f}).reshape({1, 7, 1, 1});
  auto u8 = to_uint8_nhwc(x);
  ASSERT_EQ(u8.sizes(), (std::vector<int64_t>{1, 1, 1, 7}));
  // 0 → 127.5 → 128 (half to even), 1/255 → 128.0, -0.5 → 63.75 → 64.
  std::vector<int> expected = {0, 0, 128, 255, 255, 128, 64};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(u8[0][0][0][i].item<int>(), expected[i]) << i;
  auto all = torch::arange(256, torch::kLong).to(torch::kUInt8).reshape({1, 4, 8, 8});
  auto f = from_uint8_nhwc(all);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{1, 8, 4, 8}));
  EXPECT_FLOAT_EQ(f.min().item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(f.max().item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(to_uint8_nhwc(f), all));
  EXPECT_THROW(to_uint8_nhwc(torch::zeros({2, 2})), Error);
  EXPECT_THROW(from_uint8_nhwc(torch::zeros({1, 2, 2, 3})), Error);
}
