#include "diffmem/diffusion/sd_pipeline.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/model/single_file.h"
#include "sd_pipeline_internal.h"

namespace diffmem::diffusion {
namespace fs = std::filesystem;

void validate(const SdPipelineOptions& o, const std::string& where) {
  check(o.steps >= 1, where + ": steps", "at least 1", std::to_string(o.steps));
  check(std::isfinite(o.guidance_scale) && o.guidance_scale >= 0, where + ": guidance_scale",
        "a finite number >= 0", std::to_string(o.guidance_scale));
  check(o.height >= 0 && o.width >= 0, where + ": height/width", "0 (the model's) or a size",
        std::to_string(o.height) + "x" + std::to_string(o.width));
  check(o.clip_skip >= 0, where + ": clip_skip", "0 or more", std::to_string(o.clip_skip));
  if (!o.sampler.empty()) sd_sampler_class(o.sampler, where);
  check(o.batch >= 1, where + ": batch", "at least 1", std::to_string(o.batch));
}

void validate(const SdPipelineOptions& o, const SdProbeOptions& po, const std::string& where) {
  validate(o, where);
  check(o.guidance_scale > 1.0, where + ": guidance_scale", "> 1 (the screen measures the guidance direction)",
        std::to_string(o.guidance_scale));
  check(po.first_steps >= 1 && po.first_steps <= o.steps, where + ": first_steps",
        "between 1 and the sampler's steps (" + std::to_string(o.steps) + ")", std::to_string(po.first_steps));
  check(po.low_from_end >= 0 && po.low_from_end <= o.steps, where + ": low_from_end",
        "0 (no low-noise pass) or up to the sampler's steps (" + std::to_string(o.steps) + ")",
        std::to_string(po.low_from_end));
}

SdPipeline::SdPipeline(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
SdPipeline::~SdPipeline() = default;
SdPipeline::SdPipeline(SdPipeline&&) noexcept = default;
SdPipeline& SdPipeline::operator=(SdPipeline&&) noexcept = default;

SdPipeline SdPipeline::load(const fs::path& dir, const torch::Device& device, const fs::path& single_file) {
  const fs::path index = dir / "model_index.json";
  if (!fs::is_regular_file(index))
    fail(dir.string(), "a diffusers pipeline folder with model_index.json", "no model_index.json");
  const io::Json j = io::read_json(index);
  const std::string cls = j.value("_class_name", "");
  if (cls != "StableDiffusionPipeline")
    fail(index.string() + ": _class_name", "StableDiffusionPipeline", "'" + cls + "'");
  // "vae": [null, null]: a pixel-space model, whose "latents" are the images in [-1, 1] (diffusers
  // loads it with vae=None and samples it with output_type="latent").
  const bool pixel = j.contains("vae") && j["vae"].is_array() && !j["vae"].empty() && j["vae"][0].is_null();
  for (const char* part : {"tokenizer", "text_encoder", "unet", "vae", "scheduler"})
    if (!(pixel && std::string(part) == "vae") && !fs::is_directory(dir / part))
      fail(dir.string(), std::string("a ") + part + "/ folder", "none");
  if (pixel && !single_file.empty())
    fail(single_file.string(), "a pipeline folder with a VAE for a single-file checkpoint", "model_index.json's vae is null");
  auto p = std::make_unique<Parts>(dir, model::ClipTokenizer::from_folder(dir / "tokenizer"));
  p->device = device;
  if (single_file.empty()) {
    p->text_encoder = model::load_clip_text_model(dir / "text_encoder", device);
    p->unet = model::load_unet2d_condition(dir / "unet", device);
    if (!pixel) p->vae = model::load_autoencoder_kl(dir / "vae", device);
  } else {
    const model::SingleFileParts w = model::read_single_file(single_file);
    const std::string where = single_file.string();
    p->text_encoder = model::ClipTextModel(model::read_clip_text_config(dir / "text_encoder" / "config.json"));
    model::load_clip_text_weights(*p->text_encoder, w.text_encoder, where + " (text encoder)");
    p->unet = model::UNet2DConditionModel(model::read_unet2d_condition_config(dir / "unet" / "config.json"));
    model::load_unet2d_condition_weights(*p->unet, w.unet, where + " (U-Net)");
    p->vae = model::AutoencoderKL(model::read_autoencoder_kl_config(dir / "vae" / "config.json"));
    model::load_autoencoder_kl_weights(*p->vae, w.vae, where + " (VAE)");
    for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(p->text_encoder.get()),
                                 static_cast<torch::nn::Module*>(p->unet.get()),
                                 static_cast<torch::nn::Module*>(p->vae.get())}) {
      m->eval();
      m->to(device);
    }
  }
  const fs::path scheduler_file = dir / "scheduler" / "scheduler_config.json";
  p->scheduler_json = io::read_json(scheduler_file);
  p->scheduler = scheduler_config_from_json(p->scheduler_json, scheduler_file.string());
  p->train_schedule.emplace(p->scheduler);
  p->vae_scale = pixel ? 1 : int64_t{1} << (p->vae->config().block_out_channels.size() - 1);
  const int64_t hidden = p->text_encoder->config().hidden_size;
  if (hidden != p->unet->config().cross_attention_dim)
    fail(dir.string(), "a text encoder as wide as the U-Net's cross_attention_dim " +
                           std::to_string(p->unet->config().cross_attention_dim),
         "hidden_size " + std::to_string(hidden));
  if (!pixel && p->vae->config().latent_channels != p->unet->config().in_channels)
    fail(dir.string(), "VAE latent_channels equal to the U-Net's in_channels",
         std::to_string(p->vae->config().latent_channels) + " and " +
             std::to_string(p->unet->config().in_channels));
  make_sd_scheduler(p->scheduler, 1);  // refuses a scheduler it cannot run, now rather than later
  return SdPipeline(std::move(p));
}

torch::Tensor SdPipeline::encode(const std::vector<std::string>& prompts, int64_t clip_skip) const {
  const int64_t n = static_cast<int64_t>(prompts.size());
  const int64_t L = parts_->tokenizer.model_max_length();
  std::vector<int64_t> ids = parts_->tokenizer.encode_padded_batch(prompts);
  torch::Tensor t = torch::tensor(ids, torch::kLong).view({n, L}).to(parts_->device);
  torch::NoGradGuard no_grad;
  return parts_->text_encoder->forward(t, clip_skip).hidden;
}

namespace detail {

SchedulerConfig sd_sampling_config(const SdPipeline::Parts& p, const SdPipelineOptions& o) {
  const SchedulerConfig sampling =
      o.sampler.empty() ? p.scheduler
                        : sd_sampler_config(p.scheduler_json, o.sampler,
                                            (p.dir / "scheduler" / "scheduler_config.json").string());
  make_sd_scheduler(sampling, o.steps);  // an unusable sampler or step count fails before any work
  return sampling;
}

std::vector<int64_t> sd_latent_shape(const SdPipeline::Parts& p, const SdPipelineOptions& o) {
  const int64_t height = o.height ? o.height : p.unet->config().sample_size * p.vae_scale;
  const int64_t width = o.width ? o.width : p.unet->config().sample_size * p.vae_scale;
  const int64_t f = p.vae_scale << (p.unet->config().block_out_channels.size() - 1);
  check(height % f == 0 && width % f == 0, "height/width", "multiples of " + std::to_string(f),
        std::to_string(height) + "x" + std::to_string(width));
  return {p.unet->config().in_channels, height / p.vae_scale, width / p.vae_scale};
}

torch::Tensor sd_context(const SdPipeline& pipe, const std::vector<std::string>& prompts,
                         const std::vector<std::string>& negative, int64_t start, int64_t end,
                         int64_t clip_skip, bool guidance) {
  const int64_t b = end - start;
  torch::Tensor context =
      pipe.encode(std::vector<std::string>(prompts.begin() + start, prompts.begin() + end), clip_skip);
  if (!guidance) return context;
  const std::vector<std::string> neg =
      negative.empty() ? std::vector<std::string>(b, "")
                       : std::vector<std::string>(negative.begin() + start, negative.begin() + end);
  // One negative for the whole batch (the unconditional "" above all): encoded once.
  const bool same = std::all_of(neg.begin(), neg.end(), [&](const std::string& x) { return x == neg[0]; });
  const torch::Tensor uncond = same ? pipe.encode({neg[0]}, clip_skip).expand({b, -1, -1}) : pipe.encode(neg, clip_skip);
  return torch::cat({uncond, context});
}

std::pair<std::vector<at::Generator>, torch::Tensor> sd_initial_latents(
    const std::vector<uint64_t>& seeds, int64_t start, int64_t end, const std::vector<int64_t>& latent,
    double init_noise_sigma, const torch::Device& device) {
  std::vector<at::Generator> gens;
  std::vector<torch::Tensor> init;
  for (int64_t i = start; i < end; ++i) {
    gens.push_back(make_cpu_generator(seeds[i]));
    init.push_back(torch::randn({1, latent[0], latent[1], latent[2]}, gens.back()));
  }
  return {gens, (torch::cat(init) * init_noise_sigma).to(device)};
}

}  // namespace detail

int64_t SdPipeline::unet_images_per_image(const SdPipelineOptions& o) const {
  validate(o, "text-to-image options");
  const auto scheduler = make_sd_scheduler(detail::sd_sampling_config(*parts_, o), o.steps);
  return static_cast<int64_t>(scheduler->timesteps().size()) * (o.guidance_scale > 1.0 ? 2 : 1);
}

torch::Tensor SdPipeline::generate(const std::vector<std::string>& prompts,
                                   const std::vector<uint64_t>& seeds, const SdPipelineOptions& o,
                                   const std::vector<std::string>& negative,
                                   const ProgressFn& progress) const {
  validate(o, "text-to-image options");
  Parts& p = *parts_;
  const SchedulerConfig sampling = detail::sd_sampling_config(p, o);
  check(seeds.size() == prompts.size(), "seeds", "one per prompt (" + std::to_string(prompts.size()) + ")",
        std::to_string(seeds.size()));
  check(negative.empty() || negative.size() == prompts.size(), "negative prompts",
        "none or one per prompt", std::to_string(negative.size()));
  const std::vector<int64_t> latent = detail::sd_latent_shape(p, o);
  const bool cfg = o.guidance_scale > 1.0;
  const int64_t n = static_cast<int64_t>(prompts.size());
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> images;
  ProgressMeter meter(progress, "sample", n * o.steps, "steps");
  for (int64_t start = 0; start < n; start += o.batch) {
    const int64_t end = std::min(n, start + o.batch), b = end - start;
    const torch::Tensor context = detail::sd_context(*this, prompts, negative, start, end, o.clip_skip, cfg);
    auto scheduler = make_sd_scheduler(sampling, o.steps);
    auto [gens, latents] =
        detail::sd_initial_latents(seeds, start, end, latent, scheduler->init_noise_sigma(), p.device);
    const auto noise = detail::sd_step_noise(gens);
    const auto& ts = scheduler->timesteps();
    for (size_t i = 0; i < ts.size(); ++i) {
      torch::Tensor in = cfg ? torch::cat({latents, latents}) : latents;
      in = scheduler->scale_model_input(in, i);
      const torch::Tensor t = torch::full({1}, ts[i], torch::TensorOptions().dtype(torch::kFloat32));
      torch::Tensor eps = p.unet->forward(in, t, context);
      if (cfg) {
        const auto halves = eps.chunk(2);
        eps = halves[0] + o.guidance_scale * (halves[1] - halves[0]);
      }
      latents = scheduler->step(eps, i, latents, noise);
      meter.update(start * o.steps + static_cast<int64_t>(std::min(i + 1, size_t(o.steps))) * b);
    }
    torch::Tensor x = p.vae.is_empty() ? latents : p.vae->decode(latents / p.vae->config().scaling_factor);
    x = (x / 2 + 0.5).clamp(0, 1).permute({0, 2, 3, 1}).to(torch::kCPU).to(torch::kFloat32);
    images.push_back((x * 255).round().to(torch::kUInt8));
  }
  meter.finish();
  return torch::cat(images);
}

}  // namespace diffmem::diffusion
