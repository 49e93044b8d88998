#include "diffmem/train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/precision.h"
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
#include "diffmem/train/loss_scaler.h"
#include "diffmem/train/optimizer.h"
#include "diffmem/train/text_to_image.h"
#include "train_state.h"

namespace diffmem::train {
namespace fs = std::filesystem;

std::vector<bool> random_half(int64_t n, uint64_t seed) {
  std::vector<bool> mask(n, false);
  for (int64_t i : core::sample_without_replacement(n, n / 2, seed)) mask[i] = true;
  return mask;
}

namespace {

model::UNet2DConfig make_config(const data::Dataset& ds, const TrainOptions& o) {
  return model_config(ds.height(), ds.width(), ds.channels(), o);
}

void save_checkpoint(const fs::path& out, int64_t step, model::UNet2D& net, const Ema& ema,
                     const Adam& adam, const diffusion::SchedulerConfig& sched, const std::vector<double>& recent_losses,
                     const LossScaler& scaler) {
  torch::NoGradGuard no_grad;
  // The diffusers folder carries the EMA weights. They are written straight from the EMA: a copy
  // of the network (Module::clone) would rebuild every layer, drawing fresh initial weights from
  // torch's global generator while another model trained side by side may be seeding it.
  model::save_unet2d(net->config(), detail::as_map(ema.weights()), out);
  diffusion::write_scheduler_config(out / "scheduler_config.json", sched);
  detail::save_training_state(out / detail::kStateFile, step, detail::named_params(*net), ema, adam, recent_losses,
                              scaler.metadata());
}

// The clean images of one step: rows `idx` of `all`, each flipped by the step's own draw.
torch::Tensor training_batch(const torch::Tensor& all, const std::vector<int64_t>& idx,
                             uint64_t step_seed, const TrainOptions& o, const torch::Device& device) {
  torch::Tensor x0 = all.index_select(0, torch::tensor(idx, torch::kLong).to(device));
  return o.flip ? detail::random_flips(x0, step_seed) : x0;
}

}  // namespace

TrainResult train_model(const data::Dataset& ds, const std::vector<int64_t>& rows_in,
                        const std::vector<bool>& members, const fs::path& out,
                        const TrainOptions& o, const ProgressFn& progress) {
  check(o.conditioning == "none" || o.conditioning == "text", "conditioning", "none or text",
        "'" + o.conditioning + "'");
  if (o.conditioning == "text") return train_text_to_image(ds, rows_in, members, out, o, progress);
  validate(o, "train options");  // (train_text_to_image runs its own)
  if (ds.size() == 0) fail("--data", "a non-empty data set", "0 images");
  const std::vector<int64_t> rows = detail::rows_or_all(rows_in, ds.size());

  // Everything that can be refused is, before the first byte is written: the network (its
  // config against the data and --max-memory), the schedule, the device.
  const std::string device_name = core::resolve_device(o.device);
  core::check_precision(o.precision, device_name, "--precision");
  torch::Device device(device_name);
  model::UNet2DConfig config = make_config(ds, o);
  diffusion::SchedulerConfig sched;
  sched.beta_schedule = o.beta_schedule;
  sched.num_train_timesteps = o.num_train_timesteps;
  diffusion::validate(sched, "training schedule");
  diffusion::NoiseSchedule schedule(sched);

  TrainResult result;
  result.model_dir = out;
  fs::create_directories(out);
  detail::record_run(out, "train_options.json", o, members);

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
  NamedTensors params = detail::named_params(*net);
  Adam adam(params, detail::adam_options(o));
  Ema ema(params, o.ema_decay);
  std::vector<double> recent_losses;
  std::map<std::string, std::string> state_metadata;
  LossScaler scaler(o.precision == "fp16");
  const int64_t start = detail::resume(out, params, ema, adam, device, &recent_losses, &state_metadata);
  scaler.restore(state_metadata, (out / detail::kStateFile).string());
  result.start_step = start;
  if (start >= o.steps) {
    result.steps_done = start;
    result.already_done = true;
    result.final_loss = detail::mean_loss(recent_losses);  // what the finished run reported
    return result;
  }

  // The whole training set lives on the device in [-1,1]: small data sets are the point here.
  torch::Tensor all = diffusion::from_uint8_nhwc(io::to_tensor(ds.images)).to(device);
  const int64_t C = ds.channels(), H = ds.height(), W = ds.width();
  const int64_t T = o.num_train_timesteps;
  detail::BatchPlan plan(rows, o.batch, core::derive_seed(o.seed, 0xBA7C4));
  model::UNet2DDenoiser denoiser(net);
  net->train();

  detail::StepLog log(progress, o, start, out);
  log.restore(recent_losses);
  for (int64_t step = start; step < o.steps; ++step) {
    const uint64_t ss = core::derive_seed(o.seed, static_cast<uint64_t>(step));
    const torch::Tensor x0 = training_batch(all, plan.rows_for(step), ss, o, device);
    at::Generator gen = diffusion::make_cpu_generator(core::derive_seed(ss, 2));
    torch::Tensor t = torch::randint(0, T, {o.batch}, gen, torch::kLong).to(device);
    torch::Tensor eps = torch::randn({o.batch, C, H, W}, gen, torch::kFloat).to(device);
    if (config.dropout > 0) torch::manual_seed(core::derive_seed(ss, 3));  // dropout's draws

    adam.zero_grad();
    diffusion::LossOutput lo;
    {
      const core::AutocastGuard autocast(o.precision, device_name);  // the forward pass only
      lo = diffusion::noise_prediction_loss(denoiser, schedule, x0, t, eps);
    }
    const double loss = lo.loss.item<double>();
    const bool checkpoint = log.record(step, loss);
    scaler.scaled(lo.loss).backward();
    // fp16: a step whose gradients overflowed is skipped (its batch is spent, the scale halves).
    if (scaler.unscale_and_update(params)) {
      adam.step(step);
      ema.update(params, step);
    }
    if (checkpoint) {
      save_checkpoint(out, step + 1, net, ema, adam, sched, log.recent_losses(), scaler);
      log.checkpointed(step + 1);
    }
  }
  log.finish(result);
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
  if (many.ranks < 1 || many.rank < 0 || many.rank >= many.ranks)
    fail("ManyOptions.rank/ranks", "a rank in [0, ranks)", std::to_string(many.rank) + "/" + std::to_string(many.ranks));
  const auto mine = [&](int64_t k) { return k % many.ranks == many.rank; };
  int64_t my_models = 0;
  for (int64_t k = 0; k < many.models; ++k) my_models += mine(k);
  const int64_t jobs = std::max<int64_t>(1, std::min(many.jobs, my_models));
  if (jobs > 1 && options.conditioning == "none" && make_config(ds, options).dropout > 0)
    fail("--jobs", "1 when the model has dropout (dropout draws from torch's global generator, "
         "which parallel models would share)",
         std::to_string(jobs));

  auto train_one = [&](int64_t k, const ProgressFn& prog) {
    const detail::ManyMember m = detail::many_member(k, options.seed, many.split, ds.size());
    TrainOptions o = options;
    o.seed = m.seed;
    log::info("model " + std::to_string(k + 1) + "/" + std::to_string(many.models) + ": " +
              (out / m.name).string());
    return train_model(ds, m.rows, m.mask, out / m.name, o, prog);
  };

  std::vector<TrainResult> results(static_cast<size_t>(many.models));
  if (jobs == 1) {
    for (int64_t k = 0; k < many.models; ++k)
      if (mine(k)) results[k] = train_one(k, progress);
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
        if (!mine(k)) continue;
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
