// `diffmem sample`: generations from a model as uint8 .npy shards + seeds, resumable; from a
// Stable Diffusion pipeline folder (model_index.json), per_prompt images for each prompt.
#include <cstdio>
#include <memory>

#include "command.h"
#include "flags.h"
#include "ranks.h"
#include "diffmem/core/error.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/core/runtime.h"
#include "diffmem/data/prompts.h"
#include "diffmem/diffusion/generate.h"
#include "diffmem/diffusion/sd_generate.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/model/checkpoint.h"
#include "diffmem/model/dcgan.h"
#include "diffmem/model/torchscript_generator.h"

namespace {
using namespace diffmem;
namespace fs = std::filesystem;

struct Args {
  diffusion::GenerateOptions opt;
  std::unique_ptr<cli::SetFlag> set;
  std::string model, torchscript, scheduler, out;
  std::string torchscript_generator, generator_config;  // a GAN exported from PyTorch
  std::string shard = "0/1";
  int64_t clip = -1;
  int64_t in_channels = 0, sample_size = 0;  // --torchscript: the input it takes
  // Text-to-image (a pipeline folder).
  std::vector<std::string> prompt;
  std::string prompts, negative;
  std::string pipeline_config;  // with --model FILE.safetensors: an original single-file checkpoint
  int64_t per_prompt = 1, size = 0;
  double guidance = 7.5;
};

// "INDEX/COUNT", two plain non-negative integers (no sign, no spaces, at most 9 digits each).
void parse_shard(const std::string& text, diffusion::GenerateOptions& o) {
  const auto slash = text.find('/');
  const auto plain = [](const std::string& s) {
    return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (slash == std::string::npos || !plain(text.substr(0, slash)) || !plain(text.substr(slash + 1)))
    fail("--shard", "INDEX/COUNT (two non-negative integers, e.g. 0/4)", "'" + text + "'");
  o.shard_index = std::stoll(text.substr(0, slash));
  o.shard_count = std::stoll(text.substr(slash + 1));
}

// An MPI job's ranks split the shards (rank r takes shards s with s % ranks == r), as --shard r/N
// would; a job of one rank keeps --shard.
void split_by_rank(const std::string& shard, diffusion::GenerateOptions& o) {
  const dist::Communicator& comm = cli::ranks();
  if (comm.size() == 1) return;
  if (shard != "0/1")
    throw dist::CollectiveError("--shard: expected none under mpirun/srun (the ranks split the shards: rank r "
                                "takes shards s with s % ranks == r), found '" + shard + "' with " +
                                std::to_string(comm.size()) + " ranks");
  o.shard_index = comm.rank();
  o.shard_count = comm.size();
}

// The job's totals, every rank having written its own shards; false on ranks that do not print.
bool job_totals(diffusion::GenerateResult& r) {
  const dist::Communicator& comm = cli::ranks();
  r.images_written = dist::sum(comm, r.images_written);
  r.shards_written = dist::sum(comm, r.shards_written);
  r.shards_skipped = dist::sum(comm, r.shards_skipped);
  r.images_per_s = dist::sum(comm, r.images_per_s);  // the ranks run side by side
  return cli::prints();
}

void sample_text_to_image(Args& a, CLI::App* sub) {
  if (!a.torchscript.empty() || !a.scheduler.empty() || sub->count("--eta") || sub->count("--n") ||
      sub->count("--precision") || !a.set->json().empty())
    fail(a.model, "options of a text-to-image pipeline (--prompt/--prompts, --per-prompt, --guidance, "
                  "--negative-prompt, --size, --sampler, --steps, --batch, --seed, --shard)",
         "--torchscript, --scheduler-config, --eta, --n, --precision or --set (pixel models only; the "
         "pipeline's scheduler/ is used, or --sampler's)");
  if (a.prompt.empty() == a.prompts.empty())
    fail("--prompt/--prompts", "exactly one of them for a text-to-image pipeline",
         a.prompt.empty() ? "neither" : "both");
  const std::vector<std::string> prompts = a.prompt.empty() ? data::read_prompt_file(a.prompts) : a.prompt;
  diffusion::TextToImageOptions o;
  o.per_prompt = a.per_prompt;
  o.shard_size = a.opt.shard_size;
  o.shard_index = a.opt.shard_index;
  o.shard_count = a.opt.shard_count;
  o.seed = a.opt.seed;
  o.negative_prompt = a.negative;
  o.pipeline.steps = a.opt.sample.steps > 0 ? a.opt.sample.steps : 50;
  o.pipeline.guidance_scale = a.guidance;
  o.pipeline.height = o.pipeline.width = a.size;
  o.pipeline.batch = a.opt.sample.batch;
  if (sub->count("--sampler")) o.pipeline.sampler = a.opt.sample.sampler;
  o.model = a.model;
  diffusion::validate(o.pipeline, "sample options");  // before the folder is loaded
  const torch::Device device(core::resolve_device(cli::globals().device));
  const bool single = !a.pipeline_config.empty();
  const diffusion::SdPipeline pipe = diffusion::SdPipeline::load(single ? a.pipeline_config : a.model, device,
                                                                 single ? fs::path(a.model) : fs::path());
  const cli::JobLock lock(a.out, "--out");  // one run per folder
  diffusion::GenerateResult r = diffusion::generate_text_to_image(pipe, prompts, a.out, o, cli::terminal_progress());
  if (!job_totals(r)) return;
  std::printf("%s: %lld images of %zu prompts in %lld new shards (%lld already complete, %lld in all), "
              "%.2f images/s\n",
              a.out.c_str(), static_cast<long long>(r.images_written), prompts.size(),
              static_cast<long long>(r.shards_written), static_cast<long long>(r.shards_skipped),
              static_cast<long long>(r.shards_total), r.images_per_s);
}

// A GAN: a folder `diffmem train-gan` wrote (--model) or a TorchScript generator with its JSON.
void sample_gan(Args& a, CLI::App* sub) {
  std::string refused;
  for (const char* f : {"--torchscript", "--scheduler-config", "--sampler", "--steps", "--eta", "--precision", "--class",
                        "--in-channels", "--sample-size", "--prompt", "--prompts", "--per-prompt", "--guidance",
                        "--negative-prompt", "--size", "--pipeline-config", "--set"})
    if (sub->count(f) > 0) refused += (refused.empty() ? "" : ", ") + std::string(f);
  if (!refused.empty())
    fail(a.model.empty() ? a.torchscript_generator : a.model,
         "only --n, --batch, --seed, --shard-size and --shard for a GAN (image i is g(z_i), z_i from seed + i)",
         refused + " (options of diffusion sampling)");
  if (!a.torchscript_generator.empty() && a.generator_config.empty())
    fail("--generator-config", "a JSON with z_dim, height, width, channels and the output range, with "
                               "--torchscript-generator", "none");
  diffusion::validate(a.opt, "sample options");  // before the model is loaded
  const torch::Device device(core::resolve_device(cli::globals().device));
  std::unique_ptr<model::Generator> g;
  if (a.torchscript_generator.empty())
    g = std::make_unique<model::DcganSampler>(a.model, device);
  else
    g = std::make_unique<model::TorchScriptGenerator>(a.torchscript_generator, a.generator_config, device);
  a.opt.model = a.model.empty() ? a.torchscript_generator : a.model;
  const cli::JobLock lock(a.out, "--out");  // one run per folder
  diffusion::GenerateResult r = diffusion::generate(*g, a.out, a.opt, cli::terminal_progress());
  if (!job_totals(r)) return;
  std::printf("%s: %lld images from %s in %lld new shards (%lld already complete, %lld in all), %.2f images/s\n",
              a.out.c_str(), static_cast<long long>(r.images_written), g->describe().c_str(),
              static_cast<long long>(r.shards_written), static_cast<long long>(r.shards_skipped),
              static_cast<long long>(r.shards_total), r.images_per_s);
  std::printf("preview: %s\n", (fs::path(a.out) / "preview.png").c_str());
}

}  // namespace

DIFFMEM_COMMAND(300) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("sample", "Generate images from a model (sharded, resumable)");
  cli::add_shared(sub, cli::flags::kModel, a->model);
  sub->add_option("--torchscript", a->torchscript,
                  "TorchScript file with forward(x, t) -> eps (instead of --model)");
  sub->add_option("--in-channels", a->in_channels, "With --torchscript: the channels of its input");
  sub->add_option("--sample-size", a->sample_size, "With --torchscript: the height = width of its input");
  sub->add_option("--torchscript-generator", a->torchscript_generator,
                  "A GAN's generator as TorchScript, forward(z) -> images (instead of --model; with "
                  "--generator-config)");
  sub->add_option("--generator-config", a->generator_config,
                  "With --torchscript-generator: JSON {z_dim, height, width, channels, output_low, "
                  "output_high, layout}");
  sub->add_option("--scheduler-config", a->scheduler,
                  "scheduler_config.json (default: the model's)");
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder for images-NNNNN.npy / seeds-NNNNN.npy shards")
      ->required();
  sub->add_option("--n", a->opt.n, "Number of images")->capture_default_str();
  cli::add_shared(sub, cli::flags::kSampler, a->opt.sample.sampler,
                  "or, for a text-to-image pipeline, pndm | ddim | euler | euler_a | dpmpp_2m | "
                  "dpmpp_2m_karras (default there: the pipeline's scheduler)")
      ->check(CLI::IsMember({"ddpm", "ddim", "score_sde_ve", "pndm", "euler", "euler_a", "dpmpp_2m",
                             "dpmpp_2m_karras"}))
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kSteps, a->opt.sample.steps, "sampling; 0 = 1000 ddpm, 50 ddim, 2000 score_sde_ve")
      ->capture_default_str();
  sub->add_option("--eta", a->opt.sample.eta, "DDIM eta")->capture_default_str();
  sub->add_option("--precision", a->opt.sample.precision,
                  "Pixel models: fp32 | bf16 | fp16, the denoiser under autocast (fp16: CUDA only)")
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kBatch, a->opt.sample.batch, "images per forward pass")->capture_default_str();
  cli::add_shared(sub, cli::flags::kSeed, a->opt.seed, "image i uses seed + i")->capture_default_str();
  sub->add_option("--class", a->opt.class_label,
                  "Class-conditional models: every image of this class (default: image i of class "
                  "i mod classes; written to classes-NNNNN.npy)");
  sub->add_option("--shard-size", a->opt.shard_size, "Images per shard file")->capture_default_str();
  sub->add_option("--shard", a->shard, "This worker's shards as INDEX/COUNT")->capture_default_str();
  sub->add_option("--prompt", a->prompt, "Text-to-image: a prompt (repeatable)");
  sub->add_option("--prompts", a->prompts,
                  "Text-to-image: prompts file (CSV with a prompt or caption column, or JSONL)");
  sub->add_option("--per-prompt", a->per_prompt, "Text-to-image: images per prompt")->capture_default_str();
  sub->add_option("--guidance", a->guidance, "Text-to-image: classifier-free guidance scale (1 = none)")
      ->capture_default_str();
  sub->add_option("--negative-prompt", a->negative, "Text-to-image: negative prompt for every image");
  sub->add_option("--size", a->size, "Text-to-image: height = width in pixels (0 = the model's)");
  sub->add_option("--pipeline-config", a->pipeline_config,
                  "Text-to-image from an original single-file checkpoint (--model FILE.safetensors, "
                  "CompVis names): a diffusers pipeline folder of the same architecture for the "
                  "configs, tokenizer and scheduler (its weights are not read)");
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<diffusion::GenerateOptions>());
  sub->callback([a, sub] {
    cli::start();
    const int sources = !a->model.empty() + !a->torchscript.empty() + !a->torchscript_generator.empty();
    if (sources != 1)
      fail("--model/--torchscript/--torchscript-generator", "exactly one of them", sources == 0 ? "none" : "several");
    if (!a->generator_config.empty() && a->torchscript_generator.empty())
      fail("--generator-config", "--torchscript-generator beside it (the config says how to use that module)", "none");
    parse_shard(a->shard, a->opt);
    split_by_rank(a->shard, a->opt);
    if (!a->torchscript_generator.empty() || model::is_gan_folder(a->model)) {
      sample_gan(*a, sub);
      return;
    }
    if (!a->pipeline_config.empty()) {
      if (a->model.empty() || !fs::is_regular_file(a->model))
        fail("--pipeline-config", "--model naming a single-file checkpoint (.safetensors)",
             a->model.empty() ? "no --model" : "'" + a->model + "', not a file");
      if (!fs::is_regular_file(fs::path(a->pipeline_config) / "model_index.json"))
        fail("--pipeline-config", "a diffusers pipeline folder with model_index.json", "'" + a->pipeline_config + "'");
      sample_text_to_image(*a, sub);
      return;
    }
    if (!a->model.empty() && fs::is_regular_file(fs::path(a->model) / "model_index.json")) {
      sample_text_to_image(*a, sub);
      return;
    }
    if (!a->prompt.empty() || !a->prompts.empty())
      fail("--prompt/--prompts", "a text-to-image pipeline folder (with model_index.json) as --model",
           a->model.empty() ? a->torchscript : a->model);
    a->set->apply(a->opt);
    diffusion::validate(a->opt, "sample options");  // before the model is loaded
    const bool shape_given = sub->count("--in-channels") + sub->count("--sample-size") > 0;
    if (a->torchscript.empty() ? shape_given : (a->in_channels < 1 || a->sample_size < 1))
      fail("--in-channels/--sample-size",
           a->torchscript.empty() ? "none without --torchscript (a diffusers folder says its own)"
                                  : "both, >= 1, with --torchscript (a script module does not say what input it takes)",
           shape_given ? std::to_string(a->in_channels) + " and " + std::to_string(a->sample_size) : "neither");

    model::LoadDenoiserOptions lo;
    lo.device = cli::globals().device;
    fs::path src = a->model;
    if (!a->torchscript.empty()) {
      lo.format = "torchscript";
      lo.in_channels = a->in_channels;
      lo.sample_size = a->sample_size;
      src = a->torchscript;
    }
    auto denoiser = model::load_denoiser(src, lo);
    diffusion::NoiseSchedule schedule(diffusion::model_scheduler_config(src, a->scheduler));
    a->opt.model = src.string();
    const cli::JobLock lock(a->out, "--out");  // one run per folder
    diffusion::GenerateResult r = diffusion::generate(*denoiser, schedule, a->out, a->opt, cli::terminal_progress());
    if (!job_totals(r)) return;
    std::printf("%s: %lld images in %lld new shards (%lld already complete, %lld in all), %.2f images/s\n",
                a->out.c_str(), static_cast<long long>(r.images_written),
                static_cast<long long>(r.shards_written), static_cast<long long>(r.shards_skipped),
                static_cast<long long>(r.shards_total), r.images_per_s);
    std::printf("preview: %s\n", (fs::path(a->out) / "preview.png").c_str());
  });
}
