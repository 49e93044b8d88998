// The text-to-image pipeline against diffusers' StableDiffusionPipeline on tiny random-weight
// folders written by save_pretrained (make_sd_pipeline_reference.py): SD-1.x-shaped (PNDM,
// epsilon) and SD-2.x-shaped (DDIM, v-prediction, linear projections, "!" padding). Prompt
// embeddings to 1e-4, and the images of two prompts with and without guidance and with a negative
// prompt within one uint8 level on at least 99.9% of their values.
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/diffusion/sd_scheduler.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "test_support.h"

namespace diffmem::diffusion {
namespace {
namespace fs = std::filesystem;

const std::vector<std::string> kPrompts = {"a photo of an astronaut riding a horse",
                                           "an oil painting of a cat, highly detailed"};

fs::path sd_pipeline_reference(const std::string& name) {
  return fs::path(test::source_dir()) / "tests" / "reference" / "model" / name;
}

std::map<std::string, torch::Tensor> reference_tensors(const std::string& name) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, a] : io::read_safetensors(sd_pipeline_reference(name + "_images.safetensors")).tensors)
    out[k] = io::to_tensor(a);
  return out;
}

// The reference runs' settings: 32x32 images (8x8 latents), `steps` steps.
SdPipelineOptions tiny_options(int64_t steps = 10) {
  SdPipelineOptions o;
  o.steps = steps;
  o.height = o.width = 32;
  return o;
}

// Share of values within one uint8 level, and the largest difference.
std::pair<double, int64_t> closeness(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor d = (a.to(torch::kInt32) - b.to(torch::kInt32)).abs();
  return {d.le(1).to(torch::kFloat64).mean().item<double>(), d.max().item<int64_t>()};
}

// One pipeline per reference folder, opened once for the whole suite.
class SdPipelineTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { pipes_.clear(); }
  const SdPipeline& pipe() {
    auto it = pipes_.find(GetParam());
    if (it == pipes_.end())
      it = pipes_.emplace(GetParam(), std::make_unique<SdPipeline>(SdPipeline::load(sd_pipeline_reference(GetParam())))).first;
    return *it->second;
  }
  static std::map<std::string, std::unique_ptr<SdPipeline>> pipes_;
};
std::map<std::string, std::unique_ptr<SdPipeline>> SdPipelineTest::pipes_;

TEST_P(SdPipelineTest, PromptEmbeddingsMatchDiffusers) {
  const auto ref = reference_tensors(GetParam());
  const torch::Tensor e = pipe().encode(kPrompts);
  EXPECT_LT((e - ref.at("prompt_embeds")).abs().max().item<double>(), 1e-4);
  EXPECT_LT((pipe().encode({""}) - ref.at("uncond_embeds")).abs().max().item<double>(), 1e-4);
}

TEST_P(SdPipelineTest, ImagesMatchDiffusersWithAndWithoutGuidance) {
  const auto ref = reference_tensors(GetParam());
  const SdPipeline& p = pipe();
  SdPipelineOptions o = tiny_options();
  o.batch = 2;  // as the reference ran (a batch's kernels round alike)
  for (const auto& [run, scale] : {std::pair<std::string, double>{"cfg", 7.5}, {"nocfg", 1.0}}) {
    o.guidance_scale = scale;
    const torch::Tensor img = p.generate(kPrompts, {0, 1}, o);
    ASSERT_EQ(img.sizes(), ref.at(run + "_images").sizes()) << run;
    const auto [share, worst] = closeness(img, ref.at(run + "_images"));
    EXPECT_GE(share, 0.999) << run << ": largest difference " << worst;
    EXPECT_GT(ref.at(run + "_images").to(torch::kFloat32).std().item<double>(), 5.0) << "not flat";
  }
  // Guidance changes the images, and the seed does.
  o.guidance_scale = 7.5;
  const torch::Tensor a = p.generate({kPrompts[0]}, {0}, o), b = p.generate({kPrompts[0]}, {5}, o);
  EXPECT_LT(closeness(a, b).first, 0.9);
}

TEST_P(SdPipelineTest, NegativePromptMatchesDiffusers) {
  const auto ref = reference_tensors(GetParam());
  const SdPipeline& p = pipe();
  SdPipelineOptions o = tiny_options();
  const torch::Tensor img = p.generate({kPrompts[0]}, {0}, o, {"blurry, low quality"});
  const auto [share, worst] = closeness(img, ref.at("neg_images"));
  EXPECT_GE(share, 0.999) << "largest difference " << worst;
}

INSTANTIATE_TEST_SUITE_P(Diffusers, SdPipelineTest, ::testing::Values("sd_tiny_v1", "sd_tiny_v2"));

TEST(SdPipeline, BadFoldersAreOneLineErrorsNamingThePart) {
  test::TempDir tmp;
  EXPECT_NE(test::error_of([&] { SdPipeline::load(tmp.path()); }).find("model_index.json"), std::string::npos);
  const fs::path src = sd_pipeline_reference("sd_tiny_v1");
  fs::copy(src, tmp / "p", fs::copy_options::recursive);
  fs::remove_all(tmp / "p" / "vae");
  EXPECT_NE(test::error_of([&] { SdPipeline::load(tmp / "p"); }).find("vae/"), std::string::npos);
  fs::copy(src / "vae", tmp / "p" / "vae", fs::copy_options::recursive);
  fs::remove(tmp / "p" / "tokenizer" / "merges.txt");
  fs::remove(tmp / "p" / "tokenizer" / "tokenizer.json");
  const std::string e = test::error_of([&] { SdPipeline::load(tmp / "p"); });
  EXPECT_NE(e.find("tokenizer"), std::string::npos) << e;
}

// The same weights as an original single-file checkpoint (CompVis names; SD 2.x's text encoder in
// OpenCLIP's layout with stacked q/k/v and one unused last layer): the same embeddings and images.
TEST(SdPipeline, SingleFileCheckpointsGiveTheFoldersImages) {
  for (const std::string name : {"sd_tiny_v1", "sd_tiny_v2"}) {
    SCOPED_TRACE(name);
    const SdPipeline folder = SdPipeline::load(sd_pipeline_reference(name));
    const SdPipeline single = SdPipeline::load(sd_pipeline_reference(name), torch::kCPU, sd_pipeline_reference(name + "_single.safetensors"));
    EXPECT_TRUE(torch::equal(folder.encode(kPrompts), single.encode(kPrompts)));
    SdPipelineOptions o = tiny_options(3);
    EXPECT_TRUE(torch::equal(folder.generate({kPrompts[0]}, {0}, o), single.generate({kPrompts[0]}, {0}, o)));
  }
  // A truncated file and a pickle are refused naming the file.
  test::TempDir tmp;
  const fs::path cut = tmp / "cut.safetensors";
  fs::copy_file(sd_pipeline_reference("sd_tiny_v1_single.safetensors"), cut);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  std::string e = test::error_of([&] { SdPipeline::load(sd_pipeline_reference("sd_tiny_v1"), torch::kCPU, cut); });
  EXPECT_NE(e.find("cut.safetensors"), std::string::npos) << e;
  test::write_bytes(tmp / "model.ckpt", "not read");
  e = test::error_of([&] { SdPipeline::load(sd_pipeline_reference("sd_tiny_v1"), torch::kCPU, tmp / "model.ckpt"); });
  EXPECT_NE(e.find("pickle"), std::string::npos) << e;
  // SD 1.x weights against SD 2.x configs: a shape mismatch naming the tensor.
  e = test::error_of([&] {
    SdPipeline::load(sd_pipeline_reference("sd_tiny_v2"), torch::kCPU, sd_pipeline_reference("sd_tiny_v1_single.safetensors"));
  });
  EXPECT_NE(e.find("sd_tiny_v1_single.safetensors"), std::string::npos) << e;
}

TEST(SdPipeline, SamplerSwitchRunsEveryScheduler) {
  const SdPipeline p = SdPipeline::load(sd_pipeline_reference("sd_tiny_v1"));
  SdPipelineOptions o = tiny_options(4);
  std::vector<torch::Tensor> images;
  for (const std::string& s : sd_sampler_names()) {
    o.sampler = s;
    images.push_back(p.generate({kPrompts[0]}, {0}, o));
    EXPECT_GT(images.back().to(torch::kFloat32).std().item<double>(), 1.0) << s;
  }
  // pndm is the folder's own scheduler: the same bytes as no switch at all.
  o.sampler = "";
  EXPECT_TRUE(torch::equal(images[0], p.generate({kPrompts[0]}, {0}, o)));
  EXPECT_FALSE(torch::equal(images[0], images[4])) << "dpmpp_2m differs from pndm";
  o.sampler = "lms";
  EXPECT_NE(test::error_of([&] { p.generate({kPrompts[0]}, {0}, o); }).find("dpmpp_2m"), std::string::npos);
}

// The fp16 variant alone (save_pretrained(variant="fp16")): diffusers' images from the same
// files widened to F32 (make_sd_fp16_reference.py), and close to the F32 folder's.
TEST(SdPipeline, Fp16VariantAloneGivesDiffusersImages) {
  test::TempDir tmp;
  const fs::path src = sd_pipeline_reference("sd_tiny_v1");
  fs::copy(src, tmp / "p", fs::copy_options::recursive);
  for (const char* f : {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
                        "text_encoder/model.safetensors"})
    fs::remove(tmp / "p" / f);
  SdPipeline half = SdPipeline::load(tmp / "p");
  SdPipelineOptions o = tiny_options();
  o.batch = 2;
  const auto ref = reference_tensors("sd_tiny_v1_fp16");
  const torch::Tensor a = half.generate(kPrompts, {0, 1}, o);
  const auto [share, worst] = closeness(a, ref.at("cfg_images"));
  EXPECT_GE(share, 0.999) << "largest difference " << worst;
  const torch::Tensor b = SdPipeline::load(src).generate(kPrompts, {0, 1}, o);
  const torch::Tensor d = (a.to(torch::kInt32) - b.to(torch::kInt32)).abs();
  EXPECT_LT(d.to(torch::kFloat64).mean().item<double>(), 2.0) << "F16-rounded weights, same image";
}

// The text-to-image stage on the GPU: the same prompts and seeds give diffusers' images (the
// latents' noise comes from CPU generators), up to the GPU kernels' rounding (TF32 convolutions).
TEST(SdPipeline, GpuGivesDiffusersImages_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const SdPipeline gpu = SdPipeline::load(sd_pipeline_reference("sd_tiny_v1"), torch::Device(torch::kCUDA, 0));
  SdPipelineOptions o = tiny_options();
  o.batch = 2;
  o.guidance_scale = 7.5;
  const torch::Tensor img = gpu.generate(kPrompts, {0, 1}, o);
  EXPECT_TRUE(img.device().is_cpu());
  const auto [share, worst] = closeness(img, reference_tensors("sd_tiny_v1").at("cfg_images"));
  EXPECT_GE(share, 0.99) << "largest difference " << worst;
}

}  // namespace
}  // namespace diffmem::diffusion
