#include "diffmem/train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/rng.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/loss.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/checkpoint.h"
#include "diffmem/model/unet2d.h"
#include "diffmem/train/optimizer.h"

namespace diffmem::train {
namespace fs = std::filesystem;

static constexpr const char* kStateFile = "training_state.safetensors";
static constexpr const char* kOptionsFile = "train_options.json";

std::vector<bool> random_half(int64_t n, uint64_t seed) {
  std::vector<bool> mask(n, false);
  for (int64_t i : core::sample_without_replacement(n, n / 2, seed)) mask[i] = true;
  return mask;
}

namespace {

// The options that must match for a rerun to continue a run (steps may grow; threads/device not).
io::Json identity(const TrainOptions& o) {
  io::Json j = io::fields_json(o);
  j.erase("steps");
  j.erase("device");
  j.erase("checkpoint_every");
  return j;
}

model::UNet2DConfig make_config(const data::Dataset& ds, const TrainOptions& o) {
  return model_config(ds.height(), ds.width(), ds.channels(), o);
}

NamedTensors named_params(model::UNet2D& net) {
  NamedTensors out;
  for (auto& p : net->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

std::map<std::string, torch::Tensor> with_prefix(const std::string& prefix,
                                                 const std::map<std::string, torch::Tensor>& in) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [k, v] : in) out[prefix + k] = v;
  return out;
}

std::map<std::string, torch::Tensor> strip_prefix(const std::string& prefix,
                                                  const io::Safetensors& file) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [k, v] : file.tensors)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = io::to_tensor(v);
  return out;
}

std::map<std::string, torch::Tensor> as_map(const NamedTensors& t) {
  return {t.begin(), t.end()};
}

// Batch rows for a step: consecutive slices of per-epoch seeded permutations of `rows`.
class BatchPlan {
 public:
  BatchPlan(std::vector<int64_t> rows, int64_t batch, uint64_t seed)
      : rows_(std::move(rows)), batch_(batch), seed_(seed) {}
  std::vector<int64_t> rows_for(int64_t step) {
    std::vector<int64_t> out(batch_);
    const int64_t m = static_cast<int64_t>(rows_.size());
    for (int64_t j = 0; j < batch_; ++j) {
      int64_t p = step * batch_ + j;
      int64_t epoch = p / m;
      if (epoch != epoch_) {
        perm_ = core::sample_without_replacement(m, m, core::derive_seed(seed_, epoch));
        epoch_ = epoch;
      }
      out[j] = rows_[perm_[p % m]];
    }
    return out;
  }

 private:
  std::vector<int64_t> rows_;
  int64_t batch_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<int64_t> perm_;
};

void save_checkpoint(const fs::path& out, int64_t step, model::UNet2D& net, const Ema& ema,
                     const Adam& adam, const diffusion::SchedulerConfig& sched) {
  torch::NoGradGuard no_grad;
  // The diffusers folder carries the EMA weights. They are written straight from the EMA: a copy
  // of the network (Module::clone) would rebuild every layer, drawing fresh initial weights from
  // torch's global generator while another model trained side by side may be seeding it.
  auto ema_map = as_map(ema.weights());
  model::save_unet2d(net->config(), ema_map, out);
  diffusion::write_scheduler_config(out / "scheduler_config.json", sched);

  io::Safetensors state;
  state.metadata = {{"format", "pt"}, {"step", std::to_string(step)}};
  auto add = [&](const std::map<std::string, torch::Tensor>& m) {
    for (auto& [k, v] : m) state.tensors[k] = io::from_tensor(v);
  };
  add(with_prefix("model/", as_map(named_params(net))));
  add(with_prefix("ema/", ema_map));
  add(adam.state());
  io::write_safetensors(out / kStateFile, state);
}

// A rerun continues the run in `out` only when it is the same run; the options and the member
// mask are written before any step.
void record_run(const fs::path& out, const TrainOptions& o, const std::vector<bool>& members) {
  const fs::path opt_path = out / kOptionsFile;
  if (fs::exists(opt_path)) {
    TrainOptions prev = io::read_options<TrainOptions>(io::read_json(opt_path), opt_path.string());
    if (identity(prev) != identity(o))
      fail(opt_path.string(), "the same training options as the run already in this folder " +
                                  identity(prev).dump(),
           identity(o).dump() + " (use a new --out, or the same options to resume)");
  }
  io::write_json(opt_path, io::fields_json(o));
  if (!members.empty()) data::save_members(out, members);
}

// Loads the raw weights, EMA and Adam moments of a checkpoint; returns its step.
int64_t load_checkpoint(const fs::path& state_path, NamedTensors& params, Ema& ema, Adam& adam,
                        const torch::Device& device) {
  io::Safetensors st = io::read_safetensors(state_path);
  auto it = st.metadata.find("step");
  if (it == st.metadata.end()) fail(state_path.string(), "metadata 'step'", "none");
  const int64_t step = std::stoll(it->second);
  torch::NoGradGuard no_grad;
  auto model_w = strip_prefix("model/", st);
  for (auto& [name, p] : params) {
    auto w = model_w.find(name);
    if (w == model_w.end()) fail(state_path.string(), "tensor 'model/" + name + "'", "none");
    if (w->second.sizes() != p.sizes())
      fail(state_path.string(), "model/" + name + " of shape " + c10::str(p.sizes()),
           c10::str(w->second.sizes()));
    p.copy_(w->second);
  }
  ema.load(strip_prefix("ema/", st), state_path.string());
  std::map<std::string, torch::Tensor> moments;
  for (auto& [k, v] : st.tensors)
    if (k.rfind("exp_avg", 0) == 0) moments[k] = io::to_tensor(v).to(device);
  adam.load_state(moments, state_path.string());
  return step;
}

// The clean images of one step: rows `idx` of `all`, each flipped by the step's own draw.
torch::Tensor training_batch(const torch::Tensor& all, const std::vector<int64_t>& idx,
                             uint64_t step_seed, const TrainOptions& o, const torch::Device& device) {
  torch::Tensor x0 = all.index_select(0, torch::tensor(idx, torch::kLong).to(device));
  if (!o.flip) return x0;
  core::Rng rng(core::derive_seed(step_seed, 1));
  std::vector<uint8_t> f(o.batch);
  for (auto& b : f) b = static_cast<uint8_t>(rng.below(2));
  torch::Tensor mask = torch::tensor(std::vector<int64_t>(f.begin(), f.end()))
                           .to(torch::kBool)
                           .view({o.batch, 1, 1, 1})
                           .to(device);
  return torch::where(mask, x0.flip({3}), x0);
}

}  // namespace

TrainResult train_model(const data::Dataset& ds, const std::vector<int64_t>& rows_in,
                        const std::vector<bool>& members, const fs::path& out,
                        const TrainOptions& o, const ProgressFn& progress) {
  if (o.steps <= 0) fail("--steps", "a positive step count", std::to_string(o.steps));
  if (o.batch <= 0) fail("--batch", "a positive batch size", std::to_string(o.batch));
  if (ds.size() == 0) fail("--data", "a non-empty data set", "0 images");
  std::vector<int64_t> rows = rows_in;
  if (rows.empty())
    for (int64_t i = 0; i < ds.size(); ++i) rows.push_back(i);

  TrainResult result;
  result.model_dir = out;
  fs::create_directories(out);

  record_run(out, o, members);

  torch::Device device(core::resolve_device(o.device));
  model::UNet2DConfig config = make_config(ds, o);
  diffusion::SchedulerConfig sched;
  sched.beta_schedule = o.beta_schedule;
  sched.num_train_timesteps = o.num_train_timesteps;
  diffusion::validate(sched, "training schedule");
  diffusion::NoiseSchedule schedule(sched);

  model::UNet2D net{nullptr};
  {
    // Initial weights come from torch's global generator; models built side by side (train_many
    // with jobs > 1) take turns so that each gets exactly its own seed's draws.
    static std::mutex init_mutex;
    std::lock_guard<std::mutex> lock(init_mutex);
    torch::manual_seed(core::derive_seed(o.seed, 0xC0FFEE));
    net = model::UNet2D(config);
  }
  net->to(device);
  result.parameters = net->parameter_count();
  NamedTensors params = named_params(net);
  AdamOptions ao;
  ao.lr = o.lr;
  ao.warmup_steps = o.warmup_steps;
  ao.grad_clip = o.grad_clip;
  Adam adam(params, ao);
  Ema ema(params, o.ema_decay);

  const fs::path state_path = out / kStateFile;
  const int64_t start = fs::exists(state_path) ? load_checkpoint(state_path, params, ema, adam, device) : 0;
  if (start > 0) log::info("resuming " + out.string() + " from step " + std::to_string(start));
  result.start_step = start;
  if (start >= o.steps) {
    result.steps_done = start;
    result.already_done = true;
    return result;
  }

  // The whole training set lives on the device in [-1,1]: small data sets are the point here.
  torch::Tensor all = diffusion::from_uint8_nhwc(io::to_tensor(ds.images)).to(device);
  const int64_t C = ds.channels(), H = ds.height(), W = ds.width();
  const int64_t T = o.num_train_timesteps;
  BatchPlan plan(rows, o.batch, core::derive_seed(o.seed, 0xBA7C4));
  model::UNet2DDenoiser denoiser(net);
  net->train();

  std::deque<double> recent;
  double recent_sum = 0;
  ProgressMeter meter(progress, "train", o.steps, "steps", start);
  auto t0 = std::chrono::steady_clock::now();
  int64_t last_ckpt = start;
  for (int64_t step = start; step < o.steps; ++step) {
    const uint64_t ss = core::derive_seed(o.seed, static_cast<uint64_t>(step));
    const torch::Tensor x0 = training_batch(all, plan.rows_for(step), ss, o, device);
    at::Generator gen = diffusion::make_cpu_generator(core::derive_seed(ss, 2));
    torch::Tensor t = torch::randint(0, T, {o.batch}, gen, torch::kLong).to(device);
    torch::Tensor eps = torch::randn({o.batch, C, H, W}, gen, torch::kFloat).to(device);
    if (config.dropout > 0) torch::manual_seed(core::derive_seed(ss, 3));  // dropout's draws

    adam.zero_grad();
    auto lo = diffusion::noise_prediction_loss(denoiser, schedule, x0, t, eps);
    double loss = lo.loss.item<double>();
    if (!std::isfinite(loss))
      fail(out.string(), "a finite loss at step " + std::to_string(step),
           std::to_string(loss) + "; the last good checkpoint is step " +
               std::to_string(last_ckpt) + " in " + state_path.string());
    lo.loss.backward();
    adam.step(step);
    ema.update(params, step);

    recent.push_back(loss);
    recent_sum += loss;
    if (recent.size() > 100) {
      recent_sum -= recent.front();
      recent.pop_front();
    }
    const int64_t done = step + 1;
    char detail[64];
    std::snprintf(detail, sizeof detail, "loss %.4f", recent_sum / recent.size());
    meter.update(done, detail);
    if (done == o.steps || (o.checkpoint_every > 0 && done % o.checkpoint_every == 0)) {
      save_checkpoint(out, done, net, ema, adam, sched);
      last_ckpt = done;
    }
  }
  meter.finish();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.steps_done = o.steps;
  result.final_loss = recent.empty() ? 0.0 : recent_sum / recent.size();
  result.images_per_s = secs > 0 ? (o.steps - start) * o.batch / secs : 0.0;
  return result;
}

TrainResult train_on_members(const data::Dataset& ds, const fs::path& out,
                             const TrainOptions& options, const ProgressFn& progress) {
  std::vector<int64_t> rows;
  std::vector<bool> members;
  if (ds.members) {
    members = *ds.members;
    for (int64_t i = 0; i < ds.size(); ++i)
      if (members[i]) rows.push_back(i);
  }
  return train_model(ds, rows, members, out, options, progress);
}

std::vector<TrainResult> train_many(const data::Dataset& ds, const fs::path& out,
                                    const TrainOptions& options, const ManyOptions& many,
                                    const ProgressFn& progress) {
  if (many.models < 1) fail("--models", "at least 1", std::to_string(many.models));
  if (many.split != "half" && many.split != "all")
    fail("--split", "half or all", "'" + many.split + "'");
  if (many.jobs < 1) fail("--jobs", "at least 1", std::to_string(many.jobs));
  const int64_t jobs = std::min(many.jobs, many.models);
  if (jobs > 1 && make_config(ds, options).dropout > 0)
    fail("--jobs", "1 when the model has dropout (dropout draws from torch's global generator, "
         "which parallel models would share)",
         std::to_string(jobs));

  auto train_one = [&](int64_t k, const ProgressFn& prog) {
    char name[32];
    std::snprintf(name, sizeof name, "model-%03lld", static_cast<long long>(k));
    TrainOptions o = options;
    o.seed = core::derive_seed(options.seed, static_cast<uint64_t>(k));
    std::vector<bool> mask;
    std::vector<int64_t> rows;
    if (many.split == "half") {
      mask = random_half(ds.size(), core::derive_seed(o.seed, 0x4A1F));
      for (int64_t i = 0; i < ds.size(); ++i)
        if (mask[i]) rows.push_back(i);
    }
    log::info("model " + std::to_string(k + 1) + "/" + std::to_string(many.models) + ": " +
              (out / name).string());
    return train_model(ds, rows, mask, out / name, o, prog);
  };

  std::vector<TrainResult> results(static_cast<size_t>(many.models));
  if (jobs == 1) {
    for (int64_t k = 0; k < many.models; ++k) results[k] = train_one(k, progress);
    return results;
  }

  // Several models at once, each on its share of the cores: a small model uses two cores far
  // less than twice as well as one, so K shadow models finish sooner side by side. Every model's
  // randomness comes from its own seed, so the weights do not depend on the interleaving — only
  // on the thread count of each model's ops, which is fixed here at threads / jobs.
  const int total_threads = torch::get_num_threads();
  const int per_job = std::max<int>(1, total_threads / static_cast<int>(jobs));
  core::set_threads(per_job);
  std::mutex progress_mutex;
  std::atomic<int64_t> next{0};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  std::vector<std::thread> workers;
  for (int64_t w = 0; w < jobs; ++w) {
    workers.emplace_back([&] {
      // OpenMP keeps the thread count per thread: a new thread would otherwise start at all cores.
      core::set_threads(per_job);
      for (int64_t k = next++; k < many.models; k = next++) {
        {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (first_error) return;
        }
        char stage[48];
        std::snprintf(stage, sizeof stage, "train model-%03lld", static_cast<long long>(k));
        ProgressFn prog;
        if (progress)
          prog = [&, stage = std::string(stage)](const ProgressEvent& e) {
            ProgressEvent named = e;
            named.stage = stage;
            std::lock_guard<std::mutex> lock(progress_mutex);
            progress(named);
          };
        try {
          results[k] = train_one(k, prog);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!first_error) first_error = std::current_exception();
          return;
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  core::set_threads(total_threads);
  if (first_error) std::rethrow_exception(first_error);
  return results;
}

}  // namespace diffmem::train
