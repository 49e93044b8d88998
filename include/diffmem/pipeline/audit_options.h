#pragma once
// The options of `diffmem audit` (audit.json): one struct per stage's share of them.
//
// Seeds: `seed` is the run's seed. A stage seed (train.seed, mia.loss.seed, inpaint.attack.seed)
// that the options do not set derives from it (stage_seed), so `{"seed": 7}` in a file and
// `--seed 7` on the command line give the same run; a stage seed set in the file still overrides.
// Device: `device` is resolved once for the whole run (core::resolve_device); the stage options
// carry no device of their own here.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/attack/blackbox_options.h"
#include "diffmem/attack/extract_options.h"
#include "diffmem/attack/inpaint_options.h"
#include "diffmem/attack/mia_options.h"
#include "diffmem/diffusion/sample_options.h"
#include "diffmem/io/fields.h"
#include "diffmem/quality/quality_options.h"
#include "diffmem/train/gan_trainer.h"
#include "diffmem/train/train_options.h"

namespace diffmem::pipeline {

/// The built-in data set when no --data is given: `n` distinct Fashion-MNIST training images
/// (members) with planted duplicates among them, and `holdout` other distinct images that the
/// model never sees (the non-members of membership inference and inpainting).
struct AuditDataOptions {
  std::string source = "fashion-mnist";   // data::ImportOptions::source
  std::string src;                        // empty = data::default_source_dir(source)
  int64_t n = 64;                         // distinct member images
  int64_t holdout = 64;                   // distinct non-member images
  std::vector<int64_t> classes;           // labels to draw from; empty = all
  std::vector<int64_t> duplicate_counts = {1, 2, 4, 8, 16};
  int64_t duplicate_picks = 1;            // member images planted per count
  // auto = generated captions (data/captions.h) for a text-to-image audit, none otherwise;
  // generated; none.
  std::string captions = "auto";
  std::string caption_copies = "same";    // planted copies' captions: same | varied (data::SubsetOptions)
};
DIFFMEM_FIELDS(AuditDataOptions, source, src, n, holdout, classes, duplicate_counts, duplicate_picks, captions,
               caption_copies)

struct AuditSampleOptions {
  int64_t n = 256;              // generations
  int64_t shard_size = 1024;
  diffusion::SampleOptions sample;  // default ddim, 50 steps (set in AuditOptions' constructor)
};
DIFFMEM_VISIT_FIELDS(AuditSampleOptions) {  // one object: the sampling options beside n, shard_size
  visit_fields(o.sample, v);
  v("n", o.n);
  v("shard_size", o.shard_size);
}

struct AuditMiaOptions {
  attack::LossScoreOptions loss;  // the loss attack (and LiRA's statistic)
  std::string lira_statistic = "logit";
  bool lira_global_variance = false;
  metrics::BootstrapOptions bootstrap;  // intervals of every ROC number
  double calibrate_on = 0;              // > 0: the calibrated-threshold protocol (mia_run.h)
};
DIFFMEM_FIELDS(AuditMiaOptions, loss, lira_statistic, lira_global_variance, bootstrap, calibrate_on)

struct AuditInpaintOptions {
  attack::InpaintAttackOptions attack;  // defaults sized for a CPU (set in AuditOptions' constructor)
  int64_t show = 4;             // strips per group
  int64_t strip_scale = 2;
  metrics::BootstrapOptions bootstrap;
};
DIFFMEM_FIELDS(AuditInpaintOptions, attack, show, strip_scale, bootstrap)

/// A text-to-image audit's attacks (a pipeline folder as --model, or train.conditioning "text"):
/// the first-step screen over every prompt, generate-and-filter (every prompt, or behind the screen
/// when screen_top / screen_threshold is set) and membership inference (loss, CLiD, SecMI, PIA; LiRA
/// with shadows). The pixel
/// stages' options (sample, extract, blackbox, inpaint) do not apply to it, and these not to them.
struct AuditTextOptions {
  // The prompts' ground-truth 0/1 column: "" = "planted" for the prompts the audit writes from a
  // captioned data set, "memorized" for a --prompts file.
  std::string label;
  int64_t per_prompt = 32;                // generations per prompt (the paper: 500)
  std::string negative_prompt;
  diffusion::SdPipelineOptions pipeline;  // 20 steps, guidance 3, batch 64 (set in AuditOptions())
  int64_t screen_per_prompt = 4;          // the screen's seeds per prompt
  diffusion::SdProbeOptions probe;
  int64_t screen_top = 0;                 // generate only for the top K of the screen; 0 = every prompt
  std::optional<double> screen_threshold;
  std::string screen_detector = "wen";    // wen | anisotropy: what screen_top / threshold rank by
  attack::BlackboxRunOptions filter;      // the clique filter (min_clique 8, set in AuditOptions())
  // Membership inference: a comma list of loss, clid, secmi, pia (the loss always runs; lira is
  // added when shadows > 0) and their options.
  std::string attacks = "clid,secmi,pia";
  attack::TextMiaOptions mia;
};
DIFFMEM_FIELDS(AuditTextOptions, label, per_prompt, negative_prompt, pipeline, screen_per_prompt, probe, screen_top,
               screen_threshold, screen_detector, filter, attacks, mia)

/// Sample quality of the generations against the training images (quality/): runs when a
/// feature net is named.
struct AuditQualityOptions {
  quality::FeatureSource features;
  quality::QualityOptions metrics;
};
DIFFMEM_FIELDS(AuditQualityOptions, features, metrics)

struct AuditOptions {
  AuditOptions();

  std::string data;    // dataset directory; empty = the built-in data set (`builtin`)
  std::string model;   // a trained diffusers model folder; empty = train one (`train`)
  // What is audited: "diffusion" (a diffusion model: `train`, below) or "gan" (a GAN: `gan`, below;
  // with `model`, a folder diffmem train-gan wrote). A GAN's audit samples, extracts, runs the
  // black-box filter, the discriminator's membership attack and the quality stage; inpainting and
  // LiRA's shadows are diffusion attacks and do not apply.
  std::string target = "diffusion";
  // Text-to-image: the prompts file of the screen and generate-and-filter (data/prompts.h; an id,
  // duplicates, train_image and 0/1 label column are used when present); empty = one prompt per
  // distinct image of the captioned data set, written by the data stage (data::write_caption_prompts).
  std::string prompts;
  uint64_t seed = 0;   // every stage's seed derives from it unless set in the stage's options
  AuditDataOptions builtin;
  train::TrainOptions train;
  train::GanTrainOptions gan;  // target "gan": the GAN trained on the members
  int64_t shadows = 0;  // K > 0: train K shadow models on seeded halves of data/ and run LiRA
  AuditSampleOptions sample;
  attack::ExtractOptions extract;
  attack::BlackboxRunOptions blackbox;
  AuditMiaOptions mia;
  AuditInpaintOptions inpaint;
  AuditTextOptions text;
  AuditQualityOptions quality;
  std::string device = "cpu";  // cpu | cuda | cuda:N | auto; not part of any stage's key
};
/// The stages' own `device` fields (train.device, extract.device) are not part of the audit's
/// options: the run's one device is the top-level key (to_json drops them, the reader refuses them).
DIFFMEM_FIELDS(AuditOptions, data, model, target, prompts, seed, device, builtin, train, gan, shadows, sample,
               extract, blackbox, mia, inpaint, text, quality)

/// Whether the audit is of a text-to-image model: a pipeline folder (model_index.json) as model,
/// or, training one, train.conditioning "text".
bool text_to_image(const AuditOptions& o);
/// Whether the audit is of a GAN (target "gan").
bool gan_audit(const AuditOptions& o);
/// The prompts' ground-truth column (text.label, or its default for where the prompts come from).
std::string prompt_label(const AuditOptions& o);

/// Throws diffmem::Error naming `where` and the key for a value a stage cannot use.
void validate(const AuditOptions& o, const std::string& where);

/// The seed of stage `stage` (train, mia, inpaint) when the options do not set one: the run seed
/// itself. Every stage already splits its seed into streams of its own (core::derive_seed inside
/// the trainer, the MIA scorer and the inpainting attack), so equal seeds draw independently; and
/// runs made before stage seeds were derived (when `--seed S` set each of them to S) repeat byte
/// for byte.
uint64_t stage_seed(uint64_t run_seed, const std::string& stage);

/// audit.json: the field list without the stages' device fields.
io::Json to_json(const AuditOptions& o);
/// The key paths of audit.json ("train.steps", ...): io::field_keys without the stages' devices.
std::vector<std::string> audit_option_keys();

/// Defaults, overlaid with `file` (the options of a config file or of a run's audit.json), then
/// with `overrides` (what flags set; an object of the same shape). Missing keys keep their
/// defaults; a stage seed that neither sets derives from the run seed (a stage seed in `file`
/// equal to the one `file`'s own run seed derives counts as derived, so a new --seed reaches it).
/// Throws diffmem::Error naming `where` and the key for an unknown key (a typo would otherwise be
/// silently ignored) or a value of the wrong type or range.
AuditOptions audit_options_from_json(const io::Json& file, const std::string& where,
                                     const io::Json& overrides = io::Json::object());

}  // namespace diffmem::pipeline
