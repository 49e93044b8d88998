// Inception-v3 pool3 against pytorch-fid, and the TorchScript protocol against a stand-in
// (tests/reference/model/make_inception_reference.py): formula weights rebuilt here, features to
// 1e-4, grayscale, weight files and their errors.
#include "diffmem/model/inception.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>
#include <functional>
#include <limits>

#include "diffmem/core/error.h"
#include "diffmem/model/inception_features.h"
#include "diffmem/model/weights.h"
#include "model_test_util.h"

namespace diffmem::model {
namespace {
namespace fs = std::filesystem;

constexpr double kTol = 1e-4;  // max |diffmem - pytorch-fid|

/// make_inception_reference.py's weights: parameters and running stats sorted by name, k the
/// index, i = 0..numel-1, s = sin(0.37 i + 0.001 i^2 + k) in f64; conv weights s·2.5/sqrt(fan_in),
/// bn.weight 1 + 0.2 s, bn.bias 0.1 s, running_mean 0.1 s, running_var 1 + 0.5 |s|.
std::map<std::string, torch::Tensor> inception_formula_fill(InceptionV3Impl& net) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> sorted;
  for (auto& p : net.named_parameters()) sorted[p.key()] = p.value();
  for (auto& b : net.named_buffers())
    if (b.key().find("num_batches_tracked") == std::string::npos) sorted[b.key()] = b.value();
  int64_t k = 0;
  for (auto& [name, t] : sorted) {
    const auto i = torch::arange(t.numel(), torch::kFloat64);
    const auto s = torch::sin(i * 0.37 + i * i * 1e-3 + static_cast<double>(k++));
    const std::string leaf = name.substr(name.rfind('.') + 1);
    torch::Tensor v;
    if (t.dim() == 4)
      v = s * (2.5 / std::sqrt(static_cast<double>(t.numel() / t.size(0))));
    else if (leaf == "weight")
      v = 1 + 0.2 * s;
    else if (leaf == "bias" || leaf == "running_mean")
      v = 0.1 * s;
    else
      v = 1 + 0.5 * s.abs();
    t.copy_(v.to(torch::kFloat32).reshape(t.sizes()));
  }
  return sorted;
}

const std::map<std::string, torch::Tensor>& inception_reference() {
  static const auto ref = test::read_tensors(test::model_reference("inception_io.safetensors"));
  return ref;
}

TEST(InceptionV3, ParameterNamesAndCountAreTorchvisions) {
  InceptionV3 net;
  auto params = net->named_parameters();
  int64_t count = 0;
  for (const auto& p : params) count += p.value().numel();
  EXPECT_EQ(count, 21785568) << "torchvision's inception_v3 without AuxLogits and fc";
  EXPECT_EQ(params.size(), 282u);
  for (const char* name :
       {"Conv2d_1a_3x3.conv.weight", "Conv2d_1a_3x3.bn.weight", "Conv2d_4a_3x3.bn.bias",
        "Mixed_5b.branch1x1.conv.weight", "Mixed_5b.branch_pool.bn.weight",
        "Mixed_6a.branch3x3dbl_3.conv.weight", "Mixed_6e.branch7x7dbl_5.bn.bias",
        "Mixed_7a.branch7x7x3_4.conv.weight", "Mixed_7c.branch3x3dbl_3b.conv.weight"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_FALSE(params.contains("Conv2d_1a_3x3.conv.bias")) << "BasicConv2d's conv has no bias";
  EXPECT_EQ(params["Mixed_6b.branch7x7_2.conv.weight"].sizes(),
            (torch::IntArrayRef{128, 128, 1, 7}));
  EXPECT_EQ(params["Mixed_7b.branch3x3_1.conv.weight"].sizes(),
            (torch::IntArrayRef{384, 1280, 1, 1}));
  auto buffers = net->named_buffers();
  EXPECT_TRUE(buffers.contains("Conv2d_1a_3x3.bn.running_mean"));
  EXPECT_TRUE(buffers.contains("Mixed_7c.branch_pool.bn.running_var"));
}

TEST(InceptionFeatures, MatchesPytorchFidRgbAndGray) {
  InceptionV3 net;
  inception_formula_fill(*net);
  InceptionFeatures inception(net);
  EXPECT_EQ(inception.dim(), 2048);
  EXPECT_EQ(inception.name(), "Inception-v3 pool3 (pytorch-fid)");
  EXPECT_TRUE(inception.is_inception());
  for (const std::string set : {"rgb", "gray"}) {
    const torch::Tensor images = inception_reference().at("images_" + set);
    const torch::Tensor expected = inception_reference().at("features_" + set);
    const torch::Tensor f = inception.features(images);
    ASSERT_EQ(f.sizes(), expected.sizes()) << set;
    EXPECT_EQ(f.scalar_type(), torch::kFloat32);
    const double diff = test::max_abs_diff(f, expected);
    ::testing::Test::RecordProperty("max_abs_diff_" + set, std::to_string(diff));
    EXPECT_LT(diff, kTol) << set;
    // A reference that says something: features differ from image to image.
    EXPECT_GT(expected.std(0).mean().item<double>(), 0.05) << set;
  }
  EXPECT_EQ(inception_reference().at("images_gray").size(3), 1) << "the gray set is 1-channel";
  EXPECT_EQ(inception.features(torch::zeros({0, 8, 8, 3}, torch::kUInt8)).sizes(),
            (torch::IntArrayRef{0, 2048}));
  EXPECT_NE(test::error_of([&] {
              inception.features(torch::zeros({1, 8, 8, 3}));
            }).find("uint8"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              inception.features(torch::zeros({1, 8, 8, 4}, torch::kUInt8));
            }).find("C 1 or 3"),
            std::string::npos);
}

TEST(InceptionFeatures, InputIsPytorchFidsResizeAndScale) {
  const torch::Tensor x = fid_inception_input(inception_reference().at("images_gray").slice(0, 0, 1));
  ASSERT_EQ(x.sizes(), (torch::IntArrayRef{1, 3, 299, 299}));
  EXPECT_TRUE(torch::equal(x[0][0], x[0][2])) << "gray repeated to 3 channels";
  EXPECT_GE(x.min().item<double>(), -1.0);
  EXPECT_LE(x.max().item<double>(), 1.0);
  const torch::Tensor white = fid_inception_input(torch::full({1, 5, 7, 3}, 255, torch::kUInt8));
  EXPECT_TRUE(torch::allclose(white, torch::ones_like(white)));
}

// The weights as a converted file holds them, plus what the converter may leave in.
io::Safetensors formula_file(const std::map<std::string, torch::Tensor>& tensors) {
  auto with_extras = tensors;
  with_extras["fc.weight"] = torch::zeros({1008, 2048});
  with_extras["fc.bias"] = torch::zeros({1008});
  with_extras["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch::zeros({});
  return weights_state(with_extras);
}

TEST(InceptionV3, LoadsConvertedWeightsAndRejectsBadOnes) {
  test::TempDir tmp;
  InceptionV3 filled;
  const auto tensors = inception_formula_fill(*filled);
  const fs::path path = tmp / "inception-v3-fid.safetensors";
  io::write_safetensors(path, formula_file(tensors));
  InceptionV3 loaded = load_inception_v3(path);
  auto p = loaded->named_parameters();
  auto b = loaded->named_buffers();
  for (const auto& [name, t] : tensors)
    ASSERT_TRUE(torch::equal(p.contains(name) ? p[name] : b[name], t)) << name;

  auto error_with = [&](const std::function<void(std::map<std::string, torch::Tensor>&)>& edit) {
    auto changed = tensors;
    edit(changed);
    InceptionV3 net;
    const std::string e = test::error_of(
        [&] { load_inception_weights(*net, formula_file(changed), "w.safetensors"); });
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    return e;
  };
  const std::string var = "Mixed_6c.branch_pool.bn.running_var";
  std::string e = error_with([&](auto& m) { m.erase(var); });
  EXPECT_NE(e.find("w.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find(var), std::string::npos) << e;
  e = error_with([&](auto& m) { m.erase("Mixed_5d.branch5x5_2.conv.weight"); });
  EXPECT_NE(e.find("Mixed_5d.branch5x5_2.conv.weight"), std::string::npos) << e;
  e = error_with([&](auto& m) { m["Conv2d_2a_3x3.conv.weight"] = torch::zeros({32, 32, 3, 1}); });
  EXPECT_NE(e.find("Conv2d_2a_3x3.conv.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("(32, 32, 3, 3)"), std::string::npos) << e;
  e = error_with([&](auto& m) { m["Conv2d_1a_3x3.bn.running_mean"] = torch::zeros({31}); });
  EXPECT_NE(e.find("Conv2d_1a_3x3.bn.running_mean"), std::string::npos) << e;
  e = error_with([&](auto& m) {
    m[var] = m[var].clone();
    m[var][3].fill_(std::numeric_limits<float>::quiet_NaN());
  });
  EXPECT_NE(e.find("NaN"), std::string::npos) << e;
  EXPECT_NE(e.find(var), std::string::npos) << e;
  e = error_with([&](auto& m) { m[var] = -m[var]; });
  EXPECT_NE(e.find("variances >= 0"), std::string::npos) << e;
  e = error_with([&](auto& m) {
    m["AuxLogits.conv0.conv.weight"] = torch::zeros({128, 768, 1, 1});
  });
  EXPECT_NE(e.find("AuxLogits.conv0.conv.weight"), std::string::npos) << e;

  e = test::error_of([&] { load_inception_v3(tmp / "absent.safetensors"); });
  EXPECT_NE(e.find("absent.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("no such file"), std::string::npos) << e;
  std::ofstream(tmp / "pt_inception.pth") << "PK not loaded";
  e = test::error_of([&] { load_inception_v3(tmp / "pt_inception.pth"); });
  EXPECT_NE(e.find("pt_inception.pth"), std::string::npos) << e;
  EXPECT_NE(e.find("convert_inception_weights.py"), std::string::npos) << e;
}

TEST(TorchScriptInception, CallsForwardWithReturnFeaturesOn0To255) {
  TorchScriptInception net(test::model_reference("inception_standin.pt"));
  EXPECT_EQ(net.dim(), 16);
  EXPECT_FALSE(net.is_inception()) << "16-d features are not Inception's pool3";
  EXPECT_EQ(net.name(), "Inception-v3 pool3 (TorchScript inception_standin.pt)");
  for (const std::string set : {"rgb", "gray"}) {
    const torch::Tensor f = net.features(inception_reference().at("images_" + set));
    const torch::Tensor expected = inception_reference().at("standin_features_" + set);
    ASSERT_EQ(f.sizes(), expected.sizes()) << set;
    EXPECT_LT(test::max_abs_diff(f, expected), 1e-5) << set;
    EXPECT_GT(expected.std(0).mean().item<double>(), 0.01) << set;
  }
}

TEST(InceptionFeatures, MatchesPytorchFidOnTheGpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // pytorch-fid on the CPU is the reference; TF32 convolutions would move pool3 by ~1e-3.
  auto& ctx = at::globalContext();
  const bool tf32 = ctx.allowTF32CuDNN();
  ctx.setAllowTF32CuDNN(false);
  InceptionV3 net;
  inception_formula_fill(*net);
  InceptionFeatures inception(net, torch::kCUDA);
  const torch::Tensor f = inception.features(inception_reference().at("images_rgb"));
  ctx.setAllowTF32CuDNN(tf32);
  EXPECT_TRUE(f.device().is_cpu());
  EXPECT_LT(test::max_abs_diff(f, inception_reference().at("features_rgb")), 1e-3);
  TorchScriptInception standin(test::model_reference("inception_standin.pt"), torch::kCUDA);
  EXPECT_LT(test::max_abs_diff(standin.features(inception_reference().at("images_gray")),
                               inception_reference().at("standin_features_gray")),
            1e-4);
}

fs::path script_file(const test::TempDir& dir, const std::string& name, const std::string& def) {
  torch::jit::Module m("Net");
  m.define(def);
  const fs::path path = dir / name;
  m.save(path.string());
  return path;
}

TEST(TorchScriptInception, BadFilesAreOneLineErrorsNamingTheFile) {
  test::TempDir tmp;
  auto expect_error = [](const fs::path& path, const std::string& part) {
    const std::string e = test::error_of([&] { TorchScriptInception net(path); });
    EXPECT_NE(e.find(path.string()), std::string::npos) << e;
    EXPECT_NE(e.find(part), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  };
  expect_error(tmp / "absent.pt", "no such file");
  std::ofstream(tmp / "pickle.pt") << "\x80\x02not a zip archive";
  expect_error(tmp / "pickle.pt", "torch::jit::load rejects");
  expect_error(
      script_file(tmp, "no_kwarg.pt", "def forward(self, x):\n    return x.mean([2, 3])\n"),
      "return_features");
  expect_error(script_file(tmp, "flat.pt",
                           "def forward(self, x, return_features: bool = False):\n"
                           "    return x.mean([1, 2, 3])\n"),
               "features [1,D]");
  expect_error(script_file(tmp, "raises.pt",
                           "def forward(self, x, return_features: bool = False):\n"
                           "    assert bool(x.max() >= 1.0), 'input below 1'\n"
                           "    return x.mean([2, 3])\n"),
               "input below 1");
  // Features in 0..255: a module that returns x's per-channel means gives 0..255 back.
  const fs::path means = script_file(tmp, "means.pt",
                                     "def forward(self, x, return_features: bool = False):\n"
                                     "    return x.mean([2, 3])\n");
  TorchScriptInception net(means);
  const torch::Tensor f = net.features(torch::full({2, 4, 4, 1}, 200, torch::kUInt8));
  EXPECT_TRUE(torch::allclose(f, torch::full({2, 3}, 200.0))) << f;
}

}  // namespace
}  // namespace diffmem::model
