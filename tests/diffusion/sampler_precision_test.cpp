// --precision in sampling: the denoiser's forward under autocast, the noise and the scheduler's
// arithmetic in f32. bf16 is checked on the CPU; fp16 on CUDA (the _CUDA test).
#include <torch/torch.h>

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "diffmem/core/precision.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/model/unet2d.h"
#include "diffusion_test_util.h"

using namespace diffmem;
using namespace diffmem::diffusion;

namespace {

// A tiny random U-Net (convolutions, attention: what autocast changes), 8x8 grey.
model::UNet2DDenoiser precision_unet(const torch::Device& device = torch::kCPU) {
  model::UNet2DConfig c = model::UNet2DConfig::preset("tiny");
  c.sample_size = 8;
  torch::manual_seed(4);
  model::UNet2D net(c);
  net->to(device);
  net->eval();
  return model::UNet2DDenoiser(net);
}

SampleOptions ddim_at(const std::string& precision) {
  SampleOptions o;
  o.sampler = "ddim";
  o.steps = 8;
  o.precision = precision;
  return o;
}

}  // namespace

// One forward pass: bf16 keeps about 3 significant digits, so the noise prediction differs from
// f32's by about 1% of its scale.
TEST(SamplePrecision, Bf16ForwardIsWithinAFewPercentOfFp32) {
  model::UNet2DDenoiser unet = precision_unet();
  torch::NoGradGuard no_grad;
  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({4, 1, 8, 8}), t = torch::tensor({10, 200, 500, 900}, torch::kLong);
  const torch::Tensor a = unet.predict_noise(x, t);
  torch::Tensor b;
  {
    const core::AutocastGuard autocast("bf16", "cpu");
    b = unet.predict_noise(x, t);
  }
  EXPECT_EQ(b.scalar_type(), torch::kBFloat16);
  const double rel = test::max_abs_diff(a, b.to(torch::kFloat)) / a.abs().max().item<double>();
  std::printf("[ bf16 vs fp32 forward: max |diff| / max |eps| = %.3g ]\n", rel);
  EXPECT_GT(rel, 0.0);  // autocast acted
  EXPECT_LT(rel, 0.1);  // measured 0.034 (LibTorch 1.13, AVX2)
}

// The sampling loop: images in f32 whatever the precision, close to fp32's over a few steps (a
// random-weight U-Net is chaotic over many), and an fp32 run after a bf16 one is unchanged.
TEST(SamplePrecision, Bf16ImagesAreCloseToFp32AndStayF32) {
  model::UNet2DDenoiser unet = precision_unet();
  const auto seeds = image_seeds(3, 0, 4);
  SampleOptions o32 = ddim_at("fp32"), o16 = ddim_at("bf16");
  o32.steps = o16.steps = 2;
  const torch::Tensor a = sample(unet, NoiseSchedule(), seeds, o32);
  const torch::Tensor b = sample(unet, NoiseSchedule(), seeds, o16);
  EXPECT_EQ(b.scalar_type(), torch::kFloat);
  const double mean = (a - b).abs().mean().item<double>();
  std::printf("[ bf16 vs fp32, 2 DDIM steps: mean |diff| %.3g, max %.3g ]\n", mean, test::max_abs_diff(a, b));
  EXPECT_GT(mean, 0.0);
  EXPECT_LT(mean, 0.05);  // measured 0.0095
  EXPECT_TRUE(torch::equal(sample(unet, NoiseSchedule(), seeds, o32), a));
}

TEST(SamplePrecision, Fp16OffCudaAndUnknownPrecisionsAreRefused) {
  model::UNet2DDenoiser unet = precision_unet();
  EXPECT_THROW(sample(unet, NoiseSchedule(), image_seeds(0, 0, 1), ddim_at("fp16")), Error);
  EXPECT_THROW(validate(ddim_at("f16"), "sample options"), Error);
}

// Each precision on the GPU against fp32 on the CPU, same seeds (the noise is drawn on CPU
// generators), two DDIM steps as above. fp32 on the GPU may use TF32 convolutions (cuDNN's
// default), hence a tolerance of its own.
TEST(SamplePrecision, EachPrecisionOnTheGpuIsCloseToTheCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  model::UNet2DDenoiser cpu = precision_unet(), gpu = precision_unet(torch::Device(torch::kCUDA, 0));
  const auto seeds = image_seeds(3, 0, 4);
  SampleOptions o = ddim_at("fp32");
  o.steps = 2;
  const torch::Tensor a = sample(cpu, NoiseSchedule(), seeds, o);
  for (const char* p : {"fp32", "bf16", "fp16"}) {
    o.precision = p;
    const torch::Tensor b = sample(gpu, NoiseSchedule(), seeds, o);
    EXPECT_EQ(b.scalar_type(), torch::kFloat) << p;
    EXPECT_LT((a - b).abs().mean().item<double>(), o.precision == "fp32" ? 0.01 : 0.05) << p;
  }
}
