// The loss statistic, the option structs, and the ExampleScorer objects of all three statistics.
#include "diffmem/attack/mia_scores.h"

#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/diffusion/loss.h"
#include "diffmem/diffusion/noise.h"
#include "mia_items.h"

namespace diffmem::attack {
namespace {

void check_t(int64_t t, int64_t T, const std::string& where, const std::string& field) {
  check(t >= 0 && t < T, where, field + " in [0, " + std::to_string(T) + ")", std::to_string(t));
}
void check_positive(int64_t v, const std::string& where, const std::string& field) {
  check(v >= 1, where, field + " >= 1", std::to_string(v));
}

}  // namespace

void validate(const LossScoreOptions& o, int64_t T, const std::string& where) {
  check_t(o.t, T, where, "t");
  check_positive(o.draws, where, "draws");
  check_positive(o.batch, where, "batch");
}
void validate(const SecMiOptions& o, int64_t T, const std::string& where) {
  check_positive(o.step, where, "step");
  check(o.t >= o.step && o.t % o.step == 0, where, "t a positive multiple of step " +
        std::to_string(o.step), std::to_string(o.t));
  check_t(o.t, T, where, "t");
  check_positive(o.batch, where, "batch");
}
void validate(const PiaOptions& o, int64_t T, const std::string& where) {
  check(o.t >= 1 && o.t < T, where, "t in [1, " + std::to_string(T) + ")", std::to_string(o.t));
  check(o.p == 1 || o.p == 2 || o.p == 4, where, "p of 1, 2 or 4", std::to_string(o.p));
  check_positive(o.batch, where, "batch");
}

torch::Tensor example_noise(uint64_t seed, int64_t id, int64_t count, int64_t channels,
                            int64_t height, int64_t width) {
  at::Generator gen =
      diffusion::make_cpu_generator(core::derive_seed(seed, static_cast<uint64_t>(id)));
  auto out = torch::empty({count, channels, height, width}, torch::kFloat32);
  // One draw per call keeps draw j independent of how many draws were asked for.
  for (int64_t j = 0; j < count; ++j)
    out[j].copy_(torch::randn({channels, height, width}, gen, torch::kFloat32));
  return out;
}

std::vector<double> loss_errors(model::Denoiser& denoiser, const diffusion::NoiseSchedule& schedule,
                                const data::Dataset& ds, const LossScoreOptions& options,
                                const ProgressFn& progress) {
  validate(options, schedule.num_train_timesteps(), "mia loss options");
  torch::NoGradGuard no_grad;
  const int64_t variants = options.flip ? 2 : 1;
  detail::ItemLayout layout;
  layout.per_example = variants * options.draws;
  layout.flip_from = options.flip ? options.draws : layout.per_example;
  layout.batch = options.batch;
  const int64_t C = ds.channels(), H = ds.height(), W = ds.width();
  const torch::Device device = denoiser.device();
  // A batch starts and ends inside at most two examples' draws; keep the last one's noise so an
  // example split across batches is drawn once.
  int64_t cached_example = -1;
  torch::Tensor cached_noise;
  auto fn = [&](const detail::ItemBatch& b) {
    const int64_t B = static_cast<int64_t>(b.example.size());
    auto eps = torch::empty({B, C, H, W}, torch::kFloat32);
    for (int64_t i = 0; i < B; ++i) {
      const int64_t e = b.example[static_cast<size_t>(i)];
      if (e != cached_example) {
        cached_noise = example_noise(options.seed, ds.ids[static_cast<size_t>(e)],
                                     layout.per_example, C, H, W);
        cached_example = e;
      }
      eps[i].copy_(cached_noise[b.slot[static_cast<size_t>(i)]]);
    }
    auto t = torch::full({B}, options.t, torch::kLong);
    return diffusion::noise_prediction_loss(denoiser, schedule, b.x0, t.to(device), eps.to(device))
        .per_example;
  };
  return detail::mean_over_items(ds, layout, device, fn, progress, "mia loss");
}

namespace {

// What sets the three statistics apart: their name, their cost, and the function computing them.
struct LossStatistic {
  using Options = LossScoreOptions;
  static constexpr const char* kName = "loss";
  static int64_t forwards(const Options& o) { return o.draws; }
  static std::vector<double> errors(model::Denoiser& d, const diffusion::NoiseSchedule& s,
                                    const data::Dataset& ds, const Options& o, const ProgressFn& p) {
    return loss_errors(d, s, ds, o, p);
  }
};
struct SecMiStatistic {
  using Options = SecMiOptions;
  static constexpr const char* kName = "secmi";
  static int64_t forwards(const Options& o) { return o.t / o.step + 1; }
  static std::vector<double> errors(model::Denoiser& d, const diffusion::NoiseSchedule& s,
                                    const data::Dataset& ds, const Options& o, const ProgressFn& p) {
    return secmi_errors(d, s, ds, o, p);
  }
};
struct PiaStatistic {
  using Options = PiaOptions;
  static constexpr const char* kName = "pia";
  static int64_t forwards(const Options&) { return 2; }
  static std::vector<double> errors(model::Denoiser& d, const diffusion::NoiseSchedule& s,
                                    const data::Dataset& ds, const Options& o, const ProgressFn& p) {
    return pia_errors(d, s, ds, o, p);
  }
};

template <typename Statistic>
class Scorer : public ExampleScorer {
 public:
  using Options = typename Statistic::Options;
  explicit Scorer(Options o) : o_(o) {}
  std::string name() const override { return Statistic::kName; }
  io::Json options() const override {
    auto j = io::fields_json(o_);
    j.erase("batch");  // never changes a score, so it must not key the cache
    return j;
  }
  int64_t forwards_per_example() const override {
    return Statistic::forwards(o_) * (o_.flip ? 2 : 1);
  }
  std::vector<double> errors(model::Denoiser& d, const diffusion::NoiseSchedule& s,
                             const data::Dataset& ds, const ProgressFn& p) const override {
    return Statistic::errors(d, s, ds, o_, p);
  }
  std::unique_ptr<ExampleScorer> at_timestep(int64_t t) const override {
    Options o = o_;
    o.t = t;
    return std::make_unique<Scorer>(o);
  }

 private:
  Options o_;
};

}  // namespace

std::unique_ptr<ExampleScorer> make_loss_scorer(const LossScoreOptions& o) {
  return std::make_unique<Scorer<LossStatistic>>(o);
}
std::unique_ptr<ExampleScorer> make_secmi_scorer(const SecMiOptions& o) {
  return std::make_unique<Scorer<SecMiStatistic>>(o);
}
std::unique_ptr<ExampleScorer> make_pia_scorer(const PiaOptions& o) {
  return std::make_unique<Scorer<PiaStatistic>>(o);
}

}  // namespace diffmem::attack
