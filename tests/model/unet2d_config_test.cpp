#include "diffmem/model/unet2d_config.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "diffmem/core/ranges.h"
#include "diffmem/model/unet2d.h"
#include "model_test_util.h"

using namespace diffmem;
using diffmem::model::UNet2DConfig;

namespace {

io::Json small_attn_json() {
  return io::read_json(test::model_reference("small_attn") / "config.json");
}

}  // namespace

TEST(UNet2DConfig, ReadsDiffusersConfigJson) {
  UNet2DConfig c = model::read_unet2d_config(test::model_reference("small_attn") / "config.json");
  EXPECT_EQ(c.sample_size, 16);
  EXPECT_EQ(c.in_channels, 3);
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(c.down_block_types, (std::vector<std::string>{"DownBlock2D", "AttnDownBlock2D"}));
  EXPECT_EQ(c.up_block_types, (std::vector<std::string>{"AttnUpBlock2D", "UpBlock2D"}));
  EXPECT_EQ(c.attention_head_dim, 8);
  EXPECT_EQ(c.attention_heads(32), 4);
  EXPECT_EQ(c.norm_num_groups, 8);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
  EXPECT_FALSE(c.flip_sin_to_cos);
  EXPECT_DOUBLE_EQ(c.freq_shift, 1);
  EXPECT_EQ(c.downsample_padding, 0);
  EXPECT_EQ(c.time_embed_dim(), 64);
}

TEST(UNet2DConfig, JsonRoundTripAndDiffusersKeys) {
  for (const auto& name : UNet2DConfig::preset_names()) {
    UNet2DConfig c = UNet2DConfig::preset(name);
    io::Json j = c.to_json();
    EXPECT_EQ(j.at("_class_name"), "UNet2DModel");
    EXPECT_TRUE(j.contains("_diffusers_version"));
    EXPECT_EQ(UNet2DConfig::from_json(j), c) << name;
  }
  // Everything diffusers wrote for the reference model reads back to the same JSON values.
  io::Json given = small_attn_json();
  io::Json back = UNet2DConfig::from_json(given).to_json();
  for (const auto& [key, value] : given.items()) {
    if (key == "_diffusers_version") continue;
    EXPECT_EQ(back.at(key), value) << key;
  }
  for (const auto& [key, value] : back.items()) EXPECT_TRUE(given.contains(key)) << key;
}

TEST(UNet2DConfig, FileRoundTrip) {
  test::TempDir dir;
  UNet2DConfig c = UNet2DConfig::preset("small");
  c.attention_head_dim = 12;
  c.time_embedding_dim = 40;
  c.mid_block_type = "";
  c.dropout = 0.1;
  model::write_unet2d_config(dir / "config.json", c);
  UNet2DConfig back = model::read_unet2d_config(dir / "config.json");
  EXPECT_EQ(back, c);
  EXPECT_EQ(back.attention_head_dim, 12);
  EXPECT_TRUE(back.mid_block_type.empty());
  EXPECT_TRUE(io::read_json(dir / "config.json").at("mid_block_type").is_null());
}

TEST(UNet2DConfig, MissingKeysTakeDiffusersDefaults) {
  io::Json j = {{"sample_size", 32}, {"block_out_channels", {32, 64, 64, 64}}};
  UNet2DConfig c = UNet2DConfig::from_json(j);
  EXPECT_TRUE(c.flip_sin_to_cos);
  EXPECT_DOUBLE_EQ(c.freq_shift, 0);
  EXPECT_EQ(c.downsample_padding, 1);
  EXPECT_EQ(c.attention_head_dim, 8);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.layers_per_block, 2);
  EXPECT_EQ(c.down_block_types[1], "AttnDownBlock2D");
  // [n, n] is square; [h, w] is a non-square model, written back as diffusers writes it.
  j["sample_size"] = {32, 32};
  EXPECT_EQ(UNet2DConfig::from_json(j).sample_size, 32);
  EXPECT_EQ(UNet2DConfig::from_json(j).width(), 32);
  EXPECT_EQ(UNet2DConfig::from_json(j).to_json().at("sample_size"), 32);
  j["sample_size"] = {32, 64};
  const UNet2DConfig wide = UNet2DConfig::from_json(j);
  EXPECT_EQ(wide.sample_size, 32);
  EXPECT_EQ(wide.width(), 64);
  EXPECT_EQ(wide.to_json().at("sample_size"), (io::Json{32, 64}));
  EXPECT_EQ(UNet2DConfig::from_json(wide.to_json()), wide);
}

TEST(UNet2DConfig, PresetParameterCounts) {
  UNet2DConfig cifar = UNet2DConfig::preset("ddpm-cifar10");
  EXPECT_EQ(cifar.parameter_count(), 35746307);
  EXPECT_FALSE(cifar.attention_head_dim.has_value());
  EXPECT_EQ(cifar.attention_heads(256), 1);
  // Counts computed by diffusers for the same configs (see the preset comment in the header).
  EXPECT_EQ(UNet2DConfig::preset("tiny").parameter_count(), 117065);
  EXPECT_EQ(UNet2DConfig::preset("small").parameter_count(), 627433);
  EXPECT_EQ(UNet2DConfig::preset("base").parameter_count(), 3643585);
  for (const auto& name : UNet2DConfig::preset_names()) {
    UNet2DConfig c = UNet2DConfig::preset(name);
    model::UNet2D net(c);
    EXPECT_EQ(net->parameter_count(), c.parameter_count()) << name;
  }
  // The analytic count also follows options the presets do not use.
  UNet2DConfig odd =
      model::read_unet2d_config(test::model_reference("legacy_f16/unet/config.json"));
  EXPECT_EQ(odd.parameter_count(), 291873);
  EXPECT_EQ(model::UNet2D(odd)->parameter_count(), 291873);
  EXPECT_NE(test::error_of([] { UNet2DConfig::preset("huge"); }).find("tiny"), std::string::npos);
}

TEST(UNet2DConfig, RejectsWhatItCannotBuild) {
  auto with = [](const std::string& key, const io::Json& value) {
    io::Json j = small_attn_json();
    j[key] = value;
    return test::error_of([&] { UNet2DConfig::from_json(j, "model/config.json"); });
  };
  std::string e = with("down_block_types", {"DownBlock2D", "CrossAttnDownBlock2D"});
  EXPECT_NE(e.find("model/config.json"), std::string::npos) << e;
  EXPECT_NE(e.find("CrossAttnDownBlock2D"), std::string::npos) << e;
  EXPECT_NE(with("time_embedding_type", "learned").find("time_embedding_type"), std::string::npos);
  EXPECT_NE(with("class_embed_type", "timestep").find("class_embed_type"), std::string::npos);
  EXPECT_NE(with("num_class_embeds", 0).find("num_class_embeds"), std::string::npos);
  EXPECT_NE(with("num_class_embeds", "ten").find("num_class_embeds"), std::string::npos);
  EXPECT_NE(with("resnet_time_scale_shift", "spatial").find("resnet_time_scale_shift"), std::string::npos);
  EXPECT_NE(with("downsample_type", "fir").find("downsample_type"), std::string::npos);
  EXPECT_NE(with("block_out_channels", {16, 32, 64}).find("down_block_types"), std::string::npos);
  EXPECT_NE(with("norm_num_groups", 5).find("norm_num_groups"), std::string::npos);
  EXPECT_NE(with("attention_head_dim", 5).find("attention_head_dim"), std::string::npos);
  EXPECT_NE(with("sample_size", 15).find("sample_size"), std::string::npos);
  EXPECT_NE(with("sample_size", {16, 9}).find("sample_size"), std::string::npos);
  EXPECT_NE(with("sample_size", {16, 8, 4}).find("sample_size"), std::string::npos);
  EXPECT_NE(with("layers_per_block", "two").find("layers_per_block"), std::string::npos);
  EXPECT_NE(with("act_fn", "gelu").find("gelu"), std::string::npos);
  EXPECT_NE(with("_class_name", "UNet2DConditionModel").find("UNet2DConditionModel"),
            std::string::npos);
  EXPECT_NE(
      test::error_of([] { UNet2DConfig::from_json(io::Json::array(), "c.json"); }).find("c.json"),
      std::string::npos);
}

TEST(UNet2DConfig, BadFileNamesTheFile) {
  test::TempDir dir;
  test::write_bytes(dir / "config.json", "{\"sample_size\": 16,");
  std::string e = test::error_of([&] { model::read_unet2d_config(dir / "config.json"); });
  EXPECT_NE(e.find((dir / "config.json").string()), std::string::npos) << e;
  e = test::error_of([&] { model::read_unet2d_config(dir / "absent.json"); });
  EXPECT_NE(e.find("absent.json"), std::string::npos) << e;
}

// A config that would allocate gigabytes is refused from its numbers before anything is built,
// naming the file and --max-memory; {} (diffusers' defaults, a 1.2 GB network) is a mistake.
TEST(UNet2DConfig, RefusesHugeAndEmptyConfigsBeforeBuilding) {
  EXPECT_NE(test::error_of([] { UNet2DConfig::from_json(io::Json::object(), "cfg.json"); }).find("cfg.json: expected a UNet2DModel config"),
            std::string::npos);
  const io::Json base = {{"sample_size", 32},
                         {"block_out_channels", {64, 64}},
                         {"down_block_types", {"DownBlock2D", "DownBlock2D"}},
                         {"up_block_types", {"UpBlock2D", "UpBlock2D"}}};
  EXPECT_NO_THROW(UNet2DConfig::from_json(base, "cfg.json"));
  for (const auto& [key, value] : std::vector<std::pair<std::string, io::Json>>{
           {"block_out_channels", {8192, 8192}},
           {"layers_per_block", 100000},
           {"sample_size", int64_t{1} << 30}}) {
    io::Json j = base;
    j[key] = value;
    const std::string e = test::error_of([&] { UNet2DConfig::from_json(j, "cfg.json"); });
    EXPECT_NE(e.find("cfg.json: expected a network under 64 GiB (--max-memory"), std::string::npos) << key << ": " << e;
    EXPECT_NE(e.find("GiB of parameters and"), std::string::npos) << e;
  }
  // The paper's CIFAR-10 model is far inside the default; a lower limit refuses it.
  const UNet2DConfig cifar = UNet2DConfig::preset("ddpm-cifar10");
  EXPECT_NO_THROW(cifar.validate("ddpm-cifar10"));
  const double before = core::model_memory_limit_gib();
  core::set_model_memory_limit_gib(0.05);
  EXPECT_NE(test::error_of([&] { cifar.validate("ddpm-cifar10"); }).find("under 0.05 GiB"), std::string::npos);
  core::set_model_memory_limit_gib(before);
}
