#include "diffmem/diffusion/generate.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "diffmem/core/error.h"
#include "diffmem/core/ranges.h"
#include "diffmem/data/generations.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/score_sde_ve.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/tensor_bridge.h"
#include "generate_shards.h"

namespace diffmem::diffusion {
namespace fs = std::filesystem;
namespace {

std::string class_file_name(int64_t shard) {
  char name[32];
  std::snprintf(name, sizeof name, "classes-%05lld.npy", static_cast<long long>(shard));
  return name;
}

}  // namespace

void validate(const GenerateOptions& o, const std::string& where) {
  core::check_between(where, "n (--n)", o.n, 1, int64_t{1} << 40);
  core::check_between(where, "shard_size (--shard-size)", o.shard_size, 1, (int64_t{1} << 31) - 1);
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    fail(where + ": --shard", "an index in [0, count) and count >= 1",
         std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count));
  core::check_at_least(where, "class_label (--class)", o.class_label, -1);
}

GenerateResult generate(model::Denoiser& denoiser, const NoiseSchedule& schedule,
                        const fs::path& out, const GenerateOptions& given,
                        const ProgressFn& progress) {
  GenerateOptions o = given;
  const SchedulerConfig& sc = schedule.config();
  if (denoiser.takes_sigma() != sc.score_sde_ve())
    fail("sample: " + denoiser.describe(),
         denoiser.takes_sigma() ? "a ScoreSdeVeScheduler config for a score-SDE model"
                                : "a DDPM-family scheduler config for a model of timesteps",
         "a " + sc.class_name + " config");
  if (sc.score_sde_ve()) {
    // The predictor-corrector sampler is the only one for these models; "ddpm" is the default.
    if (o.sample.sampler != "ddpm" && o.sample.sampler != "score_sde_ve")
      fail("--sampler", "score_sde_ve (or none) for a score-SDE model", o.sample.sampler);
    o.sample.sampler = "score_sde_ve";
  }
  const int64_t classes = denoiser.num_classes();
  if (classes == 0 && o.class_label != -1)
    fail("--class", "none for an unconditional model", std::to_string(o.class_label));
  if (classes > 0 && (o.class_label < -1 || o.class_label >= classes))
    fail("--class", "a class in [0, " + std::to_string(classes) + ") (or none: every class in turn)",
         std::to_string(o.class_label));
  validate(o, "sample options");
  if (!sc.score_sde_ve()) validate(o.sample, "sample options");

  // The manifest pins the run: a rerun with other options into the same folder would mix images.
  io::Json manifest = io::fields_json(o);
  manifest["created_by"] = "diffmem sample";
  manifest["schedule"] = to_json(schedule.config());
  manifest["image_shape"] = {denoiser.sample_size(), denoiser.sample_width(),
                             denoiser.in_channels()};
  if (classes > 0) manifest["num_classes"] = classes;
  detail::pin_manifest(out, manifest);

  return detail::write_shards(out, o, progress, [&](int64_t s, int64_t first, int64_t count,
                                                   const std::vector<uint64_t>& seeds, const ProgressFn& inner) {
    std::vector<int64_t> labels;
    for (int64_t i = first; classes > 0 && i < first + count; ++i)
      labels.push_back(o.class_label >= 0 ? o.class_label : i % classes);
    torch::Tensor images =
        sc.score_sde_ve()
            ? unit_to_uint8_nhwc(sample_score_sde_ve(denoiser, sc, seeds, o.sample, inner, labels))
            : to_uint8_nhwc(sample(denoiser, schedule, seeds, o.sample, inner, labels));
    if (classes > 0) {
      io::HostArray ids = io::HostArray::zeros(io::DType::kI64, {count});
      std::memcpy(ids.bytes.data(), labels.data(), labels.size() * sizeof(int64_t));
      io::write_npy(out / class_file_name(s), ids);
    }
    return images;
  });
}

}  // namespace diffmem::diffusion
