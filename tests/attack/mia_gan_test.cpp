// The discriminator attack on a GAN: each image's score is the discriminator's logit (averaged
// with its mirror's under flip), written where `diffmem mia` writes an attack's results; a folder
// that is not a GAN, or data of another shape, is refused before any score.
#include "diffmem/attack/mia_gan.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/json.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/dcgan.h"
#include "mia_test_util.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

std::map<std::string, torch::Tensor> weights_of(torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> w;
  for (const auto& p : m.named_parameters()) w[p.key()] = p.value().detach();
  return w;
}

// A GAN folder for 8x8x1 images with random weights and members: the first half of n rows.
fs::path gan_folder(const test::TempDir& tmp, int64_t n) {
  model::DcganConfig c;
  c.height = c.width = 8;
  c.z_dim = 4;
  c.base_width = 4;
  torch::manual_seed(3);
  model::DcganGenerator g(c);
  model::DcganDiscriminator d(c);
  model::save_gan(tmp / "gan", c, weights_of(*g), weights_of(*d));
  std::vector<bool> members(static_cast<size_t>(n), false);
  for (int64_t i = 0; i < n / 2; ++i) members[static_cast<size_t>(i)] = true;
  data::save_members(tmp / "gan", members);
  return tmp / "gan";
}

}  // namespace

TEST(GanMia, ScoresAreTheDiscriminatorsLogits) {
  test::TempDir tmp;
  data::save_dataset(tmp / "data", test::random_dataset(20, 8, 1, 9));
  attack::GanMiaOptions o;
  o.data = tmp / "data";
  o.target = gan_folder(tmp, 20);
  o.out = tmp / "out";
  o.batch = 7;
  o.bootstrap.resamples = 50;
  for (bool flip : {false, true}) {
    o.flip = flip;
    const attack::MiaAttackReport rep = attack::run_gan_mia(o);
    EXPECT_EQ(rep.name, "gan-discriminator");
    EXPECT_EQ(rep.summary.members, 10u);
    EXPECT_EQ(rep.summary.nonmembers, 10u);
    const torch::Tensor x = diffusion::from_uint8_nhwc(io::to_tensor(data::load_dataset(o.data).images));
    auto d = model::load_dcgan_discriminator(o.target, torch::kCPU);
    torch::Tensor want = d->forward(x).detach();
    if (flip) want = 0.5 * (want + d->forward(x.flip({3})).detach());
    const io::CsvRows rows = io::read_csv(rep.dir / "scores.csv");
    ASSERT_EQ(rows.size(), 21u);  // the header and one row per image
    const size_t col = io::csv_columns(rows[0], {"score"}, "scores.csv").at("score");
    for (size_t i = 1; i < rows.size(); ++i)
      EXPECT_NEAR(std::stod(rows[i].at(col)), want[static_cast<int64_t>(i - 1)].item<double>(), 1e-5) << i;
    const io::Json j = io::read_json(rep.dir / "summary.json");
    EXPECT_EQ(j["attack"], "gan-discriminator");
    EXPECT_TRUE(j.contains("split_check"));
    EXPECT_EQ(j["timing"]["model_evaluations"], flip ? 40 : 20);
    EXPECT_TRUE(fs::exists(o.out / "split-check.json"));
  }
}

TEST(GanMia, WrongTargetsAndDataAreRefusedBeforeAnyScore) {
  test::TempDir tmp;
  data::save_dataset(tmp / "data", test::random_dataset(20, 8, 1, 9));
  data::save_dataset(tmp / "rgb", test::random_dataset(20, 8, 3, 9));
  attack::GanMiaOptions o;
  o.data = tmp / "data";
  o.target = tmp / "data";  // not a GAN folder
  o.out = tmp / "out";
  EXPECT_NE(test::error_of([&] { attack::run_gan_mia(o); }).find("a GAN folder"), std::string::npos);
  o.target = gan_folder(tmp, 20);
  o.data = tmp / "rgb";
  EXPECT_NE(test::error_of([&] { attack::run_gan_mia(o); }).find("8x8x1"), std::string::npos);
  EXPECT_FALSE(fs::exists(o.out));
}
