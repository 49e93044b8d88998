#include "diffmem/diffusion/scheduler.h"

#include <torch/torch.h>

#include <sstream>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/diffusion/noise.h"

namespace diffmem::diffusion {
namespace {
}  // namespace

void Scheduler::check_output(const torch::Tensor& output, const torch::Tensor& sample,
                             const std::string& where) const {
  if (output.sizes().equals(sample.sizes())) return;
  const bool doubled = learns_variance() && output.dim() == sample.dim() && output.dim() >= 2 &&
                       output.size(0) == sample.size(0) && output.size(1) == 2 * sample.size(1) &&
                       output.sizes().slice(2).equals(sample.sizes().slice(2));
  if (!doubled)
    fail(where, "a model output of the sample's shape " + io::shape_str(sample) +
                    (learns_variance() ? " or with twice its channels (a learned variance)" : ""),
         io::shape_str(output));
}

StepOutput Scheduler::step(const torch::Tensor& model_output, int64_t t,
                           const torch::Tensor& sample, const torch::Tensor& noise) const {
  const std::string where = name() + " step at t=" + std::to_string(t);
  if (!model_output.defined() || !sample.defined())
    fail(where, "model output and sample tensors", "an undefined tensor");
  check_output(model_output, sample, where);
  torch::Tensor n;
  if (needs_noise(t)) {
    if (!noise.defined()) fail(where, "variance noise", "none");
    if (!noise.sizes().equals(sample.sizes()))
      fail(where, "noise of the sample's shape " + io::shape_str(sample), io::shape_str(noise));
    n = noise.to(sample.device(), sample.scalar_type());
  }
  return do_step(model_output, t, sample, n);
}

StepOutput Scheduler::step(const torch::Tensor& model_output, int64_t t,
                           const torch::Tensor& sample,
                           std::vector<at::Generator>& per_image) const {
  torch::Tensor noise;
  if (needs_noise(t)) {
    if (static_cast<int64_t>(per_image.size()) != sample.size(0))
      fail(name() + " step", "one generator per image (" + std::to_string(sample.size(0)) + ")",
           std::to_string(per_image.size()));
    noise = randn_per_image(per_image, sample.sizes().slice(1));
  }
  return step(model_output, t, sample, noise);
}

}  // namespace diffmem::diffusion
