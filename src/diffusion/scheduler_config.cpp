#include <cmath>
#include <vector>

#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/diffusion/scheduler_config.h"

namespace diffmem::diffusion {
namespace fs = std::filesystem;
namespace {

std::string where_key(const std::string& where, const std::string& key) {
  return where + ": " + key;
}

std::string one_of(const std::vector<std::string>& names) {
  std::string s = "one of";
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : " ") + names[i];
  return s;
}

void check_choice(const std::string& value, const std::vector<std::string>& allowed,
                  const std::string& where, const std::string& key) {
  for (const auto& a : allowed)
    if (value == a) return;
  fail(where_key(where, key), one_of(allowed), "\"" + value + "\"");
}

std::string show(const io::Json& v) { return v.dump(); }

// Readers for one key each: a wrong JSON type is an error naming the key, not nlohmann's message.
void read_int(const io::Json& j, const char* key, int64_t& out, const std::string& where) {
  if (!j.contains(key)) return;
  const auto& v = j.at(key);
  // 1000.0 is an integer too; the bound keeps the cast below defined.
  bool integral = v.is_number_integer() ||
                  (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                   std::fabs(v.get<double>()) < 9.0e15);
  if (!integral) fail(where_key(where, key), "an integer", show(v));
  out = v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
}

void read_number(const io::Json& j, const char* key, double& out, const std::string& where) {
  if (!j.contains(key)) return;
  const auto& v = j.at(key);
  if (!v.is_number()) fail(where_key(where, key), "a number", show(v));
  out = v.get<double>();
}

void read_bool(const io::Json& j, const char* key, bool& out, const std::string& where) {
  if (!j.contains(key)) return;
  const auto& v = j.at(key);
  if (!v.is_boolean()) fail(where_key(where, key), "true or false", show(v));
  out = v.get<bool>();
}

void read_string(const io::Json& j, const char* key, std::string& out, const std::string& where) {
  if (!j.contains(key) || j.at(key).is_null()) return;  // diffusers writes null for "unset"
  const auto& v = j.at(key);
  if (!v.is_string()) fail(where_key(where, key), "a string", show(v));
  out = v.get<std::string>();
}

// Switches diffusers has and diffmem does not implement: accepted only when off.
void require_off(const io::Json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) return;
  const auto& v = j.at(key);
  if (v.is_null() || (v.is_boolean() && !v.get<bool>())) return;
  fail(where_key(where, key), std::string(v.is_boolean() ? "false" : "null") +
                                  " (diffmem does not implement " + key + ")",
       show(v));
}

}  // namespace

void validate(const SchedulerConfig& c, const std::string& where) {
  if (c.class_name.empty()) fail(where_key(where, "_class_name"), "a scheduler class name", "\"\"");
  if (c.num_train_timesteps < 1 || c.num_train_timesteps > 100000000)
    fail(where_key(where, "num_train_timesteps"), "an integer in [1, 1e8]",
         std::to_string(c.num_train_timesteps));
  check_choice(c.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2"}, where,
               "beta_schedule");
  if (c.beta_schedule != "squaredcos_cap_v2") {
    // squaredcos_cap_v2 ignores beta_start/beta_end, as in diffusers.
    if (!(c.beta_start > 0 && c.beta_start < 1))
      fail(where_key(where, "beta_start"), "a number in (0, 1)", std::to_string(c.beta_start));
    if (!(c.beta_end > 0 && c.beta_end < 1))
      fail(where_key(where, "beta_end"), "a number in (0, 1)", std::to_string(c.beta_end));
  }
  check_choice(c.variance_type, {"fixed_small", "fixed_large", "learned_range", "learned"}, where,
               "variance_type");
  if (!(c.clip_sample_range > 0))
    fail(where_key(where, "clip_sample_range"), "a positive number",
         std::to_string(c.clip_sample_range));
  check_choice(c.prediction_type, {"epsilon", "v_prediction", "sample"}, where, "prediction_type");
  if (c.thresholding) {
    if (!(c.dynamic_thresholding_ratio > 0 && c.dynamic_thresholding_ratio <= 1))
      fail(where_key(where, "dynamic_thresholding_ratio"), "a number in (0, 1]",
           std::to_string(c.dynamic_thresholding_ratio));
    if (!(c.sample_max_value >= 1))
      fail(where_key(where, "sample_max_value"), "a number >= 1", std::to_string(c.sample_max_value));
  }
  check_choice(c.timestep_spacing, {"leading", "trailing", "linspace"}, where, "timestep_spacing");
  check_choice(c.interpolation_type, {"linear"}, where, "interpolation_type");
  check_choice(c.final_sigmas_type, {"zero", "sigma_min"}, where, "final_sigmas_type");
  check_choice(c.algorithm_type, {"dpmsolver++"}, where, "algorithm_type");
  check_choice(c.solver_type, {"midpoint", "heun"}, where, "solver_type");
  if (c.solver_order < 1 || c.solver_order > 2)
    fail(where_key(where, "solver_order"), "1 or 2 (third order is not implemented)",
         std::to_string(c.solver_order));
  if (c.steps_offset < 0)
    fail(where_key(where, "steps_offset"), "an integer >= 0", std::to_string(c.steps_offset));
  if (c.score_sde_ve()) {
    if (!(c.sigma_min > 0 && c.sigma_max > c.sigma_min && std::isfinite(c.sigma_max)))
      fail(where_key(where, "sigma_min"), "0 < sigma_min < sigma_max (finite)",
           std::to_string(c.sigma_min) + ", sigma_max " + std::to_string(c.sigma_max));
    if (!(c.sampling_eps > 0 && c.sampling_eps < 1))
      fail(where_key(where, "sampling_eps"), "a number in (0, 1)", std::to_string(c.sampling_eps));
    if (!(c.snr > 0 && std::isfinite(c.snr)))
      fail(where_key(where, "snr"), "a positive number", std::to_string(c.snr));
    if (c.correct_steps < 0 || c.correct_steps > 1000)
      fail(where_key(where, "correct_steps"), "an integer in [0, 1000]",
           std::to_string(c.correct_steps));
  }
}

io::Json to_json(const SchedulerConfig& c) {
  io::Json j;
  j["_class_name"] = c.class_name;
  if (c.score_sde_ve()) {
    j["num_train_timesteps"] = c.num_train_timesteps;
    j["sigma_min"] = c.sigma_min;
    j["sigma_max"] = c.sigma_max;
    j["sampling_eps"] = c.sampling_eps;
    j["snr"] = c.snr;
    j["correct_steps"] = c.correct_steps;
    return j;
  }
  j["num_train_timesteps"] = c.num_train_timesteps;
  j["beta_start"] = c.beta_start;
  j["beta_end"] = c.beta_end;
  j["beta_schedule"] = c.beta_schedule;
  j["trained_betas"] = nullptr;
  if (c.class_name != "DDIMScheduler") j["variance_type"] = c.variance_type;
  if (c.class_name != "DDPMScheduler") j["set_alpha_to_one"] = c.set_alpha_to_one;
  j["clip_sample"] = c.clip_sample;
  j["clip_sample_range"] = c.clip_sample_range;
  j["prediction_type"] = c.prediction_type;
  j["thresholding"] = c.thresholding;
  j["dynamic_thresholding_ratio"] = c.dynamic_thresholding_ratio;
  j["sample_max_value"] = c.sample_max_value;
  j["timestep_spacing"] = c.timestep_spacing;
  j["steps_offset"] = c.steps_offset;
  j["rescale_betas_zero_snr"] = c.rescale_betas_zero_snr;
  return j;
}

SchedulerConfig scheduler_config_from_json(const io::Json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "a JSON object (scheduler config)", show(j).substr(0, 40));
  std::string cls = SchedulerConfig().class_name;
  read_string(j, "_class_name", cls, where);
  // Keys a file leaves out take its class's defaults, as diffusers' from_config gives them.
  SchedulerConfig c;
  c.class_name = cls;
  if (cls == "EulerDiscreteScheduler" || cls == "EulerAncestralDiscreteScheduler" ||
      cls == "DPMSolverMultistepScheduler")
    c.timestep_spacing = "linspace";
  if (cls == "PNDMScheduler") c.set_alpha_to_one = false;
  if (c.score_sde_ve()) c.num_train_timesteps = 2000;
  read_int(j, "num_train_timesteps", c.num_train_timesteps, where);
  read_number(j, "beta_start", c.beta_start, where);
  read_number(j, "beta_end", c.beta_end, where);
  read_string(j, "beta_schedule", c.beta_schedule, where);
  read_string(j, "variance_type", c.variance_type, where);
  read_bool(j, "clip_sample", c.clip_sample, where);
  read_number(j, "clip_sample_range", c.clip_sample_range, where);
  read_string(j, "prediction_type", c.prediction_type, where);
  read_string(j, "timestep_spacing", c.timestep_spacing, where);
  read_int(j, "steps_offset", c.steps_offset, where);
  read_bool(j, "set_alpha_to_one", c.set_alpha_to_one, where);
  read_bool(j, "skip_prk_steps", c.skip_prk_steps, where);
  read_string(j, "interpolation_type", c.interpolation_type, where);
  read_bool(j, "thresholding", c.thresholding, where);
  read_number(j, "dynamic_thresholding_ratio", c.dynamic_thresholding_ratio, where);
  read_number(j, "sample_max_value", c.sample_max_value, where);
  read_bool(j, "rescale_betas_zero_snr", c.rescale_betas_zero_snr, where);
  read_int(j, "solver_order", c.solver_order, where);
  read_string(j, "algorithm_type", c.algorithm_type, where);
  read_string(j, "solver_type", c.solver_type, where);
  read_bool(j, "lower_order_final", c.lower_order_final, where);
  read_bool(j, "euler_at_final", c.euler_at_final, where);
  read_bool(j, "use_karras_sigmas", c.use_karras_sigmas, where);
  read_string(j, "final_sigmas_type", c.final_sigmas_type, where);
  if (c.score_sde_ve()) {  // Euler's and DPM's sigma_min / sigma_max are other (Karras) knobs
    read_number(j, "sigma_min", c.sigma_min, where);
    read_number(j, "sigma_max", c.sigma_max, where);
    read_number(j, "sampling_eps", c.sampling_eps, where);
    read_number(j, "snr", c.snr, where);
    read_int(j, "correct_steps", c.correct_steps, where);
  }
  for (const char* key : {"use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas", "use_flow_sigmas",
                          "use_dynamic_shifting"})
    require_off(j, key, where);
  // DPM's lambda_min_clipped: only "no clipping" (-inf, written by Python as -Infinity).
  if (j.contains("lambda_min_clipped") && !j.at("lambda_min_clipped").is_null() &&
      j.at("lambda_min_clipped") != "-Infinity")
    fail(where_key(where, "lambda_min_clipped"), "-Infinity (diffmem does not clip lambda)",
         show(j.at("lambda_min_clipped")));
  if (j.contains("timestep_type") && j.at("timestep_type") != "discrete")
    fail(where_key(where, "timestep_type"), "\"discrete\"", show(j.at("timestep_type")));
  require_off(j, "trained_betas", where);
  validate(c, where);
  return c;
}

SchedulerConfig read_scheduler_config(const std::filesystem::path& path) {
  return scheduler_config_from_json(io::read_json(path), path.string());
}

void write_scheduler_config(const std::filesystem::path& path, const SchedulerConfig& config) {
  validate(config, path.string());
  io::write_json(path, to_json(config));
}

fs::path find_scheduler_config(const fs::path& model) {
  const fs::path dir = fs::is_regular_file(model) ? model.parent_path() : model;
  for (const fs::path& p : {dir / "scheduler_config.json", dir / "scheduler" / "scheduler_config.json",
                            dir.parent_path() / "scheduler" / "scheduler_config.json"})
    if (fs::is_regular_file(p)) return p;
  return {};
}

SchedulerConfig model_scheduler_config(const fs::path& model, const fs::path& explicit_path) {
  if (!explicit_path.empty()) return read_scheduler_config(explicit_path);
  const fs::path found = find_scheduler_config(model);
  if (!found.empty()) return read_scheduler_config(found);
  const SchedulerConfig d;
  log::warn(model.string() + ": no scheduler_config.json (nor scheduler/scheduler_config.json); "
            "using diffusers' DDPMScheduler defaults (" + std::to_string(d.num_train_timesteps) +
            " steps, " + d.beta_schedule + " betas " + std::to_string(d.beta_start) + " to " +
            std::to_string(d.beta_end) + "; --scheduler-config FILE sets another)");
  return d;
}

}  // namespace diffmem::diffusion
