// UNet2DConditionModel against diffusers: random-weight SD-1.x-shaped (conv projections, one head
// count) and SD-2.x-shaped (linear projections, per-block heads, upcast attention) U-Nets saved by
// save_pretrained (tests/reference/model/make_unet_cond_reference.py), outputs to 1e-4.
#include "diffmem/model/unet2d_condition.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/core/ranges.h"
#include "model_test_util.h"

namespace diffmem::model {
namespace {
namespace fs = std::filesystem;

class UNet2DConditionReference : public ::testing::TestWithParam<std::string> {};

TEST_P(UNet2DConditionReference, MatchesDiffusers) {
  UNet2DConditionModel unet = load_unet2d_condition(test::model_reference(GetParam()));
  auto ref = test::read_tensors(test::model_reference(GetParam() + "_io.safetensors"));
  torch::NoGradGuard no_grad;
  const torch::Tensor out = unet->forward(ref.at("sample"), ref.at("timestep"), ref.at("encoder_hidden_states"));
  ASSERT_EQ(out.sizes(), ref.at("output").sizes());
  EXPECT_LT(test::max_abs_diff(out, ref.at("output")), 1e-4);
  EXPECT_GT(ref.at("output").abs().max().item<double>(), 0.1);
  // The text matters: another context gives another prediction (a permutation of the tokens
  // would not: attention does not see the order of its keys).
  const torch::Tensor other = unet->forward(ref.at("sample"), ref.at("timestep"),
                                            ref.at("encoder_hidden_states").flip({2}));
  EXPECT_GT(test::max_abs_diff(out, other), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Sd, UNet2DConditionReference, ::testing::Values("unet_cond_sd1", "unet_cond_sd2"));

TEST(UNet2DCondition, UnsupportedConfigsAndBadInputsAreOneLineErrors) {
  test::TempDir tmp;
  const fs::path src = test::model_reference("unet_cond_sd1");
  io::Json c = io::read_json(src / "config.json");
  c["addition_embed_type"] = "text_time";  // SDXL
  io::write_json(tmp / "sdxl.json", c);
  EXPECT_NE(test::error_of([&] { read_unet2d_condition_config(tmp / "sdxl.json"); }).find("addition_embed_type"),
            std::string::npos);
  c = io::read_json(src / "config.json");
  c["down_block_types"][0] = "SimpleCrossAttnDownBlock2D";
  io::write_json(tmp / "blocks.json", c);
  EXPECT_NE(test::error_of([&] { read_unet2d_condition_config(tmp / "blocks.json"); }).find("SimpleCrossAttnDownBlock2D"),
            std::string::npos);
  UNet2DConditionModel unet = load_unet2d_condition(src);
  const int64_t d = unet->config().cross_attention_dim;
  EXPECT_NE(test::error_of([&] {
              unet->forward(torch::zeros({1, 4, 16, 16}), torch::tensor({1}), torch::zeros({1, 77, d + 1}));
            }).find("encoder_hidden_states"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              unet->forward(torch::zeros({1, 4, 15, 16}), torch::tensor({1}), torch::zeros({1, 77, d}));
            }).find("multiples of 2"),
            std::string::npos);
}


// Stable Diffusion 1.x's U-Net (the config's defaults, 860M parameters, about 3.2 GiB) fits the
// default --max-memory; a config of 8192-channel blocks is refused from its numbers, and {} too.
TEST(UNet2DCondition, HugeAndEmptyConfigsAreRefusedBeforeBuilding) {
  const UNet2DConditionConfig sd;
  EXPECT_NO_THROW(validate(sd, "sd1"));
  // The estimate is of the right size: 860M float32 parameters are 3.2 GiB.
  const double before = core::model_memory_limit_gib();
  core::set_model_memory_limit_gib(2.5);
  const std::string small = test::error_of([&] { validate(sd, "sd1"); });
  core::set_model_memory_limit_gib(before);
  EXPECT_NE(small.find("sd1: expected a network under 2.5 GiB"), std::string::npos) << small;
  UNet2DConditionConfig huge = sd;
  huge.block_out_channels = {8192, 8192, 8192, 8192};
  huge.norm_num_groups = 32;
  const std::string e = test::error_of([&] { validate(huge, "unet/config.json"); });
  EXPECT_EQ(e.rfind("unet/config.json: expected a network under 64 GiB (--max-memory", 0), 0u) << e;
  EXPECT_NE(e.find("GiB of parameters and"), std::string::npos) << e;
  test::TempDir dir;
  test::write_bytes(dir / "config.json", "{}");
  EXPECT_NE(test::error_of([&] { read_unet2d_condition_config(dir / "config.json"); }).find("an empty object {}"),
            std::string::npos);
}

}  // namespace
}  // namespace diffmem::model
