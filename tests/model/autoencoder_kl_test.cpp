// AutoencoderKL against diffusers: a random-weight 3-level VAE saved by save_pretrained
// (tests/reference/model/make_vae_reference.py), encode and decode to 1e-4.
#include "diffmem/model/autoencoder_kl.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "model_test_util.h"

namespace diffmem::model {
namespace {
namespace fs = std::filesystem;

TEST(AutoencoderKL, EncodesAndDecodesAsDiffusers) {
  AutoencoderKL vae = load_autoencoder_kl(test::model_reference("vae_tiny"));
  auto ref = test::read_tensors(test::model_reference("vae_tiny_io.safetensors"));
  torch::NoGradGuard no_grad;
  const LatentDistribution d = vae->encode(ref.at("x"));
  EXPECT_LT(test::max_abs_diff(d.mean, ref.at("mean")), 1e-4);
  EXPECT_LT(test::max_abs_diff(d.logvar, ref.at("logvar")), 1e-4);
  EXPECT_LT(test::max_abs_diff(d.sample(at::detail::createCPUGenerator(7)), ref.at("sample")),
            1e-4);
  const torch::Tensor out = vae->decode(ref.at("z"));
  ASSERT_EQ(out.sizes(), ref.at("decoded").sizes());
  EXPECT_LT(test::max_abs_diff(out, ref.at("decoded")), 1e-4);
  EXPECT_GT(ref.at("decoded").abs().max().item<double>(), 0.1) << "a reference that says something";
  EXPECT_DOUBLE_EQ(vae->config().scaling_factor, 0.18215);
}

TEST(AutoencoderKL, ParameterNamesAreDiffusers) {
  AutoencoderKL vae(read_autoencoder_kl_config(test::model_reference("vae_tiny") / "config.json"));
  auto p = vae->named_parameters();
  for (const char* name :
       {"encoder.conv_in.weight", "encoder.down_blocks.0.downsamplers.0.conv.weight",
        "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "encoder.mid_block.attentions.0.to_q.weight",
        "encoder.conv_norm_out.weight", "quant_conv.weight", "post_quant_conv.bias",
        "decoder.up_blocks.2.resnets.2.conv2.weight", "decoder.up_blocks.0.upsamplers.0.conv.weight",
        "decoder.mid_block.attentions.0.group_norm.bias", "decoder.conv_out.weight"})
    EXPECT_TRUE(p.contains(name)) << name;
  EXPECT_FALSE(p.contains("decoder.up_blocks.2.upsamplers.0.conv.weight")) << "no upsampler at the last level";
  EXPECT_FALSE(p.contains("encoder.down_blocks.0.resnets.0.time_emb_proj.weight")) << "no time embedding";
}

TEST(AutoencoderKL, BadConfigsFoldersAndInputsAreOneLineErrors) {
  test::TempDir tmp;
  const fs::path src = test::model_reference("vae_tiny");
  io::Json c = io::read_json(src / "config.json");
  c["down_block_types"][1] = "AttnDownEncoderBlock2D";
  io::write_json(tmp / "blocks.json", c);
  EXPECT_NE(test::error_of([&] { read_autoencoder_kl_config(tmp / "blocks.json"); }).find("DownEncoderBlock2D"),
            std::string::npos);
  c = io::read_json(src / "config.json");
  c["latents_mean"] = {0.1, 0.2};
  io::write_json(tmp / "mean.json", c);
  EXPECT_NE(test::error_of([&] { read_autoencoder_kl_config(tmp / "mean.json"); }).find("latents_mean"),
            std::string::npos);
  fs::create_directories(tmp / "noweights");
  fs::copy_file(src / "config.json", tmp / "noweights" / "config.json");
  EXPECT_NE(test::error_of([&] { load_autoencoder_kl(tmp / "noweights"); }).find("no weights file"),
            std::string::npos);
  AutoencoderKL vae = load_autoencoder_kl(src);
  EXPECT_NE(test::error_of([&] { vae->encode(torch::zeros({1, 3, 30, 32})); }).find("multiples of 4"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { vae->decode(torch::zeros({1, 3, 8, 8})); }).find("latents [B,4,h,w]"),
            std::string::npos);
}

}  // namespace
}  // namespace diffmem::model
