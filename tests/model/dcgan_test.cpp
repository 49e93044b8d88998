// diffmem's GAN networks: shapes and ranges, an image that depends on its own latent alone, the
// folder round trip, and the one-line errors of a wrong folder.
#include "diffmem/model/dcgan.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/io/json.h"
#include "diffmem/io/safetensors.h"
#include "model_test_util.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

model::DcganConfig small(int64_t channels = 1) {
  model::DcganConfig c;
  c.height = 12;
  c.width = 8;
  c.channels = channels;
  c.z_dim = 5;
  c.base_width = 4;
  return c;
}

std::map<std::string, torch::Tensor> weights_of(torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> w;
  for (const auto& p : m.named_parameters()) w[p.key()] = p.value().detach();
  return w;
}

}  // namespace

TEST(Dcgan, ShapesRangesAndAnImageDependsOnItsOwnLatentAlone) {
  torch::manual_seed(0);
  for (int64_t c : {1, 3}) {
    model::DcganGenerator g(small(c));
    model::DcganDiscriminator d(small(c));
    const torch::Tensor z = torch::randn({6, 5});
    const torch::Tensor x = g->forward(z);
    ASSERT_EQ(x.sizes(), (std::vector<int64_t>{6, c, 12, 8}));
    EXPECT_LE(x.abs().max().item<double>(), 1.0);
    EXPECT_GT(x.std().item<double>(), 0.0);
    EXPECT_EQ(d->forward(x).sizes(), (std::vector<int64_t>{6}));
    // No batch statistics: image 2 alone is image 2 of the batch.
    EXPECT_TRUE(torch::allclose(g->forward(z.slice(0, 2, 3)), x.slice(0, 2, 3), 1e-6, 1e-6));
  }
}

TEST(Dcgan, FolderRoundTripGivesTheSameImages) {
  test::TempDir dir;
  torch::manual_seed(1);
  model::DcganGenerator g(small());
  model::DcganDiscriminator d(small());
  EXPECT_FALSE(model::is_gan_folder(dir / "gan"));
  model::save_gan(dir / "gan", small(), weights_of(*g), weights_of(*d));
  EXPECT_TRUE(model::is_gan_folder(dir / "gan"));
  model::DcganSampler sampler(dir / "gan", torch::kCPU);
  EXPECT_EQ(sampler.z_dim(), 5);
  EXPECT_EQ(sampler.height(), 12);
  EXPECT_EQ(sampler.width(), 8);
  EXPECT_EQ(sampler.channels(), 1);
  EXPECT_NE(sampler.describe().find("DCGAN"), std::string::npos);
  const torch::Tensor z = torch::randn({3, 5});
  EXPECT_TRUE(torch::equal(sampler.generate(z), g->forward(z).detach()));
  const torch::Tensor x = torch::rand({3, 1, 12, 8}) * 2 - 1;
  EXPECT_TRUE(torch::equal(model::load_dcgan_discriminator(dir / "gan", torch::kCPU)->forward(x),
                           d->forward(x).detach()));
  // Latents of the wrong size are refused, naming the folder.
  EXPECT_NE(test::error_of([&] { sampler.generate(torch::zeros({2, 4})); }).find("[N,5]"), std::string::npos);
}

TEST(Dcgan, WrongFoldersAreOneLineErrors) {
  test::TempDir dir;
  // A diffusers folder is not a GAN folder.
  fs::create_directories(dir / "unet");
  io::write_json(dir / "unet" / "config.json", io::Json{{"_class_name", "UNet2DModel"}, {"sample_size", 8}});
  EXPECT_FALSE(model::is_gan_folder(dir / "unet"));
  EXPECT_NE(test::error_of([&] { model::read_dcgan_config(dir / "unet"); }).find("no architecture"),
            std::string::npos);
  // Sizes the two up-samplings cannot make.
  fs::create_directories(dir / "odd");
  auto c = small();
  c.height = 30;
  io::write_json(dir / "odd" / "config.json", io::fields_json(c));
  EXPECT_NE(test::error_of([&] { model::read_dcgan_config(dir / "odd"); }).find("multiple of 4"), std::string::npos);
  // Missing weights name the file; NaN weights are refused.
  torch::manual_seed(2);
  model::DcganGenerator g(small());
  model::DcganDiscriminator d(small());
  auto gw = weights_of(*g);
  model::save_gan(dir / "gan", small(), gw, weights_of(*d));
  fs::remove(dir / "gan" / "discriminator.safetensors");
  EXPECT_NE(test::error_of([&] { model::load_dcgan_discriminator(dir / "gan", torch::kCPU); })
                .find("discriminator.safetensors"),
            std::string::npos);
  gw["fc.weight"] = gw["fc.weight"].clone();
  gw["fc.weight"][0][0] = std::nan("");
  model::save_gan(dir / "nan", small(), gw, weights_of(*d));
  const std::string e = test::error_of([&] { model::DcganSampler(dir / "nan", torch::kCPU); });
  EXPECT_NE(e.find("generator.safetensors"), std::string::npos) << e;
}
