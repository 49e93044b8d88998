#pragma once
// SdPipeline's parts and the steps generate() and probe() share (sd_pipeline.cpp, sd_probe.cpp).
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/diffusion/schedule.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/diffusion/sd_scheduler.h"
#include "diffmem/io/json.h"
#include "diffmem/model/autoencoder_kl.h"
#include "diffmem/model/clip_text.h"
#include "diffmem/model/clip_tokenizer.h"
#include "diffmem/model/unet2d_condition.h"

namespace diffmem::diffusion {

struct SdPipeline::Parts {
  Parts(std::filesystem::path d, model::ClipTokenizer t) : dir(std::move(d)), tokenizer(std::move(t)) {}
  std::filesystem::path dir;
  model::ClipTokenizer tokenizer;
  model::ClipTextModel text_encoder{nullptr};
  model::UNet2DConditionModel unet{nullptr};
  model::AutoencoderKL vae{nullptr};
  SchedulerConfig scheduler;
  std::optional<NoiseSchedule> train_schedule;  // of `scheduler`, for predict_noise's conversions
  io::Json scheduler_json;  // as in the folder, for switching samplers as from_config does
  torch::Device device = torch::kCPU;
  int64_t vae_scale = 8;
};

namespace detail {

/// The sampling config options.sampler asks for (the folder's when empty), checked to be usable.
SchedulerConfig sd_sampling_config(const SdPipeline::Parts& p, const SdPipelineOptions& options);

/// Latent [C, h, w] of the image size options ask for (the model's by default), checked to divide.
std::vector<int64_t> sd_latent_shape(const SdPipeline::Parts& p, const SdPipelineOptions& options);

/// The U-Net's text context for prompts[start, end): [uncond; cond] with guidance (negatives empty
/// = ""), else cond alone.
torch::Tensor sd_context(const SdPipeline& pipe, const std::vector<std::string>& prompts,
                         const std::vector<std::string>& negative, int64_t start, int64_t end,
                         int64_t clip_skip, bool guidance);

/// One CPU generator per seed of seeds[start, end), each having drawn its image's initial latent:
/// returns the generators and the latents [end-start, C, h, w] × init_noise_sigma on `device`.
std::pair<std::vector<at::Generator>, torch::Tensor> sd_initial_latents(
    const std::vector<uint64_t>& seeds, int64_t start, int64_t end, const std::vector<int64_t>& latent,
    double init_noise_sigma, const torch::Device& device);

/// The ancestral schedulers' per-step noise: one draw per image from its own generator.
inline std::function<torch::Tensor(at::IntArrayRef)> sd_step_noise(std::vector<at::Generator>& gens) {
  return [&gens](at::IntArrayRef shape) {
    std::vector<torch::Tensor> parts;
    for (auto& g : gens) parts.push_back(torch::randn({1, shape[1], shape[2], shape[3]}, g));
    return torch::cat(parts);
  };
}

}  // namespace detail
}  // namespace diffmem::diffusion
