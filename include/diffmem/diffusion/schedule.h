#pragma once
// The forward process: diffusers' scheduler config (scheduler_config.json) and the beta /
// alpha-bar tables it implies, computed in the same precision and order as diffusers so that a
// model trained here samples identically there and the other way round.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "diffmem/io/json.h"

namespace diffmem::diffusion {

/// diffusers' DDPMScheduler / DDIMScheduler config; field names are the JSON keys.
/// Defaults are diffusers' defaults (the DDPM CIFAR-10 checkpoint uses variance_type fixed_large).
struct SchedulerConfig {
  std::string class_name = "DDPMScheduler";  // "_class_name": DDPMScheduler | DDIMScheduler | ...
  int64_t num_train_timesteps = 1000;
  double beta_start = 1e-4;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";      // linear | scaled_linear | squaredcos_cap_v2
  // DDPM only: fixed_small | fixed_large | learned_range | learned (the last two: the model
  // outputs 2C channels, the second half the variance, as improved DDPM's models do)
  std::string variance_type = "fixed_small";
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  std::string prediction_type = "epsilon";    // epsilon | v_prediction | sample
  bool thresholding = false;                   // dynamic thresholding of x0 (Imagen), not with Euler
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  bool rescale_betas_zero_snr = false;         // Lin et al. 2023: alpha-bar_T = 0
  std::string timestep_spacing = "leading";   // leading | trailing | linspace
  int64_t steps_offset = 0;
  bool set_alpha_to_one = true;                // DDIM, PNDM: alpha-bar "before" t = 0 is 1
  bool skip_prk_steps = false;                 // PNDM: only PLMS steps (SD's PNDM has true)
  std::string interpolation_type = "linear";   // Euler: sigmas at fractional timesteps
  // DPMSolverMultistepScheduler ("DPM++ 2M"; diffmem runs algorithm_type dpmsolver++, orders 1-2)
  int64_t solver_order = 2;
  std::string algorithm_type = "dpmsolver++";
  std::string solver_type = "midpoint";        // midpoint | heun
  bool lower_order_final = true;               // first order on the last step(s) below 15 steps
  bool euler_at_final = false;
  bool use_karras_sigmas = false;              // Karras et al.'s sigmas (DPM only here)
  std::string final_sigmas_type = "zero";      // zero | sigma_min
  // ScoreSdeVeScheduler (score-SDE VE models, whose UNet2DModel has time_embedding_type
  // "fourier"): geometric noise levels instead of betas; num_train_timesteps defaults to 2000.
  double sigma_min = 0.01;
  double sigma_max = 1348.0;
  double sampling_eps = 1e-5;  // the last continuous time t
  double snr = 0.15;           // the corrector's signal-to-noise ratio
  int64_t correct_steps = 1;   // Langevin corrector steps before each predictor step

  bool score_sde_ve() const { return class_name == "ScoreSdeVeScheduler"; }
};

/// Throws diffmem::Error "WHERE: key: expected ..., found ..." on a value diffmem cannot honour.
void validate(const SchedulerConfig& config, const std::string& where);

/// The keys diffusers writes for config.class_name (DDPM omits set_alpha_to_one, DDIM
/// variance_type), plus the feature switches diffmem requires off (thresholding, ...).
io::Json to_json(const SchedulerConfig& config);
/// Unknown keys are ignored (diffusers' configs carry many); a known key with a wrong type or an
/// unsupported value throws naming `where` and the key. Missing keys keep their defaults.
SchedulerConfig scheduler_config_from_json(const io::Json& j, const std::string& where);
SchedulerConfig read_scheduler_config(const std::filesystem::path& path);
void write_scheduler_config(const std::filesystem::path& path, const SchedulerConfig& config);

/// scheduler_config.json of a model: in the folder `model` (beside it when `model` is a file, as
/// for TorchScript), in its scheduler/ subfolder, or in ../scheduler/ of a pipeline's unet/ folder.
/// Empty when there is none.
std::filesystem::path find_scheduler_config(const std::filesystem::path& model);

/// The scheduler of a model: `explicit_path` when given, else find_scheduler_config(model), else
/// diffusers' DDPMScheduler defaults, with a warning naming the model and those defaults.
SchedulerConfig model_scheduler_config(const std::filesystem::path& model,
                                       const std::filesystem::path& explicit_path = {});

/// diffusers' set_timesteps(steps): descending training timesteps visited by a sampler.
/// 1 <= steps <= num_train_timesteps. May contain values >= T when steps_offset pushes them there
/// (as diffusers does); the schedulers reject those when stepped.
std::vector<int64_t> inference_timesteps(const SchedulerConfig& config, int64_t steps);

/// Betas, alphas and their cumulative product, f32 on the CPU, as diffusers computes them.
class NoiseSchedule {
 public:
  explicit NoiseSchedule(const SchedulerConfig& config = {});

  const SchedulerConfig& config() const { return config_; }
  int64_t num_train_timesteps() const { return config_.num_train_timesteps; }
  /// [T] f32 CPU.
  const torch::Tensor& betas() const { return betas_; }
  const torch::Tensor& alphas() const { return alphas_; }
  const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  /// alpha-bar_t as the f32 value diffusers uses; t must lie in [0, T).
  float alpha_cumprod(int64_t t) const;

 private:
  SchedulerConfig config_;
  torch::Tensor betas_, alphas_, alphas_cumprod_;
  std::vector<float> host_alphas_cumprod_;
};

/// What the step formulas of diffusers make of a model's output under config.prediction_type:
/// the predicted x0 and eps, as 0-d f32 coefficient arithmetic in diffusers' order. `output` has
/// the sample's shape (a learned variance already split off); alpha_prod_t = alpha-bar_t.
struct Prediction {
  torch::Tensor x0, eps;
};
Prediction split_prediction(const SchedulerConfig& config, const torch::Tensor& output,
                            const torch::Tensor& sample, float alpha_prod_t);
/// x0 as the steps use it: dynamic thresholding when config.thresholding, else clip_sample's
/// clamp, else unchanged (diffusers' _threshold_sample: per image, the ratio-quantile of |x0|
/// clamped to [1, sample_max_value], then x0 clamped to ±s and divided by s).
torch::Tensor limit_x0(const SchedulerConfig& config, const torch::Tensor& x0);
/// The noise a model's output stands for at timesteps t ([N] i64) of x_t, for the attacks and
/// losses that compare noise: eps as is, v and x0 converted with alpha-bar_t; a learned variance's
/// extra channels dropped. output [N,2C or C,...], x_t [N,C,...] → [N,C,...] f32. A wrong shape
/// throws diffmem::Error naming where() (the model; asked only then, as callers sit in training
/// and scoring loops).
torch::Tensor predicted_noise(const NoiseSchedule& schedule, const torch::Tensor& output,
                              const torch::Tensor& x_t, const torch::Tensor& t,
                              const std::function<std::string()>& where);

/// x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps (diffusers' add_noise, same f32 arithmetic).
/// x0, eps: [N,...] f32 on one device; t: [N] i64 (any device) → [N,...] f32.
torch::Tensor add_noise(const NoiseSchedule& schedule, const torch::Tensor& x0,
                        const torch::Tensor& eps, const torch::Tensor& t);

}  // namespace diffmem::diffusion
