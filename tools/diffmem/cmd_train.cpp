// `diffmem train`: train one model (or K shadow models on seeded halves) on a dataset directory.
#include <cstdio>
#include <memory>

#include "command.h"
#include "flags.h"
#include "ranks.h"
#include "diffmem/core/error.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/json.h"
#include "diffmem/model/unet2d_config.h"
#include "diffmem/train/trainer.h"

namespace {
using namespace diffmem;

struct Args {
  train::ManyOptions many;
  std::string data, out, config;
  std::unique_ptr<cli::ConfigFlags> flags;  // set over the --config file
};

std::string result_line(const train::TrainResult& r) {
  char line[1024];
  if (r.already_done)
    std::snprintf(line, sizeof line, "%s: already trained (%lld steps); nothing to do\n", r.model_dir.c_str(),
                  static_cast<long long>(r.steps_done));
  else
    std::snprintf(line, sizeof line, "%s: trained steps %lld..%lld, %.2fM parameters, loss %.4f, %.1f images/s%s\n",
                  r.model_dir.c_str(), static_cast<long long>(r.start_step),
                  static_cast<long long>(r.steps_done), r.parameters / 1e6, r.final_loss,
                  r.images_per_s, r.start_step > 0 ? " (resumed)" : "");
  return line;
}

void print_result(const train::TrainResult& r) { std::fputs(result_line(r).c_str(), stdout); }

// K models over an MPI job's ranks (model k on rank k % ranks); rank 0 prints every model's line,
// in model order.
void train_models(const data::Dataset& ds, const std::string& out, const train::TrainOptions& opt,
                  train::ManyOptions many, const ProgressFn& progress) {
  const dist::Communicator& comm = cli::ranks();
  many.rank = comm.rank();
  many.ranks = comm.size();
  const std::vector<train::TrainResult> results = train::train_many(ds, out, opt, many, progress);
  std::string mine;  // this rank's models' lines, in model order (each ends with a newline)
  for (const train::TrainResult& r : results)
    if (!r.model_dir.empty()) mine += result_line(r);
  cli::print_model_lines(static_cast<int64_t>(results.size()), mine);
}
}  // namespace

DIFFMEM_COMMAND(200) {
  auto a = std::make_shared<Args>();
  std::string presets;
  for (auto& p : model::UNet2DConfig::preset_names()) presets += (presets.empty() ? "" : ", ") + p;
  auto* sub = app.add_subcommand(
      "train",
      "Train a DDPM on a dataset directory (resumable; rerun the same command to continue)");
  namespace flag = cli::flags;
  cli::add_shared(sub, flag::kData, a->data)->required();
  cli::add_shared(sub, flag::kOut, a->out, "the model folder, or the parent folder with --models")
      ->required();
  sub->add_option("--config", a->config, "JSON file of training options (flags override it)");
  a->flags = std::make_unique<cli::ConfigFlags>(sub);
  cli::ConfigFlags& f = *a->flags;
  const train::TrainOptions d;
  f.add<std::string>("--preset", "Model preset: " + presets, {"/preset"}, d.preset)
      ->capture_default_str();
  f.add<std::string>("--unet-config", "diffusers config.json for the U-Net", {"/unet_config"});
  f.add<int64_t>(flag::kSteps, "optimizer steps", {"/steps"}, d.steps)->capture_default_str();
  f.add<int64_t>(flag::kBatch, "training", {"/batch"}, d.batch)->capture_default_str();
  f.add<double>("--lr", "Peak learning rate", {"/lr"}, d.lr)->capture_default_str();
  f.add<int64_t>("--warmup", "Linear warmup steps", {"/warmup_steps"}, d.warmup_steps)
      ->capture_default_str();
  f.add<double>("--grad-clip", "Gradient norm clip (0 = off)", {"/grad_clip"}, d.grad_clip)
      ->capture_default_str();
  f.add<double>("--ema", "EMA decay", {"/ema_decay"}, d.ema_decay)->capture_default_str();
  f.add<bool>("--flip", "Random horizontal flips (true/false)", {"/flip"}, d.flip)
      ->capture_default_str();
  f.add<int64_t>("--checkpoint-every", "Checkpoint interval (steps)", {"/checkpoint_every"},
                 d.checkpoint_every)
      ->capture_default_str();
  f.add<uint64_t>(flag::kSeed, "of every model trained", {"/seed"}, d.seed)->capture_default_str();
  f.add<std::string>("--precision",
                     "fp32 | bf16 | fp16: the forward pass under autocast (fp16: CUDA only, with loss "
                     "scaling); weights, Adam and EMA stay f32",
                     {"/precision"}, d.precision)
      ->capture_default_str();
  f.add<std::string>("--beta-schedule", "linear | scaled_linear | squaredcos_cap_v2",
                     {"/beta_schedule"}, d.beta_schedule)
      ->capture_default_str();
  f.add<std::string>("--conditioning",
                     "none (a UNet2DModel) | text (a text-to-image pipeline folder on a captioned data set; "
                     "presets tiny, small)",
                     {"/conditioning"}, d.conditioning)
      ->capture_default_str();
  f.add<std::string>("--init", "Text-to-image: a pipeline folder to fine-tune (its U-Net trains)", {"/text/init"});
  f.add<std::string>("--vae", "Text-to-image from scratch: an AutoencoderKL folder, for latent space",
                     {"/text/vae"});
  f.add<double>("--caption-dropout", "Text-to-image: chance a caption is replaced by \"\"", {"/text/caption_dropout"},
                d.text.caption_dropout)
      ->capture_default_str();
  f.add_set(io::field_keys(d));
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
    const std::string where = a->config.empty() ? "command-line flags" : a->config;
    const io::Json file = a->config.empty() ? io::Json::object() : cli::read_config(a->config);
    train::TrainOptions opt = io::read_options<train::TrainOptions>(a->flags->over(file), where);
    opt.device = cli::globals().device;
    data::Dataset ds = data::load_dataset(a->data);
    auto progress = cli::terminal_progress();
    const bool many = sub->count("--models") > 0 || sub->count("--split") > 0 || sub->count("--jobs") > 0;
    if (!many && cli::ranks().size() > 1)
      throw dist::CollectiveError("mpirun/srun: expected --models K to split models over " +
                                  std::to_string(cli::ranks().size()) +
                                  " ranks (one model trains in one process), found one model");
    const cli::JobLock lock(a->out, "--out");  // one run per folder
    if (many) {
      train_models(ds, a->out, opt, a->many, progress);
      return;
    }
    print_result(train::train_on_members(ds, a->out, opt, progress));
  });
}
