#include "diffmem/attack/mia_gan.h"

#include <torch/torch.h>

#include <chrono>

#include "diffmem/core/error.h"
#include "diffmem/core/memory.h"
#include "diffmem/core/runtime.h"
#include "diffmem/data/dataset.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/io/json.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/dcgan.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

MiaAttackReport run_gan_mia(const GanMiaOptions& o, const ProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  check(!o.out.empty(), "--out", "an output folder", "none");
  check(o.batch >= 1, "--batch", ">= 1", std::to_string(o.batch));
  if (!model::is_gan_folder(o.target))
    fail(o.target.string(), "a GAN folder (diffmem train-gan) for the discriminator attack", "no GAN config.json there");
  const data::Dataset ds = data::load_dataset(o.data);
  const model::DcganConfig cfg = model::read_dcgan_config(o.target);
  if (ds.height() != cfg.height || ds.width() != cfg.width || ds.channels() != cfg.channels)
    fail(o.data.string(), "images of the GAN's shape " + std::to_string(cfg.height) + "x" + std::to_string(cfg.width) +
                              "x" + std::to_string(cfg.channels),
         std::to_string(ds.height()) + "x" + std::to_string(ds.width()) + "x" + std::to_string(ds.channels()));
  const std::vector<bool> members = read_member_mask(o.members.empty() ? o.target : o.members, ds.size());
  const int64_t m = std::count(members.begin(), members.end(), true);
  check(m > 0 && m < ds.size(), o.members.empty() ? (o.target / "members.npy").string() : o.members.string(),
        "a member mask with members and non-members",
        std::to_string(m) + " members and " + std::to_string(ds.size() - m) + " non-members");
  metrics::validate(o.bootstrap);
  const torch::Device device(core::resolve_device(o.device));
  model::DcganDiscriminator d = model::load_dcgan_discriminator(o.target, device);

  const io::Json split = o.split_check ? write_split_check(ds, members, o.bootstrap, o.out) : io::Json();
  const core::PeakMemory memory;
  ProgressMeter meter(progress, "mia gan-discriminator", ds.size(), "images");
  const torch::Tensor all = io::to_tensor(ds.images);
  std::vector<double> scores;
  scores.reserve(static_cast<size_t>(ds.size()));
  {
    torch::NoGradGuard no_grad;
    for (int64_t i = 0; i < ds.size(); i += o.batch) {
      const torch::Tensor x = diffusion::from_uint8_nhwc(all.slice(0, i, std::min(ds.size(), i + o.batch))).to(device);
      torch::Tensor s = d->forward(x);
      if (o.flip) s = 0.5 * (s + d->forward(x.flip({3})));
      s = s.to(torch::kCPU, torch::kFloat64).contiguous();
      scores.insert(scores.end(), s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
      meter.update(std::min(ds.size(), i + o.batch));
    }
  }
  meter.finish();
  MiaAttackReport rep;
  io::Json j = write_attack_scores(o.out, "gan-discriminator", ds, scores, members, o.bootstrap, o.calibrate_on, split, rep);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  j["options"] = {{"flip", o.flip}, {"batch", o.batch}};
  j["details"] = {{"statistic", "the discriminator's logit D(x)"},
                  {"note", "an attack on a GAN's discriminator, not comparable one-to-one with the diffusion losses"}};
  j["target"] = o.target.string();
  j["timing"] = {{"seconds", rep.seconds},
                 {"model_evaluations", ds.size() * (o.flip ? 2 : 1)},
                 {"peak_rss_bytes", memory.peak()},
                 {"peak_rss_since", memory.since_stage_start() ? "attack start" : "process start"}};
  io::write_json(rep.dir / "summary.json", j);
  return rep;
}

}  // namespace diffmem::attack
