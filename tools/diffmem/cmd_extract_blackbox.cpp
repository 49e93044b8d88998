// `diffmem extract-blackbox`: generate-and-filter without the training set (Carlini et al. §4.2).
// Groups of generations come from an external generator run per (prompt, seed), from a folder of
// folders, or from a diffmem model / diffmem generation shards; each group's largest clique of
// near-identical images (tiled ℓ2 ≤ threshold) flags a memorized image.
#include <cstdio>
#include <memory>

#include "command.h"
#include "flags.h"
#include "ranks.h"
#include "diffmem/attack/blackbox_run.h"
#include "diffmem/attack/blackbox_text_to_image.h"
#include "diffmem/core/error.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/generate.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/model/checkpoint.h"

namespace {
using namespace diffmem;
namespace fs = std::filesystem;

struct Args {
  attack::BlackboxRunOptions run;
  std::unique_ptr<cli::SetFlag> set;
  attack::GeneratorOptions gen;
  std::string out, prompts, images, model, shards, train_image, scheduler;
  int64_t per_prompt = 500;
  uint64_t seed = 0;
  int64_t max_cliques = -1;  // -1: 1 per prompt, all (0) for a single model group
  bool no_reuse = false;
  diffusion::SampleOptions sample;
  std::string sampler;  // "" = ddpm (pixel models), the folder's scheduler (text-to-image)
  int64_t batch = 0;    // 0 = 64 (pixel models), 8 (text-to-image)
  attack::TextToImageBlackboxOptions t2i;
  double screen_threshold = 0;
  CLI::Option* screen_threshold_flag = nullptr;
};

// A text-to-image pipeline folder given as --model: native generate-and-filter, screened or not.
void run_text_to_image(Args& a) {
  if (a.prompts.empty()) fail("--model", "a --prompts file naming the prompts to generate for a pipeline folder", "no --prompts");
  if (!a.train_image.empty())
    fail("--train-image", "no --train-image for a pipeline folder (prompts name theirs in --prompts)", a.train_image);
  attack::TextToImageBlackboxOptions& o = a.t2i;
  o.model = a.model;
  o.prompts = a.prompts;
  o.per_prompt = a.per_prompt;
  o.seed = a.seed;
  o.pipeline.steps = a.sample.steps > 0 ? a.sample.steps : 50;
  o.pipeline.batch = a.batch > 0 ? a.batch : 8;
  o.pipeline.sampler = a.sampler;
  a.run.analysis.max_cliques = a.max_cliques >= 0 ? a.max_cliques : 1;
  a.run.analysis.device = core::resolve_device(cli::globals().device);
  a.run.reuse = !a.no_reuse;
  o.run = a.run;
  if (a.screen_threshold_flag->count() > 0) o.screen_threshold = a.screen_threshold;
  const cli::JobLock lock(a.out, "--out");  // one run per folder
  // Under mpirun/srun the ranks split the screen and the prompts; rank 0 writes and prints.
  const attack::TextToImageBlackboxResult r =
      attack::run_blackbox_text_to_image(o, a.out, cli::globals().device, cli::terminal_progress(), cli::ranks());
  if (!cli::prints()) return;
  std::printf("%lld of %lld prompt(s) generated (%lld images each) and filtered: %lld flagged (largest clique >= %lld, "
              "tiled l2 <= %g)\n",
              static_cast<long long>(r.selected), static_cast<long long>(r.prompts),
              static_cast<long long>(o.per_prompt), static_cast<long long>(r.run.flagged),
              static_cast<long long>(o.run.analysis.min_clique), o.run.analysis.edge_threshold);
  const io::Json& cost = r.summary.at("cost");
  std::printf("U-Net evaluations: screen %lld, generation %lld this run; %lld from scratch vs %lld unscreened",
              static_cast<long long>(r.screen_unet_images), static_cast<long long>(r.generation_unet_images),
              cost.at("unet_images_from_scratch").get<long long>(), static_cast<long long>(r.unscreened_unet_images));
  if (cost.at("saving").is_number()) std::printf(" (%.1fx fewer)", cost.at("saving").get<double>());
  std::printf("\n");
  const io::Json& e = r.summary.at("extraction");
  if (e.is_object())
    std::printf("against the labels: precision %s, recall %s (%lld memorized prompts)\n",
                e.at("precision").dump().c_str(), e.at("recall").dump().c_str(), e.at("memorized").get<long long>());
  std::printf("results: %s, %s\n", (fs::path(a.out) / "prompts.csv").c_str(), (fs::path(a.out) / "summary.json").c_str());
}

// Input 3: samples per_prompt images from a diffmem/diffusers model into out/model-generations.
fs::path generate_from_model(const Args& a) {
  model::LoadDenoiserOptions lo;
  lo.device = cli::globals().device;
  auto denoiser = model::load_denoiser(a.model, lo);
  diffusion::NoiseSchedule schedule(diffusion::model_scheduler_config(a.model, a.scheduler));
  diffusion::GenerateOptions go;
  go.n = a.per_prompt;
  go.seed = a.seed;
  go.sample = a.sample;
  go.model = a.model;
  const fs::path dir = fs::path(a.out) / "model-generations";
  const auto r = diffusion::generate(*denoiser, schedule, dir, go, cli::terminal_progress());
  std::printf("model: %lld images generated, %lld shards already complete\n",
              static_cast<long long>(r.images_written), static_cast<long long>(r.shards_skipped));
  return dir;
}

void run(Args& a) {
  cli::start();
  a.set->apply(a.run);
  if (!a.model.empty() && fs::exists(fs::path(a.model) / "model_index.json")) return run_text_to_image(a);
  a.sample.sampler = a.sampler.empty() ? "ddpm" : a.sampler;
  if (a.sample.sampler != "ddpm" && a.sample.sampler != "ddim")
    fail("--sampler", "ddpm or ddim for a pixel-space --model", "'" + a.sampler + "'");
  if (a.batch > 0) a.sample.batch = a.batch;
  const int modes = !a.gen.command.empty() + !a.model.empty() + !a.shards.empty() +
                    (a.gen.command.empty() && !a.images.empty());
  if (modes != 1)
    fail("extract-blackbox", "exactly one input: --generator-cmd (with --prompts), --images, --model or --shards",
         std::to_string(modes) + " of them");
  if (!a.gen.command.empty() && a.prompts.empty())
    fail("--generator-cmd", "a --prompts file naming the prompts to generate", "no --prompts");
  if (!a.train_image.empty() && (!a.prompts.empty() || !a.images.empty() || !a.gen.command.empty()))
    fail("--train-image", "a single-group input (--model or --shards); prompts name theirs in --prompts",
         a.train_image);
  const bool single = !a.model.empty() || !a.shards.empty();
  if (single && cli::ranks().size() > 1)
    throw dist::CollectiveError(std::string(a.model.empty() ? "--shards" : "--model") +
                                ": expected one process for a single group of generations (the ranks split "
                                "prompts: --prompts with --generator-cmd or --images, or a pipeline folder), found " +
                                std::to_string(cli::ranks().size()) + " ranks");
  a.run.analysis.max_cliques = a.max_cliques >= 0 ? a.max_cliques : (single ? 0 : 1);
  a.run.analysis.device = core::resolve_device(cli::globals().device);
  a.run.reuse = !a.no_reuse;
  attack::validate(a.run.analysis);
  const fs::path out = a.out;
  const cli::JobLock lock(out, "--out");  // one run per folder

  io::Json extra = io::Json::object();
  std::vector<attack::BlackboxGroupInput> groups;
  if (single) {
    attack::BlackboxGroupInput g;
    g.id = "model";
    g.prompt = a.model.empty() ? a.shards : a.model;
    g.train_image = a.train_image;
    g.shards = a.model.empty() ? fs::path(a.shards) : generate_from_model(a);
    groups.push_back(g);
  } else {
    std::vector<attack::PromptEntry> prompts;
    if (!a.prompts.empty()) prompts = attack::read_prompts(a.prompts);
    const fs::path images = a.images.empty() ? out / "generations" : fs::path(a.images);
    if (!a.gen.command.empty()) {
      const auto tasks = attack::generator_tasks(prompts, images, a.per_prompt, a.seed);
      if (cli::prints())
        std::fprintf(stderr, "generating %zu images (%zu prompts x %lld) into %s with %lld job(s)%s\n",
                     tasks.size(), prompts.size(), static_cast<long long>(a.per_prompt), images.c_str(),
                     static_cast<long long>(a.gen.jobs), cli::ranks().size() > 1 ? " on each rank" : "");
      const attack::GeneratorRunResult g =
          attack::run_generator(tasks, a.gen, cli::terminal_progress(), cli::ranks());
      extra["generator"] = {{"options", a.gen},       {"per_prompt", a.per_prompt}, {"seed", a.seed},
                            {"tasks", g.tasks},       {"generated", g.generated},   {"skipped", g.skipped},
                            {"failed", g.failed},     {"retried", g.retried},       {"timing", {{"seconds", g.seconds}}},
                            {"failures", g.failures}, {"images", images.string()}};
      if (g.failed > 0 && cli::prints())
        std::fprintf(stderr, "warning: %lld generation(s) failed after %lld retries (first: %s); "
                     "rerun the same command to retry them\n",
                     static_cast<long long>(g.failed), static_cast<long long>(a.gen.retries),
                     g.failures.empty() ? "?" : g.failures[0].c_str());
    }
    groups = prompts.empty() ? attack::groups_from_folder(images) : attack::groups_from_prompts(prompts, images);
  }

  const attack::BlackboxRunResult r =
      attack::run_blackbox(groups, out, a.run, extra, cli::terminal_progress(), nullptr, cli::ranks());
  if (!cli::prints()) return;
  std::printf("%zu group(s), %lld images: %lld flagged (largest clique >= %lld, tiled l2 <= %g)",
              r.rows.size(), static_cast<long long>(r.images), static_cast<long long>(r.flagged),
              static_cast<long long>(a.run.analysis.min_clique), a.run.analysis.edge_threshold);
  if (r.within_delta > 0) std::printf(", %lld within delta of their training image", static_cast<long long>(r.within_delta));
  std::printf("\n");
  for (size_t i = 0; i < r.rows.size() && i < 10 && r.rows[i].analysis.flagged; ++i) {
    const auto& row = r.rows[i];
    const auto& c = row.analysis.cliques[0];
    std::printf("  %-20s clique %3zu  mean %.4f  %s\n", row.input.id.c_str(), c.members.size(), c.mean_distance,
                row.grid_png.string().c_str());
  }
  std::printf("filter: %.3f s per group analysed (%lld reused)\n",
              r.rows.size() > static_cast<size_t>(r.reused) ? r.analysis_seconds / double(r.rows.size() - r.reused) : 0.0,
              static_cast<long long>(r.reused));
  std::printf("results: %s, %s\n", (out / "prompts.csv").c_str(), (out / "summary.json").c_str());
}

}  // namespace

DIFFMEM_COMMAND(410) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "extract-blackbox",
      "Black-box extraction: many generations per prompt, flag prompts whose generations form a "
      "clique of near-identical images");
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder for prompts.csv, cliques.csv, summary.json, flagged/")->required();
  sub->add_option("--prompts", a->prompts,
                  "Prompts file: CSV with header id,prompt[,train_image][,duplicates], or JSONL");
  sub->add_option("--generator-cmd", a->gen.command,
                  "Generator command template run per image, e.g. 'python gen.py --prompt {prompt} "
                  "--seed {seed} --out {out}' (split into words first, never run by a shell)");
  sub->add_option("--images", a->images,
                  "Folder with one sub-folder of PNG/JPEG images per prompt (input; or where "
                  "--generator-cmd writes, default OUT/generations)");
  cli::add_shared(sub, cli::flags::kModel, a->model, "sample --per-prompt images from it as one group");
  sub->add_option("--shards", a->shards, "Folder of diffmem generation shards (diffmem sample --out) as one group");
  sub->add_option("--train-image", a->train_image, "Suspected training image for --model / --shards");
  sub->add_option("--scheduler-config", a->scheduler, "scheduler_config.json for --model (default: the model's)");
  sub->add_option("--per-prompt", a->per_prompt, "Generations per prompt")->capture_default_str();
  cli::add_shared(sub, cli::flags::kSeed, a->seed, "generation i of each prompt uses seed + i")->capture_default_str();
  sub->add_option("--jobs", a->gen.jobs, "Generator processes at once")->capture_default_str();
  sub->add_option("--retries", a->gen.retries, "Extra attempts after a failed generator run")->capture_default_str();
  sub->add_option("--timeout", a->gen.timeout_s, "Seconds before a generator run is killed (0 = never)")
      ->capture_default_str();
  sub->add_option("--size", a->run.analysis.size,
                  "Working size: images are resized to SIZE x SIZE with stb's default filter "
                  "(Mitchell shrinking, Catmull-Rom growing); 0 = each group's first image's size")
      ->capture_default_str();
  sub->add_option("--tiles", a->run.analysis.tiles.grid, "Tiles per side of the tiled l2")->capture_default_str();
  sub->add_option("--edge-threshold", a->run.analysis.edge_threshold,
                  "Tiled l2 at or below which two generations are connected (the paper did not publish its value)")
      ->capture_default_str();
  sub->add_option("--min-clique", a->run.analysis.min_clique, "Clique size that flags a prompt")->capture_default_str();
  cli::add_shared(sub, cli::flags::kDelta, a->run.analysis.delta, "measured between the clique's medoid and the training image")
      ->capture_default_str();
  sub->add_option("--max-cliques", a->max_cliques,
                  "Cliques reported per group, largest first (0 = every one >= --min-clique; default 1 per "
                  "prompt, 0 for --model/--shards)");
  sub->add_option("--grid-members", a->run.grid_members, "Clique members shown beside the medoid in each PNG")
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kSampler, a->sampler,
                  "of the generations of --model: ddpm (default) or ddim for a pixel-space model; pndm, ddim, "
                  "euler, euler_a, dpmpp_2m, dpmpp_2m_karras for a pipeline folder (default: its scheduler)");
  cli::add_shared(sub, cli::flags::kSteps, a->sample.steps,
                  "sampling --model; 0 = 1000 ddpm, 50 ddim, 50 for a pipeline folder");
  cli::add_shared(sub, cli::flags::kBatch, a->batch,
                  "images per forward pass of --model (0 = 64, or 8 for a pipeline folder, whose batches span prompts)");
  sub->add_option("--guidance", a->t2i.pipeline.guidance_scale, "Classifier-free guidance scale (pipeline folder)")
      ->capture_default_str();
  sub->add_option("--negative-prompt", a->t2i.negative_prompt, "Negative prompt for every generation (pipeline folder)");
  sub->add_option("--label", a->t2i.label,
                  "Ground-truth 0/1 column of --prompts (pipeline folder): adds precision and recall, and the "
                  "screen's ROC")
      ->capture_default_str();
  sub->add_option("--screen-top", a->t2i.screen_top,
                  "Screen every prompt first (diffmem screen) and generate only the K it ranks highest (0 = no screen)")
      ->capture_default_str();
  a->screen_threshold_flag = sub->add_option("--screen-threshold", a->screen_threshold,
                  "Screen first and generate only prompts whose score is at least this (with --screen-top: both)");
  sub->add_option("--screen-detector", a->t2i.screen_detector, "Screen score that ranks: wen | anisotropy")
      ->capture_default_str();
  sub->add_option("--screen-per-prompt", a->t2i.screen_per_prompt, "Generations the screen measures per prompt")
      ->capture_default_str();
  sub->add_option("--first-steps", a->t2i.probe.first_steps, "Screen: steps whose text-conditional norm is averaged")
      ->capture_default_str();
  sub->add_option("--low-from-end", a->t2i.probe.low_from_end,
                  "Screen: the low-noise pass this many steps from the end (0: none)")
      ->capture_default_str();
  sub->add_flag("--no-reuse", a->no_reuse, "Analyse every group again even when OUT/groups holds its result");
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<attack::BlackboxRunOptions>());
  sub->callback([a] { run(*a); });
}
