// `diffmem quality`: how good are a model's generations, in one feature space — the Fréchet
// distance (FID with Inception-v3's real weights; "FD in <net>'s space" otherwise), KID with its
// spread over subsets, precision/recall (quality/quality_run.h).
#include <cstdio>
#include <memory>

#include "command.h"
#include "flags.h"
#include "diffmem/core/error.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/core/runtime.h"
#include "diffmem/io/json.h"
#include "diffmem/quality/feature_source.h"
#include "diffmem/quality/quality_run.h"

namespace {
using namespace diffmem;
namespace fs = std::filesystem;

struct Args {
  quality::QualityOptions opt;
  quality::FeatureSource source;
  std::unique_ptr<cli::SetFlag> set;
  std::string generations, reference, out;
};

void run(Args& a) {
  cli::start();
  a.set->apply(a.opt);
  quality::validate(a.opt, "quality options");
  // Everything the run needs, checked before the first image goes through a network.
  for (const auto& [flag, dir] : {std::pair<const char*, std::string>{"--generations", a.generations},
                                  {"--reference", a.reference}})
    if (!fs::is_directory(dir)) fail(flag, "a folder (generations, a data set, or saved statistics)", "'" + dir + "' is not one");
  const torch::Device device(core::resolve_device(cli::globals().device));
  const auto net = quality::open_feature_net(a.source, device);
  const core::RunLock lock(a.out, "--out");
  const bool ref_is_stats = quality::is_stats_folder(a.reference);
  const io::Json inputs = {{"generations", a.generations}, {"reference", a.reference}, {"features", io::fields_json(a.source)}};
  const quality::QualityResult r =
      quality::run_quality(*net, a.generations, a.reference, a.out, a.opt, inputs, cli::terminal_progress());
  std::printf("%s (%lld generated vs %lld reference images)\n", quality::distance_label(r).c_str(),
              static_cast<long long>(r.generated), static_cast<long long>(r.reference));
  if (!r.frechet.warning.empty()) std::printf("warning: %s\n", r.frechet.warning.c_str());
  if (r.kid)
    std::printf("KID %.5g ± %.2g (std over %lld subsets of %lld)\n", r.kid->mean, r.kid->std,
                static_cast<long long>(r.kid->subsets), static_cast<long long>(r.kid->subset_size));
  if (r.pr) std::printf("precision %.3f, recall %.3f (k = %lld)\n", r.pr->precision, r.pr->recall, static_cast<long long>(r.pr->k));
  if (ref_is_stats && !fs::exists(fs::path(a.reference) / "features.npy"))
    std::printf("(the reference is statistics alone: no KID or precision/recall)\n");
  std::printf("results: %s/summary.json; statistics for reuse as --reference: %s/%s\n", a.out.c_str(), a.out.c_str(),
              ref_is_stats ? "generated-stats" : "reference-stats");
}

}  // namespace

DIFFMEM_COMMAND(700) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "quality",
      "Sample quality of generations against reference images: FID (Inception-v3 weights you supply) or FD in a "
      "data-set net's space, KID, precision/recall");
  sub->add_option("--generations", a->generations, "Generations folder (diffmem sample) or a data set")->required();
  sub->add_option("--reference", a->reference,
                  "Reference images (a data set or generations folder) or statistics saved by an earlier run "
                  "(OUT/reference-stats)")
      ->required();
  sub->add_option("--inception-weights", a->source.inception_weights,
                  "pytorch-fid's Inception-v3 weights as safetensors (scripts/convert_inception_weights.py): FID");
  sub->add_option("--inception-torchscript", a->source.inception_torchscript,
                  "NVIDIA's TorchScript inception-2015-12-05.pt (StyleGAN2-ADA / clean-fid legacy_tensorflow): FID");
  sub->add_option("--feature-net", a->source.feature_net,
                  "A data-set feature net (diffmem train-feature-net): FD in that net's space, not FID");
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder for summary.json and the statistics")->required();
  cli::add_shared(sub, cli::flags::kBatch, a->opt.batch, "images per feature-net call")->capture_default_str();
  sub->add_option("--kid-subsets", a->opt.kid.subsets, "KID subsets")->capture_default_str();
  sub->add_option("--kid-subset-size", a->opt.kid.subset_size, "Vectors per KID subset (lowered to the smaller set)")
      ->capture_default_str();
  cli::checked<uint64_t>(sub->add_option("--kid-seed", a->opt.kid.seed, "Seed of the KID subsets"))->capture_default_str();
  sub->add_option("--pr-k", a->opt.pr_k, "Neighbours for precision/recall (0 leaves them out)")->capture_default_str();
  sub->add_flag("!--no-kid", a->opt.kid_on, "Leave KID out");
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<quality::QualityOptions>());
  sub->callback([a] { run(*a); });
}
