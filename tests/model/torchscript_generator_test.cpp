// A GAN generator brought as TorchScript: its output range and layout mapped to diffmem's, and a
// config that does not fit the module refused when it is loaded.
#include "diffmem/model/torchscript_generator.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include "diffmem/core/error.h"
#include "diffmem/io/json.h"
#include "model_test_util.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

// forward(z) = `body`, scripted here so no file from another torch version is needed.
fs::path script(const test::TempDir& dir, const std::string& name, const std::string& body) {
  torch::jit::Module m("Generator");
  m.define("def forward(self, z):\n    " + body + "\n");
  const fs::path path = dir / name;
  m.save(path.string());
  return path;
}

fs::path config(const test::TempDir& dir, const std::string& name, io::Json j) {
  const fs::path path = dir / name;
  io::write_json(path, j);
  return path;
}

}  // namespace

TEST(TorchScriptGenerator, MapsRangeAndLayoutToNchwInMinusOneToOne) {
  test::TempDir dir;
  // Pixels in [0, 255], NHWC: image i is filled with 255 * sigmoid(z[i, 0]), on a 4x6x3 grid.
  const fs::path nhwc = script(dir, "nhwc.pt", "return (torch.sigmoid(z[:, 0]) * 255.0).view(-1, 1, 1, 1).expand(-1, 4, 6, 3)");
  model::TorchScriptGenerator g(
      nhwc,
      config(dir, "nhwc.json", {{"z_dim", 7}, {"height", 4}, {"width", 6}, {"channels", 3}, {"output_low", 0},
                                {"output_high", 255}, {"layout", "nhwc"}}),
      torch::kCPU);
  EXPECT_EQ(g.z_dim(), 7);
  EXPECT_EQ(g.describe(), "TorchScript generator nhwc.pt");
  const torch::Tensor z = torch::randn({3, 7});
  const torch::Tensor x = g.generate(z);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{3, 3, 4, 6}));
  const torch::Tensor want = (torch::sigmoid(z.select(1, 0)) * 2 - 1).view({3, 1, 1, 1}).expand({3, 3, 4, 6});
  EXPECT_TRUE(torch::allclose(x, want, 1e-5, 1e-5));
}

TEST(TorchScriptGenerator, AConfigThatDoesNotFitTheModuleFailsAtLoad) {
  test::TempDir dir;
  const fs::path m = script(dir, "g.pt", "return torch.tanh(z[:, :16]).view(-1, 1, 4, 4)");
  const io::Json good = {{"z_dim", 16}, {"height", 4}, {"width", 4}, {"channels", 1}};
  EXPECT_NO_THROW(model::TorchScriptGenerator(m, config(dir, "good.json", good), torch::kCPU));
  io::Json wrong = good;
  wrong["height"] = 8;
  const std::string e = test::error_of([&] { model::TorchScriptGenerator(m, config(dir, "w.json", wrong), torch::kCPU); });
  EXPECT_NE(e.find("g.pt"), std::string::npos) << e;
  EXPECT_NE(e.find("[2, 1, 8, 4]"), std::string::npos) << e;
  io::Json range = good;
  range["output_low"] = 1;
  EXPECT_NE(test::error_of([&] { model::TorchScriptGenerator(m, config(dir, "r.json", range), torch::kCPU); })
                .find("output_low < output_high"),
            std::string::npos);
  io::Json unknown = good;
  unknown["truncation"] = 0.7;
  EXPECT_NE(test::error_of([&] { model::TorchScriptGenerator(m, config(dir, "u.json", unknown), torch::kCPU); })
                .find("truncation"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { model::TorchScriptGenerator(dir / "none.pt", config(dir, "g2.json", good), torch::kCPU); })
                .find("none.pt"),
            std::string::npos);
}
