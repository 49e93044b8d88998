// `diffmem train-gan`: a DCGAN-class GAN (model/dcgan.h, recipe in train/gan_trainer.h) on a data
// set, resumable; with --models K, K GANs on seeded halves as `diffmem train` lays them out.
#include <cstdio>
#include <memory>

#include "command.h"
#include "ranks.h"
#include "flags.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/data/dataset.h"
#include "diffmem/train/gan_trainer.h"

namespace {
using namespace diffmem;

struct Args {
  train::GanTrainOptions opt;
  std::unique_ptr<cli::SetFlag> set;
  std::string data, out, split = "half";
  int64_t models = 1;
};

std::string result_line(const train::GanTrainResult& r) {
  char line[1024];
  if (r.already_done)
    std::snprintf(line, sizeof line, "%s: already trained (%lld steps); nothing to do\n", r.model_dir.c_str(),
                  static_cast<long long>(r.steps_done));
  else
    std::snprintf(line, sizeof line,
                  "%s: trained steps %lld..%lld, %.2fM parameters (G + D), losses D %.4f G %.4f, %.1f images/s%s\n",
                  r.model_dir.c_str(), static_cast<long long>(r.start_step), static_cast<long long>(r.steps_done),
                  static_cast<double>(r.parameters) / 1e6, r.d_loss, r.g_loss, r.images_per_s,
                  r.start_step > 0 ? " (resumed)" : "");
  return line;
}

}  // namespace

DIFFMEM_COMMAND(220) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "train-gan",
      "Train a DCGAN-class GAN on a data set (resumable; rerun the same command to continue, or with more "
      "--steps to train on), for comparing its leakage with a diffusion model's");
  cli::add_shared(sub, cli::flags::kData, a->data)->required();
  cli::add_shared(sub, cli::flags::kOut, a->out, "the GAN folder, or the parent folder with --models")->required();
  cli::add_shared(sub, cli::flags::kSteps, a->opt.steps, "optimizer steps (one D and one G update each)")
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kBatch, a->opt.batch, "training")->capture_default_str();
  sub->add_option("--lr", a->opt.lr, "Adam's learning rate, both networks")->capture_default_str();
  sub->add_option("--z-dim", a->opt.z_dim, "Latent size")->capture_default_str();
  sub->add_option("--width", a->opt.base_width, "Base channel count of both networks")->capture_default_str();
  sub->add_option("--r1-gamma", a->opt.r1_gamma, "R1 penalty weight on real images (0 = off)")->capture_default_str();
  sub->add_option("--r1-every", a->opt.r1_every, "Apply R1 on every k-th step, scaled by k (lazy regularization)")
      ->capture_default_str();
  sub->add_option("--ema", a->opt.ema_decay, "EMA decay of the generator")->capture_default_str();
  sub->add_option("--flip", a->opt.flip, "Random horizontal flips (true/false)")->capture_default_str();
  sub->add_option("--checkpoint-every", a->opt.checkpoint_every, "Checkpoint interval (steps)")->capture_default_str();
  cli::add_shared(sub, cli::flags::kSeed, a->opt.seed, "of every GAN trained")->capture_default_str();
  sub->add_option("--models", a->models, "Train K GANs into OUT/model-000..")->capture_default_str();
  sub->add_option("--split", a->split, "With --models: half (each on its own seeded random half) or all")
      ->capture_default_str();
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<train::GanTrainOptions>());
  sub->callback([a, sub] {
    cli::start();
    a->set->apply(a->opt);
    a->opt.device = cli::globals().device;
    train::validate(a->opt, "train-gan options");
    const data::Dataset ds = data::load_dataset(a->data);
    auto progress = cli::terminal_progress();
    const bool many = sub->count("--models") > 0 || sub->count("--split") > 0;
    if (!many && cli::ranks().size() > 1)
      throw dist::CollectiveError("mpirun/srun: expected --models K to split GANs over " +
                                  std::to_string(cli::ranks().size()) +
                                  " ranks (one GAN trains in one process), found one GAN");
    const cli::JobLock lock(a->out, "--out");  // one run per folder
    if (many) {
      // GAN k on rank k % ranks; rank 0 prints every GAN's line in model order.
      const dist::Communicator& comm = cli::ranks();
      std::string mine;
      for (const auto& r : train::train_gan_many(ds, a->out, a->opt, a->models, a->split, progress, comm.rank(),
                                                 comm.size()))
        if (!r.model_dir.empty()) mine += result_line(r);
      cli::print_model_lines(a->models, mine);
      return;
    }
    std::fputs(result_line(train::train_gan_on_members(ds, a->out, a->opt, progress)).c_str(), stdout);
  });
}
