// Membership inference on a text-to-image pipeline folder: the two losses per
// example, their independence from the batch, CLiD as their difference, the outputs of `diffmem
// mia`, and one-line refusals.
#include "diffmem/attack/mia_text.h"

#include "diffmem/attack/mia_lira.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <filesystem>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/json.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "test_support.h"
#include "thread_communicator.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;

// 8 random 32x32 colour images with captions, for the tiny SD-1.x pipeline (random weights: the
// statistics' plumbing is under test here; the experiment under experiments/ measures the attack).
data::Dataset captioned(int64_t n = 8) {
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, 32, 32, 3});
  core::Rng rng(5);
  for (auto& b : ds.images.bytes) b = static_cast<uint8_t>(rng.below(256));
  ds.captions.emplace();
  for (int64_t i = 0; i < n; ++i) {
    ds.labels.push_back(-1);
    ds.ids.push_back(100 + i);
    ds.captions->push_back("picture number " + std::to_string(i));
  }
  return ds;
}

fs::path tiny_pipeline() { return fs::path(test::source_dir()) / "tests/reference/model/sd_tiny_v1"; }

TEST(TextMia, LossesDoNotDependOnTheBatchAndClidIsTheirDifference) {
  test::TempDir dir;
  const auto ds = captioned();
  const fs::path model = tiny_pipeline();
  TextMiaOptions o;
  o.t = 30;
  o.draws = 3;
  o.batch = 6;  // one example per pass
  const TextMiaErrors a = text_mia_errors(model, ds, o);
  o.batch = 64;  // all of them at once
  const TextMiaErrors b = text_mia_errors(model, ds, o);
  ASSERT_EQ(a.conditional.size(), 8u);
  EXPECT_EQ(a.unet_images, 8 * 3 * 2);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_GT(a.conditional[i], 0);
    EXPECT_NEAR(a.conditional[i], b.conditional[i], 1e-5 * a.conditional[i]);
    EXPECT_NEAR(a.null[i], b.null[i], 1e-5 * a.null[i]);
  }
  // Another seed draws other noise.
  o.seed = 1;
  EXPECT_NE(text_mia_errors(model, ds, o).conditional[0], a.conditional[0]);

  std::vector<bool> members(8, false);
  for (size_t i = 0; i < 4; ++i) members[i] = true;
  o.seed = 0;
  const MiaRunResult r = run_text_mia(model, ds, members, "clid", o, dir / "out");
  ASSERT_EQ(r.attacks.size(), 2u);
  EXPECT_EQ(r.members, 4);
  const auto loss = io::parse_csv(test::read_bytes(dir / "out" / "loss" / "scores.csv"), "loss");
  const auto clid = io::parse_csv(test::read_bytes(dir / "out" / "clid" / "scores.csv"), "clid");
  ASSERT_EQ(loss.size(), 9u);
  EXPECT_EQ(loss[0], (std::vector<std::string>{"row", "id", "score", "member"}));
  EXPECT_EQ(loss[1][1], "100");
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_NEAR(std::stod(loss[i + 1][2]), -b.conditional[i], 1e-5 * b.conditional[i]);
    EXPECT_NEAR(std::stod(clid[i + 1][2]), b.null[i] - b.conditional[i], 1e-5 * b.null[i]);
  }
  const io::Json s = io::read_json(dir / "out" / "clid" / "summary.json");
  EXPECT_EQ(s.at("members"), 4);
  EXPECT_GE(s.at("auc").get<double>(), 0.0);
  EXPECT_EQ(s.at("unet_images"), 8 * 3 * 2);
}

// A copy of the tiny pipeline whose U-Net weights are moved by seeded noise: a shadow that scores
// differently from the target (the wiring is under test, not what training would teach it).
void perturbed_copy(const fs::path& from, const fs::path& to, uint64_t seed) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive);
  const fs::path w = to / "unet" / "diffusion_pytorch_model.safetensors";
  io::Safetensors st = io::read_safetensors(w);
  torch::manual_seed(seed);
  for (auto& [name, a] : st.tensors) {
    if (a.dtype != io::DType::kF32) continue;
    const torch::Tensor t = io::to_tensor(a);
    a = io::from_tensor(t + 0.05 * torch::randn_like(t) * (t.abs().mean() + 1e-3));
  }
  io::write_safetensors(w, st);
}

// SecMI and PIA with the caption: independent of the batch, equal to the formulas worked by hand
// from the pipeline's own noise predictions for one row, and written by run_text_mia as −error.
TEST(TextMia, SecmiAndPiaFollowTheirDefinitionsWithTheCaption) {
  test::TempDir dir;
  const auto ds = captioned();
  const fs::path model = tiny_pipeline();
  const auto pipe = diffusion::SdPipeline::load(model);
  TextMiaOptions o;
  o.secmi_t = 20;
  o.secmi_step = 10;  // invert 0 -> 10, then 10 -> 20 and back: 3 evaluations
  o.pia_t = 50;
  o.pia_p = 2;
  o.batch = 3;
  const TextRowErrors secmi = text_secmi_errors(pipe, ds, o);
  const TextRowErrors pia = text_pia_errors(pipe, ds, o);
  EXPECT_EQ(secmi.unet_images, 8 * 3);
  EXPECT_EQ(pia.unet_images, 8 * 2);
  o.batch = 64;
  const TextRowErrors secmi_all = text_secmi_errors(pipe, ds, o);
  const TextRowErrors pia_all = text_pia_errors(pipe, ds, o);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_GT(secmi.errors[i], 0);
    EXPECT_NEAR(secmi.errors[i], secmi_all.errors[i], 1e-4 * secmi.errors[i]);
    EXPECT_NEAR(pia.errors[i], pia_all.errors[i], 1e-4 * pia.errors[i]);
  }
  // Row 5 by hand.
  torch::NoGradGuard no_grad;
  const diffusion::NoiseSchedule sch(pipe.scheduler_config());
  const torch::Tensor x0 = pipe.to_latents(io::to_tensor(ds.images).slice(0, 5, 6));
  const torch::Tensor c = pipe.encode({(*ds.captions)[5]});
  auto eps = [&](const torch::Tensor& x, int64_t t) { return pipe.predict_noise(x, torch::full({1}, t, torch::kLong), c); };
  auto move = [&](const torch::Tensor& x, const torch::Tensor& e, int64_t from, int64_t to) {
    const double a = sch.alpha_cumprod(from), b = sch.alpha_cumprod(to);
    return std::sqrt(b) * (x - std::sqrt(1 - a) * e) / std::sqrt(a) + std::sqrt(1 - b) * e;
  };
  const torch::Tensor x10 = move(x0, eps(x0, 0), 0, 10);
  const torch::Tensor x20 = move(x10, eps(x10, 10), 10, 20);
  const double want_secmi = (move(x20, eps(x20, 20), 20, 10) - x10).pow(2).mean().item<double>();
  EXPECT_NEAR(secmi.errors[5], want_secmi, 1e-4 * want_secmi);
  const torch::Tensor e0 = eps(x0, 0);
  const double ab = sch.alpha_cumprod(50);
  const torch::Tensor xt = std::sqrt(ab) * x0 + std::sqrt(1 - ab) * e0;
  const double want_pia = (eps(xt, 50) - e0).pow(2).mean().item<double>();
  EXPECT_NEAR(pia.errors[5], want_pia, 1e-4 * want_pia);

  std::vector<bool> members(8, false);
  for (size_t i = 0; i < 4; ++i) members[i] = true;
  const MiaRunResult r = run_text_mia(model, ds, members, "secmi,pia", o, dir / "out");
  ASSERT_EQ(r.attacks.size(), 3u);  // loss, secmi, pia
  EXPECT_EQ(r.attacks[1].name, "secmi");
  EXPECT_EQ(r.attacks[2].name, "pia");
  const auto rows = io::parse_csv(test::read_bytes(dir / "out" / "pia" / "scores.csv"), "pia");
  ASSERT_EQ(rows.size(), 9u);
  EXPECT_NEAR(std::stod(rows[6][2]), -want_pia, 1e-4 * want_pia);
  EXPECT_EQ(io::read_json(dir / "out" / "secmi" / "summary.json").at("unet_images"), 8 * 3);
}

// Four shadow members masks over the 8 rows: each row IN for two shadows and OUT for two (LiRA
// needs two of each).
const std::vector<std::vector<bool>> kShadowMasks = {{true, false, true, false, true, false, true, false},
                                                     {false, true, false, true, false, true, false, true},
                                                     {true, true, false, false, true, true, false, false},
                                                     {false, false, true, true, false, false, true, true}};

// Shadow pipelines FOLDER/model-00K: the pipeline's weights perturbed (seed seed0 + K), members
// kShadowMasks[K].
std::vector<fs::path> make_shadows(const fs::path& model, const fs::path& folder, uint64_t seed0) {
  std::vector<fs::path> dirs;
  for (size_t k = 0; k < kShadowMasks.size(); ++k) {
    dirs.push_back(folder / ("model-00" + std::to_string(k)));
    perturbed_copy(model, dirs.back(), seed0 + k);
    data::save_members(dirs.back(), kShadowMasks[k]);
  }
  return dirs;
}

// LiRA's plumbing: every shadow pipeline of the folder is scored with the same noise, and its
// members.npy decides which of its errors are IN.
TEST(TextMia, LiraFitsTheShadowPipelinesErrorsByTheirMembers) {
  test::TempDir dir;
  const auto ds = captioned();
  const fs::path model = tiny_pipeline();
  std::vector<bool> members(8, false);
  for (size_t i = 0; i < 4; ++i) members[i] = true;
  const std::vector<std::vector<bool>>& masks = kShadowMasks;
  const std::vector<fs::path> dirs = make_shadows(model, dir / "shadows", 10);
  TextMiaOptions o;
  o.t = 30;
  o.draws = 2;
  const MiaRunResult r = run_text_mia(model, ds, members, "lira", o, dir / "out", "cpu", nullptr, dir / "shadows");
  EXPECT_EQ(r.shadows, 4);
  ASSERT_EQ(r.attacks.size(), 3u);  // loss, lira-online, lira-offline
  EXPECT_EQ(r.attacks[1].name, "lira-online");
  const TextMiaErrors e = text_mia_errors(model, ds, o);
  std::vector<std::vector<double>> shadow_errors;
  for (const fs::path& d : dirs) shadow_errors.push_back(text_mia_errors(d, ds, o).conditional);
  EXPECT_NE(shadow_errors[0][0], e.conditional[0]);
  LiraOptions lo;
  for (const char* name : {"lira-online", "lira-offline"}) {
    lo.online = std::string(name) == "lira-online";
    const LiraResult want = lira_scores(e.conditional, shadow_errors, masks, lo);
    const auto rows = io::parse_csv(test::read_bytes(dir / "out" / name / "scores.csv"), name);
    ASSERT_EQ(rows.size(), 9u);
    for (size_t i = 0; i < 8; ++i)
      EXPECT_NEAR(std::stod(rows[i + 1][2]), want.scores[i], 1e-6 * (1 + std::abs(want.scores[i]))) << name << i;
    const io::Json s = io::read_json(dir / "out" / name / "summary.json");
    EXPECT_EQ(s.at("shadows").size(), 4u);
    EXPECT_EQ(s.at("unet_images"), 5 * 8 * 2 * 2);  // the target and four shadows
  }
}

// Under ranks (threads here; mpirun in scripts/mpi-trials.sh) the target's losses, SecMI, PIA and
// each shadow's loss are computed on their own ranks, and rank 0 writes the files one process writes.
TEST(TextMia, RanksSplitTheModelsAndWriteWhatOneProcessWrites) {
  test::TempDir dir;
  const auto ds = captioned();
  const fs::path model = tiny_pipeline();
  std::vector<bool> members(8, false);
  for (size_t i = 0; i < 4; ++i) members[i] = true;
  make_shadows(model, dir / "shadows", 20);
  TextMiaOptions o;
  o.t = 30;
  o.draws = 2;
  o.secmi_t = 20;
  o.secmi_step = 10;
  const std::string attacks = "clid,secmi,pia,lira";
  const MiaRunResult one = run_text_mia(model, ds, members, attacks, o, dir / "one", "cpu", nullptr, dir / "shadows");
  ASSERT_EQ(one.attacks.size(), 6u);  // loss, clid, secmi, pia, lira-online, lira-offline
  for (int ranks : {2, 3}) {
    SCOPED_TRACE(std::to_string(ranks) + " ranks");
    const fs::path out = dir / ("ranks" + std::to_string(ranks));
    const std::vector<std::string> errors = test::run_ranks(ranks, [&](const dist::Communicator& comm) {
      const MiaRunResult r = run_text_mia(model, ds, members, attacks, o, out, "cpu", nullptr, dir / "shadows", comm);
      EXPECT_EQ(r.members, 4);
      EXPECT_EQ(r.attacks.size(), comm.rank() == 0 ? 6u : 0u);
    });
    for (const std::string& e : errors) EXPECT_EQ(e, "");
    EXPECT_EQ(test::read_bytes(out / "split-check.json"), test::read_bytes(dir / "one" / "split-check.json"));
    for (const MiaAttackReport& rep : one.attacks) {
      for (const char* f : {"scores.csv", "roc.csv"})
        EXPECT_EQ(test::read_bytes(out / rep.name / f), test::read_bytes(rep.dir / f)) << rep.name << "/" << f;
      io::Json a = io::read_json(rep.dir / "summary.json"), b = io::read_json(out / rep.name / "summary.json");
      a.erase("timing");
      b.erase("timing");
      EXPECT_EQ(a.dump(1), b.dump(1)) << rep.name;
    }
  }
  // A rank that cannot read a shadow stops every rank, named, before any model runs.
  fs::remove(dir / "shadows" / "model-001" / "members.npy");
  const std::vector<std::string> errors = test::run_ranks(2, [&](const dist::Communicator& comm) {
    run_text_mia(model, ds, members, attacks, o, dir / "bad", "cpu", nullptr, dir / "shadows", comm);
  });
  for (const std::string& e : errors) EXPECT_NE(e.find("rank 0: "), std::string::npos) << e;
  for (const std::string& e : errors) EXPECT_NE(e.find("members.npy"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir / "bad" / "loss"));
}

TEST(TextMia, RefusalsNameTheProblem) {
  test::TempDir dir;
  auto ds = captioned();
  const fs::path model = tiny_pipeline();
  std::vector<bool> members(8, true);
  std::string m = test::error_of([&] { run_text_mia(model, ds, members, "clid", {}, dir / "o"); });
  EXPECT_NE(m.find("non-members"), std::string::npos) << m;
  members[0] = false;
  m = test::error_of([&] { run_text_mia(model, ds, members, "lira", {}, dir / "o"); });
  EXPECT_NE(m.find("--shadows"), std::string::npos) << m;
  m = test::error_of([&] { run_text_mia(model, ds, members, "loss,secmii", {}, dir / "o"); });
  EXPECT_NE(m.find("'secmii'"), std::string::npos) << m;
  TextMiaOptions bad;
  bad.secmi_t = 105;  // not a multiple of secmi_step 10
  m = test::error_of([&] { run_text_mia(model, ds, members, "secmi", bad, dir / "o"); });
  EXPECT_NE(m.find("secmi_t"), std::string::npos) << m;
  EXPECT_NE(m.find("105"), std::string::npos) << m;
  bad = {};
  bad.pia_p = 3;
  m = test::error_of([&] { run_text_mia(model, ds, members, "pia", bad, dir / "o"); });
  EXPECT_NE(m.find("pia_p"), std::string::npos) << m;
  fs::create_directories(dir / "shadows" / "a");
  fs::copy(model, dir / "shadows" / "a", fs::copy_options::recursive);
  m = test::error_of([&] { run_text_mia(model, ds, members, "lira", {}, dir / "o", "cpu", nullptr, dir / "shadows"); });
  EXPECT_NE(m.find("members.npy"), std::string::npos) << m;
  TextMiaOptions o;
  o.t = 1000;  // the schedule has 1000 timesteps: 0..999
  m = test::error_of([&] { run_text_mia(model, ds, members, "loss", o, dir / "o"); });
  EXPECT_NE(m.find("--t"), std::string::npos) << m;
  ds.captions.reset();
  m = test::error_of([&] { run_text_mia(model, ds, members, "loss", {}, dir / "o"); });
  EXPECT_NE(m.find("captions"), std::string::npos) << m;
}

}  // namespace
}  // namespace diffmem::attack
