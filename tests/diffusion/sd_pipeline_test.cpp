// The text-to-image pipeline against diffusers' StableDiffusionPipeline on a tiny random-weight
// SD-1.x-shaped folder written by save_pretrained (make_sd_pipeline_reference.py): prompt
// embeddings to 1e-4, and the images of two prompts with and without guidance and with a negative
// prompt within one uint8 level on at least 99.9% of their values.
#include "diffmem/diffusion/sd_pipeline.h"

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

fs::path reference(const std::string& name) {
  return fs::path(test::source_dir()) / "tests" / "reference" / "model" / name;
}

std::map<std::string, torch::Tensor> reference_tensors() {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, a] : io::read_safetensors(reference("sd_tiny_v1_images.safetensors")).tensors)
    out[k] = io::to_tensor(a);
  return out;
}

// Share of values within one uint8 level, and the largest difference.
std::pair<double, int64_t> closeness(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor d = (a.to(torch::kInt32) - b.to(torch::kInt32)).abs();
  return {d.le(1).to(torch::kFloat64).mean().item<double>(), d.max().item<int64_t>()};
}

class SdPipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pipe_ = new SdPipeline(SdPipeline::load(reference("sd_tiny_v1"))); }
  static void TearDownTestSuite() { delete pipe_; }
  static SdPipeline* pipe_;
};
SdPipeline* SdPipelineTest::pipe_ = nullptr;

TEST_F(SdPipelineTest, PromptEmbeddingsMatchDiffusers) {
  const auto ref = reference_tensors();
  const torch::Tensor e = pipe_->encode(kPrompts);
  EXPECT_LT((e - ref.at("prompt_embeds")).abs().max().item<double>(), 1e-4);
  EXPECT_LT((pipe_->encode({""}) - ref.at("uncond_embeds")).abs().max().item<double>(), 1e-4);
}

TEST_F(SdPipelineTest, ImagesMatchDiffusersWithAndWithoutGuidance) {
  const auto ref = reference_tensors();
  SdPipelineOptions o;
  o.steps = 10;
  o.height = o.width = 32;
  o.batch = 2;  // as the reference ran (a batch's kernels round alike)
  for (const auto& [run, scale] : {std::pair<std::string, double>{"cfg", 7.5}, {"nocfg", 1.0}}) {
    o.guidance_scale = scale;
    const torch::Tensor img = pipe_->generate(kPrompts, {0, 1}, o);
    ASSERT_EQ(img.sizes(), ref.at(run + "_images").sizes()) << run;
    const auto [share, worst] = closeness(img, ref.at(run + "_images"));
    EXPECT_GE(share, 0.999) << run << ": largest difference " << worst;
    EXPECT_GT(ref.at(run + "_images").to(torch::kFloat32).std().item<double>(), 5.0) << "not flat";
  }
  // Guidance changes the images, and the seed does.
  o.guidance_scale = 7.5;
  const torch::Tensor a = pipe_->generate({kPrompts[0]}, {0}, o), b = pipe_->generate({kPrompts[0]}, {5}, o);
  EXPECT_LT(closeness(a, b).first, 0.9);
}

TEST_F(SdPipelineTest, NegativePromptMatchesDiffusers) {
  const auto ref = reference_tensors();
  SdPipelineOptions o;
  o.steps = 10;
  o.height = o.width = 32;
  const torch::Tensor img = pipe_->generate({kPrompts[0]}, {0}, o, {"blurry, low quality"});
  const auto [share, worst] = closeness(img, ref.at("neg_images"));
  EXPECT_GE(share, 0.999) << "largest difference " << worst;
}

TEST(SdPipeline, BadFoldersAreOneLineErrorsNamingThePart) {
  test::TempDir tmp;
  EXPECT_NE(test::error_of([&] { SdPipeline::load(tmp.path()); }).find("model_index.json"), std::string::npos);
  const fs::path src = reference("sd_tiny_v1");
  fs::copy(src, tmp / "p", fs::copy_options::recursive);
  fs::remove_all(tmp / "p" / "vae");
  EXPECT_NE(test::error_of([&] { SdPipeline::load(tmp / "p"); }).find("vae/"), std::string::npos);
  fs::copy(src / "vae", tmp / "p" / "vae", fs::copy_options::recursive);
  fs::remove(tmp / "p" / "tokenizer" / "merges.txt");
  fs::remove(tmp / "p" / "tokenizer" / "tokenizer.json");
  const std::string e = test::error_of([&] { SdPipeline::load(tmp / "p"); });
  EXPECT_NE(e.find("tokenizer"), std::string::npos) << e;
}

TEST(SdPipeline, Fp16VariantAloneLoadsAndStaysClose) {
  test::TempDir tmp;
  const fs::path src = reference("sd_tiny_v1");
  fs::copy(src, tmp / "p", fs::copy_options::recursive);
  for (const char* f : {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
                        "text_encoder/model.safetensors"})
    fs::remove(tmp / "p" / f);
  SdPipeline half = SdPipeline::load(tmp / "p");
  SdPipelineOptions o;
  o.steps = 10;
  o.height = o.width = 32;
  const torch::Tensor a = half.generate({kPrompts[0]}, {0}, o);
  const torch::Tensor b = SdPipeline::load(src).generate({kPrompts[0]}, {0}, o);
  const torch::Tensor d = (a.to(torch::kInt32) - b.to(torch::kInt32)).abs();
  EXPECT_LT(d.to(torch::kFloat64).mean().item<double>(), 2.0) << "F16-rounded weights, same image";
}

}  // namespace
}  // namespace diffmem::diffusion
