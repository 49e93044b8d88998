#include "diffmem/model/torchscript.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include "diffmem/core/error.h"
#include "diffmem/model/checkpoint.h"
#include "model_test_util.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

// A TorchScript file whose forward is `body` (written here, so no file from another torch version).
fs::path script_module(const test::TempDir& dir, const std::string& name, const std::string& body) {
  torch::jit::Module m("Denoiser");
  m.define("def forward(self, x, t):\n    " + body + "\n");
  fs::path path = dir / name;
  m.save(path.string());
  return path;
}

}  // namespace

TEST(TorchScriptDenoiser, TensorTupleAndDictOutputs) {
  test::TempDir dir;
  auto x = torch::randn({2, 1, 8, 8});
  auto t = torch::tensor({3, 5}, torch::kInt64);
  auto expected = x * 0.5 + t.to(torch::kFloat32).view({-1, 1, 1, 1});
  const std::string expr = "x * 0.5 + t.float().view(-1, 1, 1, 1)";
  for (const auto& [name, body] : std::vector<std::pair<std::string, std::string>>{
           {"tensor.pt", "return " + expr},
           {"tuple.pt", "return (" + expr + ", t)"},
           {"dict.pt", "return {'sample': " + expr + "}"}}) {
    model::TorchScriptDenoiser d(script_module(dir, name, body), torch::kCPU, 1, 8);
    EXPECT_TRUE(torch::allclose(d.predict_noise(x, t), expected)) << name;
    EXPECT_EQ(d.describe(), "TorchScript " + name);
    EXPECT_EQ(d.in_channels(), 1);
    EXPECT_EQ(d.sample_size(), 8);
  }
}

TEST(TorchScriptDenoiser, LoadDenoiserNeedsExplicitFormat) {
  test::TempDir dir;
  fs::path path = script_module(dir, "m.pt", "return x * 2.0");
  model::LoadDenoiserOptions o;
  o.format = "torchscript";
  o.in_channels = 3;
  o.sample_size = 4;
  auto d = model::load_denoiser(path, o);
  auto x = torch::randn({1, 3, 4, 4});
  EXPECT_TRUE(torch::allclose(d->predict_noise(x, torch::zeros({1}, torch::kInt64)), x * 2));
  o.in_channels = 0;
  EXPECT_THROW(model::load_denoiser(path, o), Error);
}

TEST(TorchScriptDenoiser, BadFilesAndOutputsAreErrors) {
  test::TempDir dir;
  test::write_bytes(dir / "junk.pt", "not a zip archive");
  try {
    model::TorchScriptDenoiser d(dir / "junk.pt", torch::kCPU, 1, 8);
    FAIL() << "loaded junk";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.pt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model::TorchScriptDenoiser(dir / "absent.pt", torch::kCPU, 1, 8), Error);
  model::TorchScriptDenoiser wrong(script_module(dir, "shape.pt", "return x.sum(1)"), torch::kCPU,
                                   1, 8);
  EXPECT_THROW(wrong.predict_noise(torch::zeros({1, 1, 8, 8}), torch::zeros({1}, torch::kInt64)),
               Error);
  model::TorchScriptDenoiser str(script_module(dir, "str.pt", "return 'eps'"), torch::kCPU, 1, 8);
  EXPECT_THROW(str.predict_noise(torch::zeros({1, 1, 8, 8}), torch::zeros({1}, torch::kInt64)),
               Error);
}
