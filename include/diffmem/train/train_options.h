#pragma once
// The options of `diffmem train` (train_options.json beside every model), torch-free.
#include <cstdint>
#include <string>

#include "diffmem/io/fields.h"
#include "diffmem/model/unet2d_config.h"

namespace diffmem::train {

/// Text-to-image training (train/text_to_image.h): a UNet2DConditionModel against a frozen text
/// encoder, on a captioned data set.
struct TextTrainOptions {
  std::string init;              // a pipeline folder to fine-tune ("" = from the preset, from scratch)
  std::string vae;               // from scratch: an AutoencoderKL folder (e.g. a pipeline's vae/) for
                                 // latent space; "" = pixel space
  double caption_dropout = 0.1;  // the chance a caption is replaced by "" (classifier-free guidance)
  int64_t tokenizer_merges = 4096;  // from scratch: BPE merges learned from the data set's captions
};
DIFFMEM_FIELDS(TextTrainOptions, init, vae, caption_dropout, tokenizer_merges)

struct TrainOptions {
  std::string preset = "small";   // model::UNet2DConfig::preset name
  std::string unet_config;        // path of a config.json that overrides the preset ("" = none)
  int64_t steps = 3000;
  int64_t batch = 64;
  double lr = 1e-3;               // small presets; the DDPM CIFAR-10 paper used 2e-4
  int64_t warmup_steps = 200;
  double grad_clip = 1.0;
  double ema_decay = 0.999;
  bool flip = true;               // random horizontal flips
  int64_t checkpoint_every = 500; // steps; the end is always checkpointed
  uint64_t seed = 0;
  std::string device = "cpu";     // cpu | cuda | auto
  // fp32 | bf16 | fp16: the forward pass under autocast (core/precision.h); weights, Adam and EMA
  // stay f32; fp16 (CUDA only) with dynamic loss scaling (train/loss_scaler.h). Pixel models.
  std::string precision = "fp32";
  // Schedule (written to scheduler_config.json).
  std::string beta_schedule = "linear";
  int64_t num_train_timesteps = 1000;
  // What the model is conditioned on: none (a UNet2DModel, DDPM) | text (a text-to-image pipeline
  // folder; `preset` then names a text_to_image_preset_names() entry).
  std::string conditioning = "none";
  TextTrainOptions text;
};
/// train_options.json; `io::read_options<TrainOptions>(j, where)` reads one strictly.
DIFFMEM_FIELDS(TrainOptions, preset, unet_config, steps, batch, lr, warmup_steps, grad_clip,
               ema_decay, flip, checkpoint_every, seed, device, precision, beta_schedule,
               num_train_timesteps, conditioning, text)

/// Every value in its range (core/ranges.h), each error naming the key and its flag: steps and
/// batch >= 1; lr > 0; warmup and grad_clip (0 = off) >= 0; ema in [0, 1); checkpoint_every >= 0
/// (0: the end only); num_train_timesteps in [1, 100000]; caption_dropout in [0, 1];
/// tokenizer_merges >= 0; precision fp32, bf16 or fp16. read_options runs it on every config and flag set; training runs it
/// again for callers of the library.
void validate(const TrainOptions& options, const std::string& where);


struct ManyOptions {
  int64_t models = 1;
  std::string split = "half";  // half: each model on its own seeded random half | all
  int64_t jobs = 1;            // models trained at once, each on threads / jobs cores
  int64_t rank = 0;            // of an MPI job's ranks: this process trains the models k with
  int64_t ranks = 1;           //   k % ranks == rank (jobs of them at once)
};


/// The network training builds for H×W×C images: the preset's (or unet_config's) architecture
/// with the images' size and channels. Throws diffmem::Error for non-square images or a size the
/// architecture cannot take (groups, heads, down-sampling).
model::UNet2DConfig model_config(int64_t height, int64_t width, int64_t channels,
                                 const TrainOptions& options);

}  // namespace diffmem::train
