#include "train_state.h"

#include <chrono>
#include <cstdio>
#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/rng.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::train::detail {
namespace fs = std::filesystem;

std::vector<int64_t> BatchPlan::rows_for(int64_t step) {
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

NamedTensors named_params(torch::nn::Module& net) {
  NamedTensors out;
  for (auto& p : net.named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

std::map<std::string, torch::Tensor> as_map(const NamedTensors& t) { return {t.begin(), t.end()}; }

namespace {

std::map<std::string, torch::Tensor> strip_prefix(const std::string& prefix, const io::Safetensors& file) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [k, v] : file.tensors)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = io::to_tensor(v);
  return out;
}

}  // namespace

int64_t state_step(const io::Safetensors& st, const fs::path& path) {
  auto it = st.metadata.find("step");
  if (it == st.metadata.end()) fail(path.string(), "metadata 'step'", "none");
  // A step is a plain non-negative integer: "-5", "abc", "1.5e1" and "10xyz" are refused.
  const std::string& text = it->second;
  const bool digits = !text.empty() && text.size() <= 18 && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) fail(path.string() + ": metadata 'step'", "a non-negative integer", "'" + text.substr(0, 40) + "'");
  return std::stoll(text);
}

void save_training_state(const fs::path& path, int64_t step, const NamedTensors& params, const Ema& ema,
                         const Adam& adam, const std::vector<double>& recent_losses,
                         const std::map<std::string, std::string>& extra) {
  io::Safetensors state;
  state.metadata = {{"format", "pt"}, {"step", std::to_string(step)},
                    {"recent_losses", io::Json(recent_losses).dump()}};
  for (const auto& [k, v] : extra) state.metadata[k] = v;
  for (auto& [k, v] : params) state.tensors["model/" + k] = io::from_tensor(v);
  for (auto& [k, v] : ema.weights()) state.tensors["ema/" + k] = io::from_tensor(v);
  for (auto& [k, v] : adam.state()) state.tensors[k] = io::from_tensor(v);
  io::write_safetensors(path, state);
}

int64_t load_training_state(const fs::path& path, NamedTensors& params, Ema& ema, Adam& adam,
                            const torch::Device& device, std::vector<double>* recent_losses,
                            std::map<std::string, std::string>* metadata) {
  io::Safetensors st = io::read_safetensors(path);
  const int64_t step = state_step(st, path);
  if (metadata) *metadata = st.metadata;
  if (recent_losses) {
    recent_losses->clear();
    auto r = st.metadata.find("recent_losses");
    if (r != st.metadata.end()) {
      const io::Json j = io::Json::parse(r->second, nullptr, /*allow_exceptions=*/false);
      bool ok = j.is_array() && j.size() <= 100;
      for (const io::Json& v : ok ? j : io::Json::array()) {
        ok = ok && v.is_number() && std::isfinite(v.get<double>());
        if (ok) recent_losses->push_back(v.get<double>());
      }
      if (!ok) fail(path.string() + ": metadata 'recent_losses'", "a JSON array of at most 100 finite numbers",
                    "'" + r->second.substr(0, 40) + "'");
    }
  }
  torch::NoGradGuard no_grad;
  auto model_w = strip_prefix("model/", st);
  for (auto& [name, p] : params) {
    auto w = model_w.find(name);
    if (w == model_w.end()) fail(path.string(), "tensor 'model/" + name + "'", "none");
    if (w->second.sizes() != p.sizes())
      fail(path.string(), "model/" + name + " of shape " + c10::str(p.sizes()), c10::str(w->second.sizes()));
    p.copy_(w->second);
  }
  ema.load(strip_prefix("ema/", st), path.string());
  std::map<std::string, torch::Tensor> moments;
  for (auto& [k, v] : st.tensors)
    if (k.rfind("exp_avg", 0) == 0) moments[k] = io::to_tensor(v).to(device);
  adam.load_state(moments, path.string());
  return step;
}

double mean_loss(const std::vector<double>& losses) {
  double s = 0;
  for (double v : losses) s += v;
  return losses.empty() ? 0.0 : s / static_cast<double>(losses.size());
}

AdamOptions adam_options(const TrainOptions& o) {
  AdamOptions ao;
  ao.lr = o.lr;
  ao.warmup_steps = o.warmup_steps;
  ao.grad_clip = o.grad_clip;
  return ao;
}

int64_t resume(const fs::path& out, NamedTensors& params, Ema& ema, Adam& adam, const torch::Device& device,
               std::vector<double>* recent_losses, std::map<std::string, std::string>* metadata) {
  const fs::path state = out / kStateFile;
  if (!fs::exists(state)) return 0;
  const int64_t step = load_training_state(state, params, ema, adam, device, recent_losses, metadata);
  if (step > 0) log::info("resuming " + out.string() + " from step " + std::to_string(step));
  return step;
}

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

StepLog::StepLog(const ProgressFn& progress, const TrainOptions& o, int64_t start, fs::path out)
    : meter_(progress, "train", o.steps, "steps", start), o_(o), start_(start), last_checkpoint_(start),
      out_(std::move(out)), t0_(now_s()) {}

bool StepLog::record(int64_t step, double loss) {
  if (!std::isfinite(loss))
    fail(out_.string(), "a finite loss at step " + std::to_string(step),
         std::to_string(loss) + "; the last good checkpoint is step " + std::to_string(last_checkpoint_) + " in " +
             (out_ / kStateFile).string());
  if (recent_.size() < 100) {
    recent_.push_back(loss);
  } else {
    recent_sum_ -= recent_[static_cast<size_t>(recorded_ % 100)];
    recent_[static_cast<size_t>(recorded_ % 100)] = loss;
  }
  recent_sum_ += loss;
  ++recorded_;
  const int64_t done = step + 1;
  char detail[64];
  std::snprintf(detail, sizeof detail, "loss %.4f", recent_sum_ / static_cast<double>(recent_.size()));
  meter_.update(done, detail);
  return done == o_.steps || (o_.checkpoint_every > 0 && done % o_.checkpoint_every == 0);
}

std::vector<double> StepLog::recent_losses() const {
  const size_t n = recent_.size(), first = n < 100 ? 0 : static_cast<size_t>(recorded_ % 100);
  std::vector<double> out;
  for (size_t k = 0; k < n; ++k) out.push_back(recent_[(first + k) % n]);
  return out;
}

void StepLog::restore(const std::vector<double>& recent_losses) {
  recent_.clear();
  recent_sum_ = 0;
  recorded_ = 0;
  for (double v : recent_losses) {
    recent_.push_back(v);
    recent_sum_ += v;
    ++recorded_;
  }
}

void StepLog::finish(TrainResult& result) {
  meter_.finish();
  const double secs = now_s() - t0_;
  result.steps_done = o_.steps;
  // Summed afresh in step order (the running sum drifts with its subtractions), so a resumed run,
  // whose ring was restored, gives the uninterrupted run's number to the bit.
  result.final_loss = mean_loss(recent_losses());
  result.images_per_s = secs > 0 ? static_cast<double>((o_.steps - start_) * o_.batch) / secs : 0.0;
}

void save_members(const fs::path& out, const std::vector<bool>& members) { data::save_members(out, members); }

ManyMember many_member(int64_t k, uint64_t seed, const std::string& split, int64_t n) {
  ManyMember m;
  char name[32];
  std::snprintf(name, sizeof name, "model-%03lld", static_cast<long long>(k));
  m.name = name;
  m.seed = core::derive_seed(seed, static_cast<uint64_t>(k));
  if (split == "half") {
    m.mask = random_half(n, core::derive_seed(m.seed, 0x4A1F));
    for (int64_t i = 0; i < n; ++i)
      if (m.mask[static_cast<size_t>(i)]) m.rows.push_back(i);
  }
  return m;
}

std::vector<int64_t> rows_or_all(const std::vector<int64_t>& rows, int64_t n) {
  if (!rows.empty()) return rows;
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[static_cast<size_t>(i)] = i;
  return all;
}

torch::Tensor flip_mask(int64_t b, uint64_t step_seed, const torch::Device& device) {
  core::Rng rng(core::derive_seed(step_seed, 1));
  std::vector<int64_t> f(static_cast<size_t>(b));
  for (auto& v : f) v = static_cast<int64_t>(rng.below(2));
  return torch::tensor(f).to(torch::kBool).view({b, 1, 1, 1}).to(device);
}

torch::Tensor random_flips(const torch::Tensor& x0, uint64_t step_seed) {
  return torch::where(flip_mask(x0.size(0), step_seed, x0.device()), x0.flip({3}), x0);
}

}  // namespace diffmem::train::detail
