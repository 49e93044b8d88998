// The full-size Stable Diffusion 1.5 and 2.1 components diffmem builds have the names, shapes and
// parameter counts diffusers and transformers build (tests/reference/model/sd15_params.txt and
// sd21_params.txt, made on the meta device by make_sd_params.py). No weights are involved.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <sstream>

#include "diffmem/model/autoencoder_kl.h"
#include "diffmem/model/clip_text.h"
#include "diffmem/model/unet2d_condition.h"
#include "model_test_util.h"

namespace diffmem::model {
namespace {

struct Section {
  std::map<std::string, std::vector<int64_t>> shapes;
  int64_t params = 0;
};

// "# NAME Class", then "name [a, b]" lines, then "tensors: N params: M".
Section read_section(const std::string& file, const std::string& component) {
  std::ifstream in(test::model_reference(file));
  Section s;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) {
      inside = line.rfind("# " + component + " ", 0) == 0;
      continue;
    }
    if (!inside) continue;
    if (line.rfind("tensors:", 0) == 0) {
      s.params = std::stoll(line.substr(line.find("params:") + 7));
      break;
    }
    const size_t sp = line.find(" [");
    std::vector<int64_t> shape;
    std::stringstream dims(line.substr(sp + 2, line.size() - sp - 3));
    for (std::string d; std::getline(dims, d, ',');) shape.push_back(std::stoll(d));
    s.shapes[line.substr(0, sp)] = shape;
  }
  return s;
}

void expect_same(const torch::nn::Module& m, const Section& ref) {
  ASSERT_GT(ref.shapes.size(), 100u) << "reference section read";
  std::map<std::string, std::vector<int64_t>> ours;
  int64_t count = 0;
  for (const auto& p : m.named_parameters()) {
    ours[p.key()] = p.value().sizes().vec();
    count += p.value().numel();
  }
  EXPECT_EQ(count, ref.params);
  EXPECT_EQ(ours.size(), ref.shapes.size());
  int64_t shown = 0;
  for (const auto& [name, shape] : ref.shapes) {
    auto it = ours.find(name);
    if (it == ours.end() || it->second != shape) {
      if (shown++ < 5) ADD_FAILURE() << name << (it == ours.end() ? ": missing" : ": other shape");
    }
  }
}

AutoencoderKLConfig sd_vae() {
  AutoencoderKLConfig c;
  c.block_out_channels = {128, 256, 512, 512};
  c.down_block_types.assign(4, "DownEncoderBlock2D");
  c.up_block_types.assign(4, "UpDecoderBlock2D");
  c.layers_per_block = 2;
  return c;
}

ClipTextConfig sd15_text() {
  ClipTextConfig c;
  c.hidden_size = 768;
  c.intermediate_size = 3072;
  c.num_attention_heads = 12;
  return c;
}

TEST(SdShapes, Sd15VaeAndTextEncoder) {
  torch::NoGradGuard no_grad;
  expect_same(*AutoencoderKL(sd_vae()), read_section("sd15_params.txt", "vae"));
  expect_same(*ClipTextModel(sd15_text()), read_section("sd15_params.txt", "text_encoder"));
}

TEST(SdShapes, Sd21VaeAndOpenClipTextEncoder) {
  torch::NoGradGuard no_grad;
  expect_same(*AutoencoderKL(sd_vae()), read_section("sd21_params.txt", "vae"));
  ClipTextConfig c = sd15_text();
  c.hidden_size = 1024;
  c.intermediate_size = 4096;
  c.num_hidden_layers = 23;
  c.num_attention_heads = 16;
  c.hidden_act = "gelu";
  expect_same(*ClipTextModel(c), read_section("sd21_params.txt", "text_encoder"));
}

// The full-size U-Nets: 860M parameters each (3.4 GB in f32), built once per test.
TEST(SdShapes, Sd15AndSd21UNets) {
  torch::NoGradGuard no_grad;
  UNet2DConditionConfig v1;
  v1.cross_attention_dim = 768;
  expect_same(*UNet2DConditionModel(v1), read_section("sd15_params.txt", "unet"));
  UNet2DConditionConfig v2;
  v2.cross_attention_dim = 1024;
  v2.attention_head_dim = PerBlock{{5, 10, 20, 20}, false};
  v2.use_linear_projection = true;
  v2.upcast_attention = true;
  v2.sample_size = 96;
  expect_same(*UNet2DConditionModel(v2), read_section("sd21_params.txt", "unet"));
}

}  // namespace
}  // namespace diffmem::model
