// `diffmem sample`: generations from a model as uint8 .npy shards + seeds, resumable.
#include <cstdio>
#include <memory>

#include "command.h"
#include "flags.h"
#include "diffmem/core/error.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/generate.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/model/checkpoint.h"

namespace {
using namespace diffmem;
namespace fs = std::filesystem;

struct Args {
  diffusion::GenerateOptions opt;
  std::unique_ptr<cli::SetFlag> set;
  std::string model, torchscript, scheduler, out;
  std::string shard = "0/1";
  int64_t clip = -1;
};

}  // namespace

DIFFMEM_COMMAND(300) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("sample", "Generate images from a model (sharded, resumable)");
  cli::add_shared(sub, cli::flags::kModel, a->model);
  sub->add_option("--torchscript", a->torchscript,
                  "TorchScript file with forward(x, t) -> eps (instead of --model)");
  sub->add_option("--scheduler-config", a->scheduler,
                  "scheduler_config.json (default: the model's)");
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder for images-NNNNN.npy / seeds-NNNNN.npy shards")
      ->required();
  sub->add_option("--n", a->opt.n, "Number of images")->capture_default_str();
  cli::add_shared(sub, cli::flags::kSampler, a->opt.sample.sampler)
      ->check(CLI::IsMember({"ddpm", "ddim"}))
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kSteps, a->opt.sample.steps, "sampling; 0 = 1000 ddpm, 50 ddim")
      ->capture_default_str();
  sub->add_option("--eta", a->opt.sample.eta, "DDIM eta")->capture_default_str();
  cli::add_shared(sub, cli::flags::kBatch, a->opt.sample.batch, "images per forward pass")->capture_default_str();
  cli::add_shared(sub, cli::flags::kSeed, a->opt.seed, "image i uses seed + i")->capture_default_str();
  sub->add_option("--shard-size", a->opt.shard_size, "Images per shard file")->capture_default_str();
  sub->add_option("--shard", a->shard, "This worker's shards as INDEX/COUNT")->capture_default_str();
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<diffusion::GenerateOptions>());
  sub->callback([a] {
    cli::start();
    if (a->model.empty() == a->torchscript.empty())
      fail("--model/--torchscript", "exactly one of them", a->model.empty() ? "neither" : "both");
    auto slash = a->shard.find('/');
    if (slash == std::string::npos) fail("--shard", "INDEX/COUNT", "'" + a->shard + "'");
    a->opt.shard_index = std::stoll(a->shard.substr(0, slash));
    a->opt.shard_count = std::stoll(a->shard.substr(slash + 1));
    a->set->apply(a->opt);

    model::LoadDenoiserOptions lo;
    lo.device = cli::globals().device;
    fs::path src = a->model;
    if (!a->torchscript.empty()) {
      lo.format = "torchscript";
      src = a->torchscript;
    }
    auto denoiser = model::load_denoiser(src, lo);
    diffusion::NoiseSchedule schedule(diffusion::model_scheduler_config(src, a->scheduler));
    a->opt.model = src.string();
    auto r = diffusion::generate(*denoiser, schedule, a->out, a->opt, cli::terminal_progress());
    std::printf("%s: %lld images in %lld new shards (%lld already complete, %lld in all), %.2f images/s\n",
                a->out.c_str(), static_cast<long long>(r.images_written),
                static_cast<long long>(r.shards_written), static_cast<long long>(r.shards_skipped),
                static_cast<long long>(r.shards_total), r.images_per_s);
    std::printf("preview: %s\n", (fs::path(a->out) / "preview.png").c_str());
  });
}
