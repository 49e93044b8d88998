#include "diffmem/attack/mia_text.h"

#include <torch/torch.h>

#include <chrono>

#include "diffmem/attack/mia_scores.h"
#include "diffmem/core/error.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/io/json.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/metrics/roc.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

TextMiaErrors text_mia_errors(const fs::path& model, const data::Dataset& ds, const TextMiaOptions& o,
                              const std::string& device, const ProgressFn& progress) {
  check(ds.captions.has_value(), "--data", "a captioned data set (captions.jsonl) for a text-to-image model",
        "no captions.jsonl");
  check(o.draws >= 1, "--draws", "at least 1", std::to_string(o.draws));
  check(o.batch >= 1, "--batch", "at least 1", std::to_string(o.batch));
  const auto pipe = diffusion::SdPipeline::load(model, torch::Device(core::resolve_device(device)));
  const int64_t T = pipe.scheduler_config().num_train_timesteps;
  check(o.t >= 0 && o.t < T, "--t", "a timestep in [0, " + std::to_string(T) + ")", std::to_string(o.t));
  const diffusion::NoiseSchedule schedule(pipe.scheduler_config());

  torch::NoGradGuard no_grad;
  const int64_t n = ds.size();
  const torch::Tensor all = io::to_tensor(ds.images);
  const torch::Tensor null_context = pipe.encode({o.null_caption});
  TextMiaErrors out;
  out.conditional.assign(static_cast<size_t>(n), 0.0);
  out.null.assign(static_cast<size_t>(n), 0.0);
  // Examples per pass: each brings draws × 2 conditions model inputs.
  const int64_t per = std::max<int64_t>(1, o.batch / (2 * o.draws));
  ProgressMeter meter(progress, "mia", n, "examples");
  for (int64_t s = 0; s < n; s += per) {
    const int64_t e = std::min(n, s + per), b = e - s;
    const torch::Tensor x0 = pipe.to_latents(all.slice(0, s, e));  // [b,C,h,w]
    const int64_t c = x0.size(1), h = x0.size(2), w = x0.size(3);
    std::vector<torch::Tensor> noise;
    for (int64_t i = s; i < e; ++i) noise.push_back(example_noise(o.seed, ds.ids[static_cast<size_t>(i)], o.draws, c, h, w));
    const torch::Tensor eps = torch::stack(noise).to(x0.device());  // [b,draws,C,h,w]
    const torch::Tensor x = x0.unsqueeze(1).expand({b, o.draws, c, h, w});
    const torch::Tensor t = torch::full({b * o.draws}, o.t, torch::kLong);
    const torch::Tensor xt = diffusion::add_noise(schedule, x.reshape({b * o.draws, c, h, w}),
                                                  eps.reshape({b * o.draws, c, h, w}), t);
    const std::vector<std::string> captions(ds.captions->begin() + s, ds.captions->begin() + e);
    const torch::Tensor own = pipe.encode(captions).repeat_interleave(o.draws, 0);
    const torch::Tensor context = torch::cat({own, null_context.expand({b * o.draws, -1, -1})});
    const torch::Tensor pred = pipe.predict_noise(torch::cat({xt, xt}), torch::cat({t, t}), context);
    out.unet_images += 2 * b * o.draws;
    const torch::Tensor target = eps.reshape({b * o.draws, c, h, w}).repeat({2, 1, 1, 1});
    const torch::Tensor err = (pred - target).pow(2).reshape({2, b, o.draws, -1}).mean(3).to(torch::kFloat64).mean(2).cpu();
    for (int64_t i = 0; i < b; ++i) {
      out.conditional[static_cast<size_t>(s + i)] = err[0][i].item<double>();
      out.null[static_cast<size_t>(s + i)] = err[1][i].item<double>();
    }
    meter.update(e);
  }
  meter.finish();
  return out;
}

MiaRunResult run_text_mia(const fs::path& model, const data::Dataset& ds, const std::vector<bool>& members,
                          const std::string& attacks, const TextMiaOptions& o, const fs::path& out,
                          const std::string& device, const ProgressFn& progress) {
  check(attacks == "loss" || attacks == "clid", "mia attack", "loss or clid for a text-to-image model",
        "'" + attacks + "' (LiRA, SecMI and PIA on text-to-image models are not built yet)");
  check(static_cast<int64_t>(members.size()) == ds.size(), "members", std::to_string(ds.size()) + " flags, one per row",
        std::to_string(members.size()));
  MiaRunResult result;
  for (bool m : members) (m ? result.members : result.nonmembers) += 1;
  check(result.members > 0 && result.nonmembers > 0, "members", "both members and non-members",
        std::to_string(result.members) + " members, " + std::to_string(result.nonmembers) + " non-members");
  const auto t0 = std::chrono::steady_clock::now();
  const TextMiaErrors errors = text_mia_errors(model, ds, o, device, progress);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<std::pair<std::string, std::vector<double>>> scored;
  std::vector<double> loss, clid;
  for (size_t i = 0; i < errors.conditional.size(); ++i) {
    loss.push_back(-errors.conditional[i]);
    clid.push_back(errors.null[i] - errors.conditional[i]);
  }
  scored.emplace_back("loss", loss);
  if (attacks == "clid") scored.emplace_back("clid", clid);
  for (const auto& [name, scores] : scored) {
    const auto curve = metrics::roc_curve(scores, members);
    MiaAttackReport rep;
    rep.name = name;
    rep.dir = out / name;
    rep.summary = metrics::summarize(curve);
    rep.seconds = seconds;
    fs::create_directories(rep.dir);
    write_scores_csv(rep.dir / "scores.csv", ds, scores, members);
    metrics::write_roc_csv(rep.dir / "roc.csv", metrics::compact(curve));
    io::Json j;
    metrics::to_json(j, rep.summary);
    j["attack"] = name == "loss" ? "loss with the caption at t (text-to-image)"
                                 : "CLiD: loss with the null caption minus loss with the caption (Zhai et al. 2024)";
    j["options"] = o;
    j["target"] = model.string();
    j["unet_images"] = errors.unet_images;
    j["timings"] = {{"seconds", seconds}};
    io::write_json(rep.dir / "summary.json", j);
    result.attacks.push_back(std::move(rep));
  }
  return result;
}

}  // namespace diffmem::attack
