#include "diffmem/train/text_to_image.h"

#include <torch/torch.h>

#include <cmath>
#include <mutex>

#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/precision.h"
#include "diffmem/core/rng.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/autoencoder_kl.h"
#include "diffmem/model/clip_text.h"
#include "diffmem/model/clip_tokenizer.h"
#include "diffmem/model/pipeline_folder.h"
#include "diffmem/model/unet2d_condition.h"
#include "diffmem/train/loss_scaler.h"
#include "diffmem/train/optimizer.h"
#include "train_state.h"

namespace diffmem::train {
namespace fs = std::filesystem;

namespace {

struct Preset {
  std::vector<int64_t> channels;
  int64_t heads, text_hidden, text_layers, text_heads;
};

// Small enough to memorize a few dozen captioned 28×28 images on 2 CPU cores in minutes.
Preset preset(const std::string& name) {
  if (name == "tiny") return {{32, 64, 64}, 2, 32, 2, 2};
  if (name == "small") return {{64, 128, 128}, 4, 64, 2, 4};
  std::string names;
  for (const auto& n : text_to_image_preset_names()) names += (names.empty() ? "" : ", ") + n;
  fail("text-to-image preset", "one of " + names, "'" + name + "'");
}

// Everything the run trains with: the networks, the frozen parts, the schedule.
struct Parts {
  explicit Parts(model::ClipTokenizer t) : tokenizer(std::move(t)) {}
  model::ClipTokenizer tokenizer;
  model::ClipTextModel text{nullptr};
  model::UNet2DConditionModel unet{nullptr};
  model::AutoencoderKL vae{nullptr};
  fs::path vae_dir;                      // copied into the pipeline folder when set
  diffusion::SchedulerConfig scheduler;  // written as scheduler/scheduler_config.json, unless
  fs::path init;                         // the fine-tuned folder, whose frozen parts are copied as they are
};

// Copies the regular files of `from` into `to` (a component folder) unless `to` has them already.
void copy_component(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from))
    if (e.is_regular_file() && !fs::exists(to / e.path().filename()))
      fs::copy_file(e.path(), to / e.path().filename());
}

Parts from_scratch(const data::Dataset& ds, const TrainOptions& o, const torch::Device& device) {
  const Preset p = preset(o.preset);
  // Captions of a data set are short: 32 positions (not CLIP's 77) make cross-attention cheaper.
  Parts parts{model::ClipTokenizer::train(*ds.captions, o.text.tokenizer_merges, 32)};
  int64_t channels = ds.channels(), size = ds.height(), scale = 1;
  if (!o.text.vae.empty()) {
    parts.vae = model::load_autoencoder_kl(o.text.vae, device);
    parts.vae_dir = o.text.vae;
    channels = parts.vae->config().latent_channels;
    scale = int64_t{1} << (parts.vae->config().block_out_channels.size() - 1);
    check(ds.channels() == parts.vae->config().in_channels && ds.height() % scale == 0, o.text.vae,
          "a VAE for " + std::to_string(ds.channels()) + "-channel images whose size divides by its scale",
          std::to_string(parts.vae->config().in_channels) + " channels, scale " + std::to_string(scale));
  }
  model::ClipTextConfig tc;
  tc.vocab_size = parts.tokenizer.vocab_size();
  tc.hidden_size = p.text_hidden;
  tc.intermediate_size = 2 * p.text_hidden;
  tc.num_hidden_layers = p.text_layers;
  tc.num_attention_heads = p.text_heads;
  tc.max_position_embeddings = parts.tokenizer.model_max_length();
  tc.bos_token_id = parts.tokenizer.bos_id();
  tc.eos_token_id = parts.tokenizer.eos_id();
  tc.pad_token_id = parts.tokenizer.pad_id();
  model::UNet2DConditionConfig uc;
  uc.sample_size = size / scale;
  uc.in_channels = uc.out_channels = channels;
  uc.block_out_channels = p.channels;
  // Three levels, attention at the quarter-size one only (7×7 for 28×28 images): self-attention
  // over 784 full-size tokens would cost most of a step.
  uc.down_block_types = {"DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"};
  uc.up_block_types = {"CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"};
  uc.layers_per_block = 1;
  uc.norm_num_groups = 8;
  uc.cross_attention_dim = p.text_hidden;
  uc.attention_head_dim = model::PerBlock{{p.heads}, true};
  check(uc.sample_size % 4 == 0, "--data", "images whose (latent) size divides by 4, for the preset's three levels",
        std::to_string(uc.sample_size));
  model::validate(tc, "text-to-image preset " + o.preset);
  model::validate(uc, "text-to-image preset " + o.preset);
  {
    // Initial weights come from torch's global generator: one model at a time (see trainer.cpp).
    static std::mutex init_mutex;
    std::lock_guard<std::mutex> lock(init_mutex);
    torch::manual_seed(core::derive_seed(o.seed, 0xC0FFEE));
    parts.unet = model::UNet2DConditionModel(uc);
    torch::manual_seed(core::derive_seed(o.seed, 0x7E47));
    parts.text = model::ClipTextModel(tc);
  }
  parts.text->to(device);
  parts.unet->to(device);
  parts.scheduler.class_name = "DDIMScheduler";
  parts.scheduler.beta_schedule = o.beta_schedule;
  parts.scheduler.num_train_timesteps = o.num_train_timesteps;
  // diffusers' StableDiffusionPipeline turns clip_sample off on loading (a deprecation it enforces), so
  // the folder says false: every tool then samples it alike.
  parts.scheduler.clip_sample = false;
  parts.scheduler.set_alpha_to_one = false;
  parts.scheduler.steps_offset = 1;
  diffusion::validate(parts.scheduler, "training schedule");
  return parts;
}

Parts from_folder(const data::Dataset& ds, const TrainOptions& o, const torch::Device& device) {
  const fs::path dir = o.text.init;
  check(fs::is_regular_file(dir / "model_index.json"), "--init " + o.text.init,
        "a text-to-image pipeline folder (model_index.json)", "none there");
  const io::Json index = io::read_json(dir / "model_index.json");
  Parts parts{model::ClipTokenizer::from_folder(dir / "tokenizer")};
  parts.text = model::load_clip_text_model(dir / "text_encoder", device);
  parts.unet = model::load_unet2d_condition(dir / "unet", device);
  const bool pixel = index.contains("vae") && index["vae"].is_array() && !index["vae"].empty() && index["vae"][0].is_null();
  int64_t channels = ds.channels(), scale = 1;
  if (!pixel) {
    parts.vae = model::load_autoencoder_kl(dir / "vae", device);
    parts.vae_dir = dir / "vae";
    channels = parts.vae->config().latent_channels;
    scale = int64_t{1} << (parts.vae->config().block_out_channels.size() - 1);
  }
  const auto& uc = parts.unet->config();
  check(uc.in_channels == channels && uc.sample_size * scale == ds.height() && ds.height() == ds.width(),
        "--init " + o.text.init,
        "a U-Net for the data's " + std::to_string(ds.height()) + "x" + std::to_string(ds.width()) + "x" +
            std::to_string(ds.channels()) + " images",
        std::to_string(uc.in_channels) + " input channels at " + std::to_string(uc.sample_size * scale) + " pixels");
  parts.init = dir;
  parts.scheduler = diffusion::read_scheduler_config(dir / "scheduler" / "scheduler_config.json");
  return parts;
}

// The pipeline folder: every component, the U-Net with the EMA weights, model_index.json last. A
// fine-tuned folder's frozen parts are its files, copied byte for byte.
void save_pipeline(const fs::path& out, Parts& parts, const Ema& ema) {
  model::save_unet2d_condition(parts.unet->config(), detail::as_map(ema.weights()), out / "unet");
  if (!parts.init.empty()) {
    for (const char* c : {"tokenizer", "text_encoder", "scheduler"}) copy_component(parts.init / c, out / c);
  } else {
    parts.tokenizer.write_folder(out / "tokenizer");
    model::save_clip_text_model(parts.text->config(), detail::as_map(detail::named_params(*parts.text)),
                                out / "text_encoder");
    fs::create_directories(out / "scheduler");
    diffusion::write_scheduler_config(out / "scheduler" / "scheduler_config.json", parts.scheduler);
  }
  if (!parts.vae_dir.empty()) copy_component(parts.vae_dir, out / "vae");
  model::write_sd_model_index(out, parts.scheduler.class_name, !parts.vae_dir.empty());
}

// [N,C,H,W] f32: the images in [-1,1], or their latents (posterior mean × scaling factor).
torch::Tensor training_inputs(const torch::Tensor& pixels, Parts& parts) {
  if (parts.vae.is_empty()) return pixels;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < pixels.size(0); s += 32)
    out.push_back(parts.vae->encode(pixels.slice(0, s, s + 32)).mean * parts.vae->config().scaling_factor);
  return torch::cat(out);
}

}  // namespace

std::vector<std::string> text_to_image_preset_names() { return {"tiny", "small"}; }

TrainResult train_text_to_image(const data::Dataset& ds, const std::vector<int64_t>& rows_in,
                                const std::vector<bool>& members, const fs::path& out, const TrainOptions& o,
                                const ProgressFn& progress) {
  validate(o, "train options");
  check(ds.size() > 0, "--data", "a non-empty data set", "0 images");
  check(ds.captions.has_value(), "--data",
        "a captioned data set (captions.jsonl; diffmem data import --captions) for text-to-image training",
        "no captions.jsonl");
  check(o.text.init.empty() || o.text.vae.empty(), "--vae", "no --vae with --init (the pipeline brings its own)",
        o.text.vae);
  check(o.unet_config.empty(), "--unet-config", "none for text-to-image training (use --preset or --init)",
        o.unet_config);
  if (o.text.init.empty()) preset(o.preset);  // an unknown preset fails before any work
  const std::vector<int64_t> rows = detail::rows_or_all(rows_in, ds.size());

  TrainResult result;
  result.model_dir = out;
  const std::string device_name = core::resolve_device(o.device);
  core::check_precision(o.precision, device_name, "--precision");
  const torch::Device device(device_name);
  Parts parts = o.text.init.empty() ? from_scratch(ds, o, device) : from_folder(ds, o, device);
  parts.text->eval();
  for (auto& p : parts.text->parameters()) p.set_requires_grad(false);
  if (!parts.vae.is_empty()) {
    parts.vae->eval();
    for (auto& p : parts.vae->parameters()) p.set_requires_grad(false);
  }
  const diffusion::NoiseSchedule schedule(parts.scheduler);
  const bool v_target = parts.scheduler.prediction_type == "v_prediction";
  check(v_target || parts.scheduler.prediction_type == "epsilon", "scheduler prediction_type",
        "epsilon or v_prediction for training", parts.scheduler.prediction_type);
  // The folder is written only once the parts are loaded and checked against the data.
  fs::create_directories(out);
  detail::record_run(out, "train_options.json", o, members);
  result.parameters = 0;
  for (const auto& p : parts.unet->parameters()) result.parameters += p.numel();

  NamedTensors params = detail::named_params(*parts.unet);
  Adam adam(params, detail::adam_options(o));
  Ema ema(params, o.ema_decay);
  std::vector<double> recent_losses;
  std::map<std::string, std::string> state_metadata;
  LossScaler scaler(o.precision == "fp16");
  const int64_t start = detail::resume(out, params, ema, adam, device, &recent_losses, &state_metadata);
  scaler.restore(state_metadata, (out / detail::kStateFile).string());
  result.start_step = start;
  if (start >= o.steps) {
    result.steps_done = start;
    result.already_done = true;
    result.final_loss = detail::mean_loss(recent_losses);  // what the finished run reported
    return result;
  }

  // The frozen parts run once: every caption's embedding (and ""'s), every image's latent (and its
  // mirror's, so flips stay exact in latent space).
  torch::Tensor context, uncond, inputs, mirrored;
  {
    torch::NoGradGuard no_grad;
    const int64_t L = parts.tokenizer.model_max_length();
    std::vector<torch::Tensor> chunks;
    for (int64_t s = 0; s < ds.size(); s += 256) {
      const std::vector<std::string> texts(ds.captions->begin() + s,
                                           ds.captions->begin() + std::min<int64_t>(ds.size(), s + 256));
      const torch::Tensor ids = torch::tensor(parts.tokenizer.encode_padded_batch(texts), torch::kLong)
                                    .view({static_cast<int64_t>(texts.size()), L})
                                    .to(device);
      chunks.push_back(parts.text->forward(ids).hidden);
    }
    context = torch::cat(chunks);
    const torch::Tensor empty = torch::tensor(parts.tokenizer.encode_padded(""), torch::kLong).view({1, L}).to(device);
    uncond = parts.text->forward(empty).hidden;
    const torch::Tensor pixels = diffusion::from_uint8_nhwc(io::to_tensor(ds.images)).to(device);
    inputs = training_inputs(pixels, parts);
    if (o.flip) mirrored = parts.vae.is_empty() ? inputs.flip({3}) : training_inputs(pixels.flip({3}), parts);
  }

  detail::BatchPlan plan(rows, o.batch, core::derive_seed(o.seed, 0xBA7C4));
  parts.unet->train();
  const int64_t T = parts.scheduler.num_train_timesteps;
  detail::StepLog log(progress, o, start, out);
  log.restore(recent_losses);
  for (int64_t step = start; step < o.steps; ++step) {
    const uint64_t ss = core::derive_seed(o.seed, static_cast<uint64_t>(step));
    const torch::Tensor idx = torch::tensor(plan.rows_for(step), torch::kLong).to(device);
    torch::Tensor x0 = inputs.index_select(0, idx);
    if (o.flip) x0 = torch::where(detail::flip_mask(o.batch, ss, device), mirrored.index_select(0, idx), x0);
    at::Generator gen = diffusion::make_cpu_generator(core::derive_seed(ss, 2));
    const torch::Tensor t = torch::randint(0, T, {o.batch}, gen, torch::kLong).to(device);
    const torch::Tensor eps = torch::randn(x0.sizes(), gen, torch::kFloat).to(device);
    core::Rng drop_rng(core::derive_seed(ss, 4));
    std::vector<int64_t> drop(static_cast<size_t>(o.batch));
    for (auto& d : drop) d = drop_rng.uniform() < o.text.caption_dropout ? 1 : 0;
    const torch::Tensor dropped = torch::tensor(drop).to(torch::kBool).view({o.batch, 1, 1}).to(device);
    const torch::Tensor ctx = torch::where(dropped, uncond.expand({o.batch, -1, -1}), context.index_select(0, idx));

    const torch::Tensor xt = diffusion::add_noise(schedule, x0, eps, t);
    torch::Tensor target = eps;
    if (v_target) {
      const torch::Tensor ab = schedule.alphas_cumprod().to(device).index_select(0, t).view({-1, 1, 1, 1});
      target = ab.sqrt() * eps - (1 - ab).sqrt() * x0;
    }
    adam.zero_grad();
    torch::Tensor prediction;
    {
      const core::AutocastGuard autocast(o.precision, device_name);  // the forward pass only
      prediction = parts.unet->forward(xt, t, ctx);
    }
    const torch::Tensor loss = torch::mse_loss(prediction.to(torch::kFloat32), target);
    const bool checkpoint = log.record(step, loss.item<double>());
    scaler.scaled(loss).backward();
    if (scaler.unscale_and_update(params)) {  // fp16: an overflowed step is skipped
      adam.step(step);
      ema.update(params, step);
    }
    if (checkpoint) {
      torch::NoGradGuard no_grad;
      save_pipeline(out, parts, ema);
      detail::save_training_state(out / detail::kStateFile, step + 1, params, ema, adam, log.recent_losses(),
                                  scaler.metadata());
      log.checkpointed(step + 1);
    }
  }
  log.finish(result);
  return result;
}

}  // namespace diffmem::train
