#include "diffmem/model/checkpoint.h"

#include <gtest/gtest.h>

#include <limits>

#include "diffmem/core/error.h"
#include "model_test_util.h"

using namespace diffmem;
namespace fs = std::filesystem;
using diffmem::model::UNet2D;
using diffmem::model::UNet2DConfig;

namespace {

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

fs::path small_attn() { return test::model_reference("small_attn"); }

// A copy of the small_attn folder in `dir` whose weights went through `edit`.
template <typename Edit>
fs::path edited_copy(const test::TempDir& dir, Edit edit) {
  fs::path out = dir / "model";
  fs::create_directories(out);
  fs::copy_file(small_attn() / model::kConfigFile, out / model::kConfigFile);
  io::Safetensors st = io::read_safetensors(small_attn() / model::kWeightsFile);
  edit(st.tensors);
  io::write_safetensors(out / model::kWeightsFile, st);
  return out;
}

io::HostArray f32_array(const torch::Tensor& t) {
  return io::from_tensor(t.to(torch::kFloat32).contiguous());
}

}  // namespace

TEST(Checkpoint, SaveLoadRoundTripIsExact) {
  test::TempDir dir;
  UNet2D net(UNet2DConfig::preset("tiny"));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.normal_(0, 0.2);
  }
  model::save_unet2d(*net, dir / "saved");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / "saved"))
    files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files,
            (std::vector<std::string>{"config.json", "diffusion_pytorch_model.safetensors"}));

  io::Safetensors st = io::read_safetensors(dir / "saved" / model::kWeightsFile);
  EXPECT_EQ(st.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ(st.tensors.size(), net->named_parameters().size());
  for (const auto& [name, a] : st.tensors) EXPECT_EQ(a.dtype, io::DType::kF32) << name;
  EXPECT_EQ(io::read_json(dir / "saved" / "config.json").at("_class_name"), "UNet2DModel");

  UNet2D back = model::load_unet2d(dir / "saved");
  EXPECT_EQ(back->config(), net->config());
  auto theirs = back->named_parameters();
  for (const auto& p : net->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), theirs[p.key()])) << p.key();
  net->eval();
  back->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 1, 28, 28});
  auto t = torch::tensor({7, 700}, torch::kInt64);
  EXPECT_TRUE(torch::equal(net->forward(x, t), back->forward(x, t)));
}

TEST(Checkpoint, SavedNamesAreDiffusersNames) {
  // Re-saving the diffusers reference gives the same tensor names, shapes and bytes.
  test::TempDir dir;
  UNet2D net = model::load_unet2d(small_attn());
  model::save_unet2d(*net, dir.path());
  io::Safetensors ours = io::read_safetensors(dir / model::kWeightsFile);
  io::Safetensors theirs = io::read_safetensors(small_attn() / model::kWeightsFile);
  ASSERT_EQ(ours.tensors.size(), theirs.tensors.size());
  for (const auto& [name, a] : theirs.tensors) {
    ASSERT_TRUE(ours.tensors.count(name)) << name;
    EXPECT_EQ(ours.tensors.at(name).shape, a.shape) << name;
    EXPECT_EQ(ours.tensors.at(name).bytes, a.bytes) << name;
  }
}

TEST(Checkpoint, MissingTensorNamesFileAndTensor) {
  test::TempDir dir;
  fs::path m = edited_copy(dir, [](auto& t) { t.erase("mid_block.attentions.0.to_k.bias"); });
  std::string e = test::error_of([&] { model::load_unet2d(m); });
  EXPECT_HAS(e, (m / model::kWeightsFile).string());
  EXPECT_HAS(e, "mid_block.attentions.0.to_k.bias");
  EXPECT_HAS(e, "missing");
}

TEST(Checkpoint, UnexpectedTensorIsAnError) {
  test::TempDir dir;
  fs::path m = edited_copy(dir, [](auto& t) {
    t["class_embedding.weight"] = f32_array(torch::zeros({4, 64}));
  });
  std::string e = test::error_of([&] { model::load_unet2d(m); });
  EXPECT_HAS(e, model::kWeightsFile);
  EXPECT_HAS(e, "class_embedding.weight");
  EXPECT_HAS(e, "unexpected");
}

TEST(Checkpoint, WrongShapeSaysExpectedAndFound) {
  test::TempDir dir;
  fs::path m = edited_copy(dir, [](auto& t) {
    t["conv_in.weight"] = f32_array(torch::zeros({16, 3, 1, 1}));
  });
  std::string e = test::error_of([&] { model::load_unet2d(m); });
  EXPECT_HAS(e, model::kWeightsFile);
  EXPECT_HAS(e, "conv_in.weight");
  EXPECT_HAS(e, "(16, 3, 3, 3)");
  EXPECT_HAS(e, "(16, 3, 1, 1)");
}

TEST(Checkpoint, NonFiniteWeightIsAnError) {
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    test::TempDir dir;
    fs::path m = edited_copy(dir, [&](auto& t) {
      t.at("up_blocks.0.resnets.1.conv2.weight").template data<float>()[5] = bad;
    });
    std::string e = test::error_of([&] { model::load_unet2d(m); });
    EXPECT_HAS(e, model::kWeightsFile);
    EXPECT_HAS(e, "up_blocks.0.resnets.1.conv2.weight");
    EXPECT_HAS(e, "NaN or inf");
  }
}

TEST(Checkpoint, IntegerWeightIsAnError) {
  test::TempDir dir;
  fs::path m = edited_copy(
      dir, [](auto& t) { t["conv_out.bias"] = io::from_tensor(torch::zeros({3}, torch::kInt32)); });
  std::string e = test::error_of([&] { model::load_unet2d(m); });
  EXPECT_HAS(e, "conv_out.bias");
  EXPECT_HAS(e, "I32");
}

TEST(Checkpoint, Bf16AndF64WeightsLoadAsF32) {
  UNet2D ref = model::load_unet2d(small_attn());
  for (auto dtype : {torch::kBFloat16, torch::kFloat64}) {
    test::TempDir dir;
    fs::path m = edited_copy(dir, [&](auto& t) {
      for (auto& [name, a] : t) a = io::from_tensor(io::to_tensor(a).to(dtype));
    });
    UNet2D net = model::load_unet2d(m);
    auto theirs = net->named_parameters();
    for (const auto& p : ref->named_parameters()) {
      EXPECT_EQ(theirs[p.key()].scalar_type(), torch::kFloat32);
      EXPECT_TRUE(torch::equal(theirs[p.key()], p.value().to(dtype).to(torch::kFloat32)))
          << p.key();
    }
  }
}

TEST(Checkpoint, LegacyNamesAreRenamedAndConflictsRejected) {
  std::map<std::string, io::HostArray> t;
  t["down_blocks.1.attentions.0.query.weight"] = f32_array(torch::zeros({2}));
  t["mid_block.attentions.0.proj_attn.bias"] = f32_array(torch::zeros({2}));
  t["mid_block.attentions.0.value.bias"] = f32_array(torch::zeros({2}));
  t["up_blocks.0.resnets.0.key.weight"] = f32_array(torch::zeros({2}));  // not an attention: kept
  auto renamed = model::rename_legacy_attention(t, "w.safetensors");
  std::vector<std::string> names;
  for (const auto& [name, a] : renamed) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{
                "down_blocks.1.attentions.0.to_q.weight", "mid_block.attentions.0.to_out.0.bias",
                "mid_block.attentions.0.to_v.bias", "up_blocks.0.resnets.0.key.weight"}));
  t["mid_block.attentions.0.to_v.bias"] = f32_array(torch::zeros({2}));
  std::string e = test::error_of([&] { model::rename_legacy_attention(t, "w.safetensors"); });
  EXPECT_HAS(e, "w.safetensors");
  EXPECT_HAS(e, "mid_block.attentions.0.to_v.bias");
}

TEST(Checkpoint, FindsFilesOrSaysWhy) {
  test::TempDir dir;
  EXPECT_HAS(test::error_of([&] { model::find_diffusers_files(dir / "absent"); }), "absent");
  test::write_bytes(dir / "file.pt", "x");
  EXPECT_HAS(test::error_of([&] { model::find_diffusers_files(dir / "file.pt"); }), "a file");
  fs::create_directories(dir / "empty");
  EXPECT_HAS(test::error_of([&] { model::find_diffusers_files(dir / "empty"); }), "unet/");
  fs::create_directories(dir / "pickled");
  test::write_bytes(dir / "pickled" / "config.json", "{}");
  test::write_bytes(dir / "pickled" / "diffusion_pytorch_model.bin", "PK");
  EXPECT_HAS(test::error_of([&] { model::find_diffusers_files(dir / "pickled"); }), "never loads");
  auto f = model::find_diffusers_files(test::model_reference("legacy_f16"));
  EXPECT_EQ(f.config, test::model_reference("legacy_f16") / "unet" / "config.json");
}

TEST(Checkpoint, TruncatedWeightsNameTheFile) {
  test::TempDir dir;
  fs::path m = edited_copy(dir, [](auto&) {});
  std::string bytes = test::read_bytes(m / model::kWeightsFile);
  test::write_bytes(m / model::kWeightsFile, bytes.substr(0, bytes.size() - 100));
  EXPECT_HAS(test::error_of([&] { model::load_unet2d(m); }), (m / model::kWeightsFile).string());
}

TEST(Checkpoint, LoadDenoiserFromDiffusersFolder) {
  auto d = model::load_denoiser(small_attn());
  EXPECT_EQ(d->in_channels(), 3);
  EXPECT_EQ(d->sample_size(), 16);
  EXPECT_EQ(d->describe(), "UNet2D 0.18M params, 16x16x3");
  auto ref = test::read_tensors(test::model_reference("small_attn_io.safetensors"));
  torch::NoGradGuard no_grad;
  EXPECT_LT(test::max_abs_diff(d->predict_noise(ref.at("x"), ref.at("t")), ref.at("eps")), 1e-4);

  test::TempDir dir;
  test::write_bytes(dir / "model.pt", "x");
  EXPECT_HAS(test::error_of([&] { model::load_denoiser(dir / "model.pt"); }), "torchscript");
  model::LoadDenoiserOptions bad;
  bad.format = "onnx";
  EXPECT_HAS(test::error_of([&] { model::load_denoiser(small_attn(), bad); }), "onnx");
}
