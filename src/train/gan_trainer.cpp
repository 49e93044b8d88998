#include "diffmem/train/gan_trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <numeric>

#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/rng.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/dcgan.h"
#include "diffmem/model/weights.h"
#include "diffmem/train/optimizer.h"
#include "train_state.h"

namespace diffmem::train {
namespace fs = std::filesystem;

void validate(const GanTrainOptions& o, const std::string& where) {
  for (auto [v, key] : {std::pair{o.z_dim, "z_dim"}, std::pair{o.base_width, "base_width"},
                        std::pair{o.steps, "steps"}, std::pair{o.batch, "batch"}, std::pair{o.r1_every, "r1_every"}})
    if (v < 1) fail(where, std::string(key) + " >= 1", std::to_string(v));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) fail(where, "lr > 0", std::to_string(o.lr));
  for (auto [v, key] : {std::pair{o.beta1, "beta1"}, std::pair{o.beta2, "beta2"}, std::pair{o.ema_decay, "ema_decay"}})
    if (!(v >= 0 && v < 1)) fail(where, std::string(key) + " in [0, 1)", std::to_string(v));
  if (!(o.r1_gamma >= 0) || !std::isfinite(o.r1_gamma)) fail(where, "r1_gamma >= 0", std::to_string(o.r1_gamma));
  if (o.checkpoint_every < 0) fail(where, "checkpoint_every >= 0", std::to_string(o.checkpoint_every));
}

namespace {

// Everything a step changes, as named tensors: what training_state.safetensors holds.
struct GanState {
  model::DcganGenerator g{nullptr};
  model::DcganDiscriminator d{nullptr};
  NamedTensors g_params, d_params;
  std::unique_ptr<Adam> g_adam, d_adam;
  std::unique_ptr<Ema> ema;

  void save(const fs::path& path, int64_t step) const {
    io::Safetensors st;
    st.metadata = {{"format", "pt"}, {"step", std::to_string(step)}};
    for (const auto& [k, v] : g_params) st.tensors["g/" + k] = io::from_tensor(v.detach());
    for (const auto& [k, v] : d_params) st.tensors["d/" + k] = io::from_tensor(v.detach());
    for (const auto& [k, v] : ema->weights()) st.tensors["g_ema/" + k] = io::from_tensor(v);
    for (const auto& [k, v] : g_adam->state()) st.tensors["g_adam/" + k] = io::from_tensor(v);
    for (const auto& [k, v] : d_adam->state()) st.tensors["d_adam/" + k] = io::from_tensor(v);
    io::write_safetensors(path, st);
  }

  int64_t load(const fs::path& path, const torch::Device& device) {
    const io::Safetensors st = io::read_safetensors(path);
    const int64_t step = detail::state_step(st, path);
    std::map<std::string, std::map<std::string, io::HostArray>> weights;  // g/, d/: the networks
    std::map<std::string, std::map<std::string, torch::Tensor>> parts;    // the EMA and the Adams
    for (const auto& [k, v] : st.tensors) {
      const auto slash = k.find('/');
      if (slash == std::string::npos) fail(path.string(), "tensors named g/, d/, g_ema/, g_adam/, d_adam/…", "'" + k + "'");
      const std::string part = k.substr(0, slash), name = k.substr(slash + 1);
      if (part == "g" || part == "d") weights[part][name] = v;
      else parts[part][name] = io::to_tensor(v).to(device);
    }
    model::load_weights(*g, weights["g"], path.string() + " (g/)", "only DCGAN generator parameters");
    model::load_weights(*d, weights["d"], path.string() + " (d/)", "only DCGAN discriminator parameters");
    ema->load(parts["g_ema"], path.string());
    g_adam->load_state(parts["g_adam"], path.string());
    d_adam->load_state(parts["d_adam"], path.string());
    return step;
  }
};

torch::Tensor latents(int64_t b, int64_t z_dim, uint64_t seed, const torch::Device& device) {
  at::Generator gen = diffusion::make_cpu_generator(seed);
  return torch::randn({b, z_dim}, gen, torch::kFloat32).to(device);
}

// softplus(-x): the non-saturating loss of a "real" logit.
torch::Tensor real_loss(const torch::Tensor& logits) { return torch::softplus(-logits).mean(); }
torch::Tensor fake_loss(const torch::Tensor& logits) { return torch::softplus(logits).mean(); }

void finite_or_fail(double v, const char* what, int64_t step, const fs::path& out) {
  if (!std::isfinite(v))
    fail(out.string(), std::string("a finite ") + what + " loss",
         std::to_string(v) + " at step " + std::to_string(step) +
             " (lower --lr or raise --r1-gamma; the last checkpoint in " + (out / detail::kStateFile).string() + " is intact)");
}

}  // namespace

GanTrainResult train_gan(const data::Dataset& ds, const std::vector<int64_t>& given_rows, const std::vector<bool>& members,
                         const fs::path& out, const GanTrainOptions& o, const ProgressFn& progress) {
  validate(o, "train-gan options");
  data::validate_dataset(ds, out.string());
  model::DcganConfig cfg;
  cfg.height = ds.height();
  cfg.width = ds.width();
  cfg.channels = ds.channels();
  cfg.z_dim = o.z_dim;
  cfg.base_width = o.base_width;
  model::validate(cfg, "train-gan: the data set's images");
  const std::vector<int64_t> rows = detail::rows_or_all(given_rows, ds.size());
  const torch::Device device(core::resolve_device(o.device));

  GanTrainResult r;
  r.model_dir = out;
  fs::create_directories(out);
  detail::record_run(out, "gan_options.json", o, members);

  GanState s;
  {
    torch::manual_seed(core::derive_seed(o.seed, 0x6A11));  // the initial weights
    s.g = model::DcganGenerator(cfg);
    s.d = model::DcganDiscriminator(cfg);
  }
  s.g->to(device);
  s.d->to(device);
  r.parameters = model::parameter_count(*s.g) + model::parameter_count(*s.d);
  s.g_params = detail::named_params(*s.g);
  s.d_params = detail::named_params(*s.d);
  AdamOptions ao;
  ao.lr = o.lr;
  ao.beta1 = o.beta1;
  ao.beta2 = o.beta2;
  ao.grad_clip = 0;
  s.g_adam = std::make_unique<Adam>(s.g_params, ao);
  s.d_adam = std::make_unique<Adam>(s.d_params, ao);
  s.ema = std::make_unique<Ema>(s.g_params, o.ema_decay);
  const fs::path state_path = out / detail::kStateFile;
  if (fs::exists(state_path)) {
    r.start_step = s.load(state_path, device);
    if (r.start_step > 0) log::info("resuming " + out.string() + " at step " + std::to_string(r.start_step));
  }
  if (r.start_step >= o.steps) {
    r.steps_done = r.start_step;
    r.already_done = true;
    return r;
  }

  const torch::Tensor all = diffusion::from_uint8_nhwc(io::to_tensor(ds.images)).to(device);
  detail::BatchPlan plan(rows, o.batch, core::derive_seed(o.seed, 0xBA7C4));
  ProgressMeter meter(progress, "train-gan", o.steps, "steps", r.start_step);
  std::deque<std::pair<double, double>> recent;
  auto save = [&](int64_t done) {
    std::map<std::string, torch::Tensor> g_ema, d_w;
    for (const auto& [k, v] : s.ema->weights()) g_ema[k] = v;
    for (const auto& [k, v] : s.d_params) d_w[k] = v.detach();
    model::save_gan(out, cfg, g_ema, d_w);
    s.save(state_path, done);  // last: the step it names has everything else on disk
  };
  s.g->train();
  s.d->train();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = r.start_step; step < o.steps; ++step) {
    const uint64_t step_seed = core::derive_seed(o.seed, static_cast<uint64_t>(step) + 1);
    torch::Tensor real = all.index_select(0, torch::tensor(plan.rows_for(step), torch::kLong).to(device));
    if (o.flip) real = detail::random_flips(real, step_seed);

    // Discriminator: fake images scored low, real ones high, with R1 on the real ones.
    s.d_adam->zero_grad();
    const torch::Tensor fake = [&] {
      torch::NoGradGuard no_grad;
      return s.g->forward(latents(o.batch, o.z_dim, core::derive_seed(step_seed, 2), device));
    }();
    const bool r1 = o.r1_gamma > 0 && step % o.r1_every == 0;
    real = real.detach().requires_grad_(r1);
    const torch::Tensor d_real = s.d->forward(real);
    torch::Tensor d_loss = real_loss(d_real) + fake_loss(s.d->forward(fake));
    if (r1) {
      const torch::Tensor grad = torch::autograd::grad({d_real.sum()}, {real}, {}, /*retain_graph=*/true,
                                                       /*create_graph=*/true)[0];
      d_loss = d_loss + 0.5 * o.r1_gamma * static_cast<double>(o.r1_every) * grad.pow(2).sum({1, 2, 3}).mean();
    }
    d_loss.backward();
    s.d_adam->step(step);

    // Generator: its images scored as real.
    s.g_adam->zero_grad();
    const torch::Tensor g_loss =
        real_loss(s.d->forward(s.g->forward(latents(o.batch, o.z_dim, core::derive_seed(step_seed, 3), device))));
    g_loss.backward();
    s.g_adam->step(step);
    s.ema->update(s.g_params, step);

    const double dl = d_loss.item<double>(), gl = g_loss.item<double>();
    finite_or_fail(dl, "discriminator", step, out);
    finite_or_fail(gl, "generator", step, out);
    recent.emplace_back(dl, gl);
    if (recent.size() > 100) recent.pop_front();
    const int64_t done = step + 1;
    const bool checkpoint = done == o.steps || (o.checkpoint_every > 0 && done % o.checkpoint_every == 0);
    if (checkpoint) save(done);
    char b[96];
    std::snprintf(b, sizeof b, "D %.3f G %.3f", dl, gl);
    meter.update(done, b, checkpoint);
  }
  meter.finish();
  for (const auto& [dl, gl] : recent) r.d_loss += dl / static_cast<double>(recent.size()),
                                      r.g_loss += gl / static_cast<double>(recent.size());
  r.steps_done = o.steps;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.images_per_s = secs > 0 ? static_cast<double>((o.steps - r.start_step) * o.batch) / secs : 0;
  return r;
}

GanTrainResult train_gan_on_members(const data::Dataset& ds, const fs::path& out, const GanTrainOptions& o,
                                    const ProgressFn& progress) {
  std::vector<int64_t> rows;
  std::vector<bool> members;
  if (ds.members) {
    members = *ds.members;
    for (int64_t i = 0; i < ds.size(); ++i)
      if (members[static_cast<size_t>(i)]) rows.push_back(i);
  }
  return train_gan(ds, rows, members, out, o, progress);
}

std::vector<GanTrainResult> train_gan_many(const data::Dataset& ds, const fs::path& out, const GanTrainOptions& o,
                                           int64_t models, const std::string& split, const ProgressFn& progress,
                                           int64_t rank, int64_t ranks) {
  if (models < 1) fail("--models", "at least 1", std::to_string(models));
  if (split != "half" && split != "all") fail("--split", "half or all", "'" + split + "'");
  if (ranks < 1 || rank < 0 || rank >= ranks)
    fail("train_gan_many rank/ranks", "a rank in [0, ranks)", std::to_string(rank) + "/" + std::to_string(ranks));
  std::vector<GanTrainResult> results(static_cast<size_t>(models));
  for (int64_t k = 0; k < models; ++k) {
    if (k % ranks != rank) continue;  // another rank's model: its result stays empty
    const detail::ManyMember m = detail::many_member(k, o.seed, split, ds.size());
    GanTrainOptions ok = o;
    ok.seed = m.seed;
    log::info("GAN " + std::to_string(k + 1) + "/" + std::to_string(models) + ": " + (out / m.name).string());
    results[static_cast<size_t>(k)] = train_gan(ds, m.rows, m.mask, out / m.name, ok, progress);
  }
  return results;
}

}  // namespace diffmem::train
