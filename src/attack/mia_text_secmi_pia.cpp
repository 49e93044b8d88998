// SecMI (Duan et al., ICML 2023) and PIA (Kong et al., ICLR 2024) on a text-to-image pipeline, in
// the space its U-Net denoises (the VAE's latents, or pixels), each conditioned on the row's own
// caption without guidance, as both papers attack Stable Diffusion. Deterministic: no noise draws.
#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "diffmem/attack/mia_scores.h"
#include "diffmem/attack/mia_text.h"
#include "diffmem/core/error.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::attack {
namespace {

void check_captions(const data::Dataset& ds) {
  check(ds.captions.has_value(), "--data", "a captioned data set (captions.jsonl) for a text-to-image model",
        "no captions.jsonl");
}

// Runs fn(latents x0 [b,C,h,w], caption embeddings [b,L,D]) → [b] errors over ds in batches of
// `batch` rows.
template <typename Fn>
TextRowErrors over_rows(const diffusion::SdPipeline& pipe, const data::Dataset& ds, int64_t batch,
                        int64_t unet_per_row, const ProgressFn& progress, const char* name, Fn fn) {
  torch::NoGradGuard no_grad;
  const int64_t n = ds.size();
  const torch::Tensor all = io::to_tensor(ds.images);
  TextRowErrors out;
  out.errors.assign(static_cast<size_t>(n), 0.0);
  ProgressMeter meter(progress, name, n, "examples");
  for (int64_t s = 0; s < n; s += batch) {
    const int64_t e = std::min(n, s + batch);
    const torch::Tensor x0 = pipe.to_latents(all.slice(0, s, e));
    const std::vector<std::string> captions(ds.captions->begin() + s, ds.captions->begin() + e);
    const torch::Tensor err = fn(x0, pipe.encode(captions)).to(torch::kFloat64).cpu();
    for (int64_t i = 0; i < e - s; ++i) out.errors[static_cast<size_t>(s + i)] = err[i].item<double>();
    out.unet_images += unet_per_row * (e - s);
    meter.update(e);
  }
  meter.finish();
  return out;
}

torch::Tensor at(int64_t t, int64_t n) { return torch::full({n}, t, torch::kLong); }

}  // namespace

TextRowErrors text_secmi_errors(const diffusion::SdPipeline& pipe, const data::Dataset& ds, const TextMiaOptions& o,
                                const ProgressFn& progress) {
  check_captions(ds);
  const diffusion::NoiseSchedule schedule(pipe.scheduler_config());
  SecMiOptions so;
  so.t = o.secmi_t;
  so.step = o.secmi_step;
  so.batch = o.batch;
  validate(so, schedule.num_train_timesteps(), "mia secmi options (secmi_t, secmi_step, batch)");
  const int64_t m = so.t - so.step;  // where the round trip starts and ends
  auto fn = [&](const torch::Tensor& x0, const torch::Tensor& context) {
    const int64_t b = x0.size(0);
    auto eps = [&](const torch::Tensor& x, int64_t t) { return pipe.predict_noise(x, at(t, b), context); };
    torch::Tensor x = x0;
    for (int64_t from = 0; from < m; from += so.step) x = ddim_move(schedule, x, eps(x, from), from, from + so.step);
    const torch::Tensor up = ddim_move(schedule, x, eps(x, m), m, so.t);
    const torch::Tensor back = ddim_move(schedule, up, eps(up, so.t), so.t, m);
    return (back - x).pow(2).mean(std::vector<int64_t>{1, 2, 3});
  };
  return over_rows(pipe, ds, so.batch, so.t / so.step + 1, progress, "mia secmi", fn);
}

TextRowErrors text_pia_errors(const diffusion::SdPipeline& pipe, const data::Dataset& ds, const TextMiaOptions& o,
                              const ProgressFn& progress) {
  check_captions(ds);
  const diffusion::NoiseSchedule schedule(pipe.scheduler_config());
  PiaOptions po;
  po.t = o.pia_t;
  po.p = o.pia_p;
  po.batch = o.batch;
  validate(po, schedule.num_train_timesteps(), "mia pia options (pia_t, pia_p, batch)");
  auto fn = [&](const torch::Tensor& x0, const torch::Tensor& context) {
    const int64_t b = x0.size(0);
    const torch::Tensor eps0 = pipe.predict_noise(x0, at(0, b), context);
    const torch::Tensor xt = diffusion::add_noise(schedule, x0, eps0, at(po.t, b).to(x0.device()));
    const torch::Tensor d = (pipe.predict_noise(xt, at(po.t, b), context) - eps0).abs();
    return d.pow(static_cast<double>(po.p)).mean(std::vector<int64_t>{1, 2, 3});
  };
  return over_rows(pipe, ds, po.batch, 2, progress, "mia pia", fn);
}

}  // namespace diffmem::attack
