// `diffmem screen`: first-step memorization screening of a text-to-image model's prompts
// (attack/screen.h): a ranked CSV, and ROC figures when the prompts file carries labels.
#include <cstdio>
#include <memory>

#include "command.h"
#include "flags.h"
#include "ranks.h"
#include "diffmem/attack/screen.h"
#include "diffmem/core/error.h"

namespace {
using namespace diffmem;

struct Args {
  attack::ScreenOptions opt;
  std::string out;
  std::unique_ptr<cli::SetFlag> set;
};

}  // namespace

DIFFMEM_COMMAND(350) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "screen", "Rank a text-to-image model's prompts by first-step memorization scores");
  cli::add_shared(sub, cli::flags::kModel, a->opt.model, "a Stable Diffusion pipeline folder")->required();
  sub->add_option("--prompts", a->opt.prompts,
                  "Prompts file (CSV with a prompt or caption column, or JSONL); a 0/1 --label "
                  "column adds ROC figures")
      ->required();
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder for screen.csv, summary.json, manifest.json")
      ->required();
  sub->add_option("--label", a->opt.label, "Ground-truth column (0/1), used when present")->capture_default_str();
  sub->add_option("--per-prompt", a->opt.per_prompt, "Generations measured per prompt")->capture_default_str();
  cli::add_shared(sub, cli::flags::kSeed, a->opt.seed,
                  "generation j of prompt i uses seed + i * per-prompt + j, as sample")
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kSteps, a->opt.pipeline.steps, "of the trajectory the generations follow")
      ->capture_default_str();
  sub->add_option("--guidance", a->opt.pipeline.guidance_scale, "Classifier-free guidance scale (> 1)")
      ->capture_default_str();
  sub->add_option("--sampler", a->opt.pipeline.sampler,
                  "pndm | ddim | euler | euler_a | dpmpp_2m | dpmpp_2m_karras (default: the pipeline's)");
  cli::add_shared(sub, cli::flags::kBatch, a->opt.pipeline.batch, "generations per U-Net call")
      ->capture_default_str();
  sub->add_option("--first-steps", a->opt.probe.first_steps,
                  "Wen et al.: steps of the trajectory whose text-conditional norm is averaged")
      ->capture_default_str();
  sub->add_option("--low-from-end", a->opt.probe.low_from_end,
                  "Asthana & Belagiannis: the low-noise pass at the step this many from the end "
                  "(0: none)")
      ->capture_default_str();
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<attack::ScreenOptions>());
  sub->callback([a] {
    cli::start();
    a->set->apply(a->opt);
    const cli::JobLock lock(a->out, "--out");  // one run per folder
    // Under mpirun/srun the ranks split the generations; rank 0 writes and prints.
    const auto r = attack::run_screen(a->opt, a->out, cli::globals().device, cli::terminal_progress(), cli::ranks());
    if (!cli::prints()) return;
    std::printf("%s: %zu prompts screened with %lld U-Net evaluations in %.1f s; screen.csv, summary.json\n",
                a->out.c_str(), r.rows.size(), static_cast<long long>(r.unet_images), r.seconds);
    for (const char* d : {"wen", "anisotropy"}) {
      const io::Json& j = r.summary["detectors"][d];
      if (!j.is_object()) continue;
      const io::Json tpr = j.contains("tpr_at_fpr_0.01") ? j["tpr_at_fpr_0.01"] : io::Json();
      if (tpr.is_number())
        std::printf("  %s: AUC %.4f, TPR at 1%% FPR %.4f\n", d, j.value("auc", 0.0), tpr.get<double>());
      else
        std::printf("  %s: AUC %.4f, TPR at 1%% FPR not measurable (too few non-members)\n", d, j.value("auc", 0.0));
    }
  });
}
