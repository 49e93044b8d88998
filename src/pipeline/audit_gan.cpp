// The audit of a GAN (target "gan"): the stages that differ from a diffusion model's — training
// the target, sampling it, membership inference by its discriminator. Extraction, the black-box
// filter, quality and the report read the generations and results as they do a diffusion model's.
#include <torch/torch.h>

#include <cstdio>

#include "audit_internal.h"
#include "diffmem/attack/mia_gan.h"
#include "diffmem/diffusion/generate.h"
#include "diffmem/model/dcgan.h"
#include "diffmem/train/gan_trainer.h"

namespace diffmem::pipeline::detail {
namespace fs = std::filesystem;
using io::Json;

const char* const kGanNoInpaint =
    "a GAN: the inpainting attack runs a diffusion model's reverse process, which a GAN has not";

Json gan_train_key(const StageContext& c) {
  Json g = io::fields_json(c.options.gan);
  g.erase("device");
  return {{"model", c.options.model}, {"target", "gan"}, {"gan", g}};
}

std::string train_gan_target(const StageContext& c) {
  const data::Dataset ds = data::load_dataset(c.paths.data);
  train::GanTrainOptions g = c.options.gan;
  g.device = c.device;
  const auto r = train::train_gan_on_members(ds, c.paths.model, g, c.progress);
  char b[160];
  std::snprintf(b, sizeof b, "target GAN: %lld steps, %.2fM parameters (G + D), losses D %.3f G %.3f",
                static_cast<long long>(r.steps_done), static_cast<double>(r.parameters) / 1e6, r.d_loss, r.g_loss);
  return b;
}

Json gan_sample_key(const StageContext& c) {
  return {{"target", "gan"},
          {"n", c.options.sample.n},
          {"shard_size", c.options.sample.shard_size},
          {"seed", c.options.seed}};
}

std::string sample_gan(const StageContext& c) {
  model::DcganSampler g(c.paths.model, torch::Device(c.device));
  diffusion::GenerateOptions o;
  o.n = c.options.sample.n;
  o.shard_size = c.options.sample.shard_size;
  o.seed = c.options.seed;
  o.sample.batch = c.options.sample.sample.batch;
  o.model = c.paths.model.string();
  const auto r = diffusion::generate(g, c.paths.samples, o, c.progress);
  return std::to_string(o.n) + " generations (" + std::to_string(r.shards_total) + " shards) from " + g.describe();
}

attack::MiaAttackReport gan_mia(const StageContext& c, const fs::path& truth_dir) {
  attack::GanMiaOptions m;
  m.data = c.paths.data;
  m.target = c.paths.model;
  m.members = truth_dir;
  m.out = c.paths.mia;
  m.flip = c.options.mia.loss.flip;
  m.batch = c.options.mia.loss.batch;
  m.device = c.device;
  m.bootstrap = c.options.mia.bootstrap;
  m.calibrate_on = c.options.mia.calibrate_on;
  return attack::run_gan_mia(m, c.progress);
}

}  // namespace diffmem::pipeline::detail
