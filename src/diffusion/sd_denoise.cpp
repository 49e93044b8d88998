// SdPipeline's training view, for the attacks that score examples (membership inference): the
// latents of images and the U-Net's noise prediction at a timestep.
#include <torch/torch.h>

#include "diffmem/diffusion/sampler.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/io/tensor_bridge.h"
#include "sd_pipeline_internal.h"

namespace diffmem::diffusion {

const SchedulerConfig& SdPipeline::scheduler_config() const { return parts_->scheduler; }

torch::Tensor SdPipeline::to_latents(const torch::Tensor& images) const {
  Parts& p = *parts_;
  torch::NoGradGuard no_grad;
  const torch::Tensor x = from_uint8_nhwc(images).to(p.device);
  if (p.vae.is_empty()) return x;
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < x.size(0); s += 32)
    out.push_back(p.vae->encode(x.slice(0, s, s + 32)).mean * p.vae->config().scaling_factor);
  return torch::cat(out);
}

torch::Tensor SdPipeline::predict_noise(const torch::Tensor& x, const torch::Tensor& t,
                                        const torch::Tensor& context) const {
  Parts& p = *parts_;
  torch::NoGradGuard no_grad;
  const torch::Tensor out = p.unet->forward(x, t.to(torch::kFloat32), context);
  return predicted_noise(*p.train_schedule, out, x, t.to(torch::kLong), [&] { return (p.dir / "unet").string(); });
}

}  // namespace diffmem::diffusion
