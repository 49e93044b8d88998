// A model's output as diffusers' step functions read it: eps, v or x0 (prediction_type), then
// x0 limited by clipping or dynamic thresholding. Coefficients are f32 scalars as diffusers' 0-d
// tensors are, so that v- and x0-models sample the same bytes as in diffusers.
#include <torch/torch.h>

#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/tensor_bridge.h"
#include "coefficient.h"

namespace diffmem::diffusion {

Prediction split_prediction(const SchedulerConfig& c, const torch::Tensor& output,
                            const torch::Tensor& sample, float alpha_prod_t) {
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const float sa = std::sqrt(alpha_prod_t), sb = std::sqrt(beta_prod_t);
  Prediction p;
  if (c.prediction_type == "epsilon") {
    p.x0 = (sample - detail::coefficient(sb) * output) / detail::coefficient(sa);
    p.eps = output;
  } else if (c.prediction_type == "v_prediction") {
    p.x0 = detail::coefficient(sa) * sample - detail::coefficient(sb) * output;
    p.eps = detail::coefficient(sa) * output + detail::coefficient(sb) * sample;
  } else if (c.prediction_type == "sample") {
    p.x0 = output;
    p.eps = (sample - detail::coefficient(sa) * output) / detail::coefficient(sb);
  } else {
    fail("prediction_type", "epsilon, v_prediction or sample", "\"" + c.prediction_type + "\"");
  }
  return p;
}

torch::Tensor limit_x0(const SchedulerConfig& c, const torch::Tensor& x0) {
  if (c.thresholding) {
    const auto dtype = x0.scalar_type();
    torch::Tensor flat = x0.to(dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32)
                             .reshape({x0.size(0), -1});
    torch::Tensor q = torch::quantile(flat.abs(), c.dynamic_thresholding_ratio, 1, false, "linear");
    q = torch::clamp(q, 1.0, c.sample_max_value).unsqueeze(1);
    return (torch::max(torch::min(flat, q), -q) / q).reshape(x0.sizes()).to(dtype);
  }
  if (c.clip_sample) return x0.clamp(-c.clip_sample_range, c.clip_sample_range);
  return x0;
}

torch::Tensor predicted_noise(const NoiseSchedule& schedule, const torch::Tensor& output,
                              const torch::Tensor& x_t, const torch::Tensor& t,
                              const std::function<std::string()>& where) {
  const SchedulerConfig& c = schedule.config();
  torch::Tensor o = output.to(torch::kFloat32);
  const int64_t C = x_t.size(1);
  if ((c.variance_type == "learned_range" || c.variance_type == "learned") && o.dim() >= 2 &&
      o.size(1) == 2 * C)
    o = o.slice(1, 0, C);
  if (!o.sizes().equals(x_t.sizes()))
    fail(where(), "a prediction of the input's shape " + io::shape_str(x_t) +
                             (c.variance_type.rfind("learned", 0) == 0 ? " (or twice its channels)" : ""),
         io::shape_str(output));
  if (c.prediction_type == "epsilon") return o;
  std::vector<int64_t> shape(static_cast<size_t>(x_t.dim()), 1);
  shape[0] = x_t.size(0);
  const torch::Tensor ab =
      schedule.alphas_cumprod().to(x_t.device()).index_select(0, t.to(x_t.device(), torch::kLong)).view(shape);
  const torch::Tensor x = x_t.to(torch::kFloat32);
  if (c.prediction_type == "v_prediction") return ab.sqrt() * o + (1 - ab).sqrt() * x;
  if (c.prediction_type == "sample") return (x - ab.sqrt() * o) / (1 - ab).sqrt();
  fail("prediction_type", "epsilon, v_prediction or sample", "\"" + c.prediction_type + "\"");
}

}  // namespace diffmem::diffusion
