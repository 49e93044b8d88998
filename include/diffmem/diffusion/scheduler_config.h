#pragma once
// diffusers' scheduler config (scheduler_config.json): the fields, their checks and the JSON reader
// and writer. Torch-free, so the reader of this untrusted file builds into the fuzz targets.
#include <cstdint>
#include <filesystem>
#include <string>

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

}  // namespace diffmem::diffusion
