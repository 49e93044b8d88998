#pragma once
// Text-to-image training: a UNet2DConditionModel learns to denoise a captioned data set's images
// (pixel space, or a frozen VAE's latents computed once) given its frozen text encoder's
// embedding of each caption; a caption is replaced by "" with chance caption_dropout, so the model
// also learns the unconditional prediction classifier-free guidance needs. Noise-prediction MSE
// (or v for a v-prediction folder) at uniform t, Adam with warmup, clipping, EMA, flips, and the
// checkpoint/resume rules of trainer.h (train_model dispatches here for conditioning "text").
//
// From scratch (TextTrainOptions::init empty) the preset gives both networks; the tokenizer is a
// BPE vocabulary learned from every caption of the data set (so all shadow models of one data set
// share it) and the text encoder is randomly initialised from the seed and never trained — a tiny
// stand-in for CLIP that says so in its folder's train_options.json. Fine-tuning (init = a
// pipeline folder) trains that folder's U-Net and keeps its tokenizer, text encoder, VAE and
// scheduler.
//
// The model folder is a diffusers pipeline folder (model/pipeline_folder.h; StableDiffusionPipeline
// .from_pretrained opens it, diffmem's SdPipeline too), plus members.npy, train_options.json and
// training_state.safetensors. The U-Net carries the EMA weights. Its scheduler from scratch is DDIM
// over the training betas, steps_offset 1 and clip_sample off, as diffusers' SD pipeline wants.
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"
#include "diffmem/train/train_options.h"
#include "diffmem/train/trainer.h"

namespace diffmem::train {

/// The presets of text-to-image training, smallest first.
std::vector<std::string> text_to_image_preset_names();

/// Trains the pipeline on rows `rows` of the captioned `ds` (all when empty) into `out`.
TrainResult train_text_to_image(const data::Dataset& ds, const std::vector<int64_t>& rows,
                                const std::vector<bool>& members, const std::filesystem::path& out,
                                const TrainOptions& options, const ProgressFn& progress = nullptr);

}  // namespace diffmem::train
