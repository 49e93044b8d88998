// A GAN through the CLI as a user runs it: train-gan on Fashion-MNIST images, sample the folder,
// extract from the generations as from a diffusion model's; a TorchScript generator with its JSON;
// the options of diffusion sampling refused for a GAN.
#include <gtest/gtest.h>
#include <torch/script.h>

#include "diffmem/io/json.h"
#include "diffmem/io/npy.h"
#include "test_support.h"

#include <cstdlib>

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using test::shell_quote;

TEST(GanCli, TrainSampleAndExtractLikeADiffusionModel) {
  if (!fs::exists(test::kFashionMnist)) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  test::TempDir tmp;
  auto run = [&](const std::string& args) {
    const auto r = test::run_diffmem(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    return r;
  };
  run("data import --from fashion-mnist --split test --out " + test::quoted(tmp / "fm"));
  run("data subset --data " + test::quoted(tmp / "fm") + " --n 32 --seed 1 --out " + test::quoted(tmp / "train"));
  const auto t = run("train-gan --data " + test::quoted(tmp / "train") + " --steps 20 --batch 16 --width 8 --z-dim 16 "
                     "--checkpoint-every 10 --out " + test::quoted(tmp / "gan"));
  EXPECT_NE(t.output.find("trained steps 0..20"), std::string::npos) << t.output;
  EXPECT_NE(run("train-gan --data " + test::quoted(tmp / "train") + " --steps 20 --batch 16 --width 8 --z-dim 16 "
                "--checkpoint-every 10 --out " + test::quoted(tmp / "gan")).output.find("already trained"),
            std::string::npos);

  // Same seeds, same batches: the same bytes, however the images are sharded.
  const auto s = run("sample --model " + test::quoted(tmp / "gan") + " --n 24 --shard-size 10 --batch 2 --seed 3 --out " +
                     test::quoted(tmp / "gen"));
  EXPECT_NE(s.output.find("DCGAN"), std::string::npos) << s.output;
  run("sample --model " + test::quoted(tmp / "gan") + " --n 24 --shard-size 24 --batch 2 --seed 3 --out " + test::quoted(tmp / "gen-one"));
  std::string a;
  for (int k = 0; k < 3; ++k) {
    char name[32];
    std::snprintf(name, sizeof name, "images-%05d.npy", k);
    const io::HostArray part = io::read_npy(tmp / "gen" / name);
    a.append(reinterpret_cast<const char*>(part.bytes.data()), part.bytes.size());
  }
  const io::HostArray one = io::read_npy(tmp / "gen-one" / "images-00000.npy");
  EXPECT_EQ(a, std::string(reinterpret_cast<const char*>(one.bytes.data()), one.bytes.size()));
  // Another batch size changes only float rounding: no pixel moves by more than one level.
  run("sample --model " + test::quoted(tmp / "gan") + " --n 24 --shard-size 24 --batch 7 --seed 3 --out " + test::quoted(tmp / "gen-b7"));
  const io::HostArray b7 = io::read_npy(tmp / "gen-b7" / "images-00000.npy");
  ASSERT_EQ(b7.bytes.size(), one.bytes.size());
  int worst = 0;
  for (size_t i = 0; i < b7.bytes.size(); ++i)
    worst = std::max(worst, std::abs(int(b7.bytes[i]) - int(one.bytes[i])));
  EXPECT_LE(worst, 1);
  EXPECT_EQ(io::read_json(tmp / "gen" / "manifest.json")["sample"]["sampler"], "generator");

  run("extract --generations " + test::quoted(tmp / "gen") + " --train " + test::quoted(tmp / "train") + " --out " + test::quoted(tmp / "ext"));
  EXPECT_TRUE(fs::exists(tmp / "ext" / "summary.json"));

  // Diffusion sampling's options are refused for a GAN, naming them; nothing is written.
  const auto bad = test::run_diffmem("sample --model " + test::quoted(tmp / "gan") + " --n 4 --steps 50 --out " + test::quoted(tmp / "bad"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--steps"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(tmp / "bad" / "manifest.json"));
}

TEST(GanCli, AuditOfAGanRunsItsStagesAndSaysWhatDoesNotApply) {
  if (!fs::exists(test::kFashionMnist / "train-images-idx3-ubyte.gz")) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  test::TempDir tmp;
  const auto r = test::run_diffmem("--threads 2 audit --target gan --run " + test::quoted(tmp / "run") +
                                   " --n 12 --holdout 8 --duplicate-counts 1,2,4 --steps 30 --batch 8 --samples 24"
                                   " --min-clique 2 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const io::Json s = io::read_json(tmp / "run" / "summary.json");
  EXPECT_EQ(s["model"]["architecture"], "dcgan") << s.dump();
  EXPECT_EQ(s["model"]["train_steps"], 30);
  ASSERT_TRUE(s["mia"].contains("gan-discriminator")) << s["mia"].dump();
  EXPECT_EQ(s["mia"].size(), 1u) << "no diffusion loss attack on a GAN";
  EXPECT_EQ(io::read_json(tmp / "run" / "samples" / "manifest.json")["sample"]["sampler"], "generator");
  EXPECT_TRUE(fs::exists(tmp / "run" / "extract" / "summary.json"));
  const std::string html = test::read_bytes(tmp / "run" / "report.html");
  EXPECT_NE(html.find("a GAN (DCGAN"), std::string::npos);
  EXPECT_NE(html.find("inpainting attack runs a diffusion model"), std::string::npos);
  EXPECT_NE(r.output.find("gan-discriminator AUC"), std::string::npos) << r.output;
}

TEST(GanCli, TorchScriptGeneratorWithItsConfig) {
  test::TempDir tmp;
  torch::jit::Module m("Generator");
  m.define("def forward(self, z):\n    return (torch.sigmoid(z[:, :16]) * 255.0).view(-1, 1, 4, 4)\n");
  m.save((tmp / "g.pt").string());
  io::write_json(tmp / "g.json", io::Json{{"z_dim", 20}, {"height", 4}, {"width", 4}, {"channels", 1},
                                          {"output_low", 0}, {"output_high", 255}});
  const auto r = test::run_diffmem("sample --torchscript-generator " + test::quoted(tmp / "g.pt") + " --generator-config " +
                                   test::quoted(tmp / "g.json") + " --n 5 --out " + test::quoted(tmp / "gen"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const io::HostArray img = io::read_npy(tmp / "gen" / "images-00000.npy");
  EXPECT_EQ(img.shape, (std::vector<int64_t>{5, 4, 4, 1}));
  // Without its config, and with a config the module does not fit: one line each, before sampling.
  const auto none = test::run_diffmem("sample --torchscript-generator " + test::quoted(tmp / "g.pt") + " --n 5 --out " +
                                      test::quoted(tmp / "x"));
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.output.find("--generator-config"), std::string::npos) << none.output;
  io::write_json(tmp / "wrong.json", io::Json{{"z_dim", 20}, {"height", 4}, {"width", 4}, {"channels", 3}});
  const auto wrong = test::run_diffmem("sample --torchscript-generator " + test::quoted(tmp / "g.pt") + " --generator-config " +
                                       test::quoted(tmp / "wrong.json") + " --n 5 --out " + test::quoted(tmp / "y"));
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.output.find("g.pt"), std::string::npos) << wrong.output;
  EXPECT_FALSE(fs::exists(tmp / "y" / "manifest.json"));
}

}  // namespace
}  // namespace diffmem
