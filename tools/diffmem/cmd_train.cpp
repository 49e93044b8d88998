// `diffmem train`: train one model (or K shadow models on seeded halves) on a dataset directory.
#include <cstdio>
#include <memory>

#include "command.h"
#include "diffmem/core/error.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/json.h"
#include "diffmem/model/unet2d_config.h"
#include "diffmem/train/trainer.h"

namespace {
using namespace diffmem;

struct Args {
  train::TrainOptions opt;
  train::ManyOptions many;
  std::string data, out, config;
  bool many_given = false;
};

void print_result(const train::TrainResult& r) {
  if (r.already_done) {
    std::printf("%s: already trained (%lld steps); nothing to do\n", r.model_dir.c_str(),
                static_cast<long long>(r.steps_done));
    return;
  }
  std::printf("%s: trained steps %lld..%lld, %.2fM parameters, loss %.4f, %.1f images/s%s\n",
              r.model_dir.c_str(), static_cast<long long>(r.start_step),
              static_cast<long long>(r.steps_done), r.parameters / 1e6, r.final_loss,
              r.images_per_s, r.start_step > 0 ? " (resumed)" : "");
}
}  // namespace

DIFFMEM_COMMAND(200) {
  auto a = std::make_shared<Args>();
  std::string presets;
  for (auto& p : model::UNet2DConfig::preset_names()) presets += (presets.empty() ? "" : ", ") + p;
  auto* sub = app.add_subcommand(
      "train",
      "Train a DDPM on a dataset directory (resumable; rerun the same command to continue)");
  sub->add_option("--data", a->data, "Dataset directory (diffmem data import/subset)")->required();
  sub->add_option("--out", a->out, "Model folder (or parent folder with --models)")->required();
  sub->add_option("--config", a->config, "JSON file of training options (flags override it)");
  sub->add_option("--preset", a->opt.preset, "Model preset: " + presets)->capture_default_str();
  sub->add_option("--unet-config", a->opt.unet_config, "diffusers config.json for the U-Net");
  sub->add_option("--steps", a->opt.steps, "Optimizer steps")->capture_default_str();
  sub->add_option("--batch", a->opt.batch, "Batch size")->capture_default_str();
  sub->add_option("--lr", a->opt.lr, "Peak learning rate")->capture_default_str();
  sub->add_option("--warmup", a->opt.warmup_steps, "Linear warmup steps")->capture_default_str();
  sub->add_option("--grad-clip", a->opt.grad_clip, "Gradient norm clip (0 = off)")
      ->capture_default_str();
  sub->add_option("--ema", a->opt.ema_decay, "EMA decay")->capture_default_str();
  sub->add_option("--flip", a->opt.flip, "Random horizontal flips (true/false)")
      ->capture_default_str();
  sub->add_option("--checkpoint-every", a->opt.checkpoint_every, "Checkpoint interval (steps)")
      ->capture_default_str();
  sub->add_option("--seed", a->opt.seed, "Seed of every random choice")->capture_default_str();
  sub->add_option("--beta-schedule", a->opt.beta_schedule,
                  "linear | scaled_linear | squaredcos_cap_v2")
      ->capture_default_str();
  sub->add_option("--models", a->many.models,
                  "Train K models into OUT/model-000.. (shadow models for LiRA)")
      ->capture_default_str();
  sub->add_option("--split", a->many.split,
                  "With --models: half (each on its own seeded random half) or all")
      ->capture_default_str();
  sub->add_option("--jobs", a->many.jobs,
                  "With --models: models trained at once, each on threads/jobs cores (one per "
                  "core is fastest for small presets)")
      ->capture_default_str();
  sub->callback([a, sub] {
    cli::start();
    train::TrainOptions opt = a->opt;
    if (!a->config.empty()) {
      // The file gives the base; flags given on the command line win.
      train::TrainOptions file = train::train_options_from_json(io::read_json(a->config), a->config);
      io::Json merged = train::to_json(file);
      io::Json flags = train::to_json(a->opt);
      const std::pair<const char*, const char*> map[] = {
          {"--preset", "preset"}, {"--unet-config", "unet_config"}, {"--steps", "steps"},
          {"--batch", "batch"}, {"--lr", "lr"}, {"--warmup", "warmup_steps"},
          {"--grad-clip", "grad_clip"}, {"--ema", "ema_decay"}, {"--flip", "flip"},
          {"--checkpoint-every", "checkpoint_every"}, {"--seed", "seed"},
          {"--beta-schedule", "beta_schedule"}};
      for (auto& [flag, key] : map)
        if (sub->count(flag) > 0) merged[key] = flags[key];
      opt = train::train_options_from_json(merged, a->config);
    }
    opt.device = cli::globals().device == "auto" ? "auto" : cli::globals().device;
    data::Dataset ds = data::load_dataset(a->data);
    auto progress = cli::terminal_progress();
    if (sub->count("--models") > 0 || sub->count("--split") > 0 || sub->count("--jobs") > 0) {
      auto results = train::train_many(ds, a->out, opt, a->many, progress);
      for (auto& r : results) print_result(r);
      return;
    }
    print_result(train::train_on_members(ds, a->out, opt, progress));
  });
}
