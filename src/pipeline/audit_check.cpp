// What an audit checks before its first stage: every later failure that the options and the
// given folders already decide is raised here, in seconds, not after training and sampling.
#include <algorithm>
#include <optional>

#include "diffmem/attack/blackbox_prompts.h"
#include "diffmem/core/error.h"
#include "diffmem/io/json.h"
#include "diffmem/model/checkpoint.h"
#include "diffmem/model/classifier.h"
#include "diffmem/model/dcgan.h"
#include "diffmem/model/unet2d_config.h"
#include "diffmem/pipeline/audit.h"
#include "diffmem/train/train_options.h"

namespace diffmem::pipeline {
namespace fs = std::filesystem;
using io::Json;

namespace {

struct ImageShape {
  int64_t height = 0, width = 0, channels = 0;
  std::string str() const {
    return std::to_string(height) + "x" + std::to_string(width) + "x" + std::to_string(channels);
  }
};

// The data's image shape, when the options decide it before anything is imported.
std::optional<ImageShape> data_shape(const AuditOptions& o) {
  if (o.data.empty()) {
    if (o.builtin.source == "fashion-mnist" || o.builtin.source == "mnist") return ImageShape{28, 28, 1};
    if (o.builtin.source == "cifar10") return ImageShape{32, 32, 3};
    return std::nullopt;  // a folder of images: its size is known once imported
  }
  const fs::path manifest = fs::path(o.data) / "manifest.json";
  const Json m = io::read_json(manifest);
  const Json shape = m.is_object() ? m.value("shape", Json()) : Json();
  const bool ok = shape.is_array() && shape.size() == 4 &&
                  std::all_of(shape.begin(), shape.end(), [](const Json& d) { return d.is_number_integer(); });
  if (!ok) fail(manifest.string(), "a \"shape\" [N, H, W, C] of integers", shape.dump());
  return ImageShape{shape[1].get<int64_t>(), shape[2].get<int64_t>(), shape[3].get<int64_t>()};
}

// The images a text-to-image pipeline folder makes: unet sample_size times the VAE's scale factor
// (2^(levels - 1)), the VAE's channels; a pixel-space folder ("vae": [null, null]) its U-Net's.
ImageShape pipeline_image_shape(const fs::path& dir) {
  const fs::path index_path = dir / "model_index.json", unet_path = dir / "unet" / "config.json";
  const Json index = io::read_json(index_path);
  const Json unet = io::read_json(unet_path);
  auto integer = [](const Json& j, const char* key, const fs::path& file) {
    const Json v = j.is_object() ? j.value(key, Json()) : Json();
    if (!v.is_number_integer()) fail(file.string(), std::string("an integer \"") + key + "\"", v.dump());
    return v.get<int64_t>();
  };
  const int64_t size = integer(unet, "sample_size", unet_path);
  const Json vae_entry = index.is_object() ? index.value("vae", Json()) : Json();
  const bool pixel = !vae_entry.is_array() || vae_entry.empty() || vae_entry[0].is_null();
  if (pixel) {
    const int64_t c = integer(unet, "in_channels", unet_path);
    return ImageShape{size, size, c};
  }
  const fs::path vae_path = dir / "vae" / "config.json";
  const Json vae = io::read_json(vae_path);
  const Json levels = vae.is_object() ? vae.value("block_out_channels", Json()) : Json();
  if (!levels.is_array() || levels.empty()) fail(vae_path.string(), "a \"block_out_channels\" list", levels.dump());
  const int64_t scale = int64_t{1} << (levels.size() - 1);
  return ImageShape{size * scale, size * scale, integer(vae, "out_channels", vae_path)};
}

// The text-to-image audit's own needs: a captioned data set, a prompts file that reads, a model
// for the data's images, and no stage it does not have.
void check_text_audit(const AuditOptions& o, const std::optional<ImageShape>& shape) {
  if (o.shadows > 0 && !o.model.empty())
    fail("--shadows", "0 with a given text-to-image pipeline (the audit trains LiRA's shadow pipelines beside a "
         "target it trains itself; for a given one, train shadows with diffmem train --conditioning text --models K "
         "--split half and run diffmem mia lira)", std::to_string(o.shadows));
  if (o.data.empty()) {
    if (o.builtin.captions == "none")
      fail("builtin.captions", "auto or generated for a text-to-image audit (its attacks need captions)", "none");
  } else if (!fs::is_regular_file(fs::path(o.data) / "captions.jsonl")) {
    fail("--data " + o.data, "a captioned data set (captions.jsonl) for a text-to-image audit",
         "no captions.jsonl there (diffmem data import --captions)");
  }
  if (!o.prompts.empty()) attack::read_prompts(o.prompts, prompt_label(o));  // names the file and the row
  if (!o.model.empty() && shape) {
    const ImageShape m = pipeline_image_shape(o.model);
    if (m.height != shape->height || m.width != shape->width || m.channels != shape->channels)
      fail("--model " + o.model, "a pipeline for the data's " + shape->str() + " images", "one that makes " + m.str());
  }
  if (o.text.screen_detector == "anisotropy" && o.text.probe.low_from_end == 0)
    fail("text.screen_detector", "wen when text.probe.low_from_end is 0 (anisotropy needs the low-noise pass)",
         "anisotropy");
}

// The quality stage's feature net: one named, its files there, a data-set net made for the data's
// images. (The net itself loads in the stage; a file that does not parse fails there, in seconds.)
void check_quality_features(const quality::FeatureSource& f, const std::optional<ImageShape>& shape) {
  if (f.empty()) return;
  quality::check_one_net(f, "quality.features (--inception-weights, --inception-torchscript, --feature-net)");
  for (const auto& [key, file] : {std::pair<const char*, std::string>{"inception_weights", f.inception_weights},
                                  {"inception_torchscript", f.inception_torchscript}})
    if (!file.empty() && !fs::is_regular_file(file))
      fail(std::string("quality.features.") + key + " " + file, "a file", "no such file");
  if (f.feature_net.empty()) return;
  const fs::path config = fs::path(f.feature_net) / "config.json";
  if (!fs::is_regular_file(config))
    fail("quality.features.feature_net " + f.feature_net, "a data-set feature net (diffmem train-feature-net)",
         "no config.json there");
  const auto c = io::read_known_options<model::ClassifierConfig>(io::read_json(config), config.string());
  if (shape && (c.height != shape->height || c.width != shape->width || c.channels != shape->channels))
    fail("quality.features.feature_net " + f.feature_net, "a net for the data's " + shape->str() + " images",
         "one trained on " + std::to_string(c.height) + "x" + std::to_string(c.width) + "x" +
             std::to_string(c.channels));
}

// A GAN's audit: a given folder is a GAN for the data's images; one to train can make them.
void check_gan_audit(const AuditOptions& o, const std::optional<ImageShape>& shape) {
  if (!o.prompts.empty()) fail("--prompts " + o.prompts, "a text-to-image audit", "--target gan");
  if (!o.model.empty()) {
    if (!model::is_gan_folder(o.model))
      fail("--model " + o.model, "a GAN folder (diffmem train-gan) for --target gan", "no GAN config.json there");
    const model::DcganConfig c = model::read_dcgan_config(o.model);
    if (shape && (c.height != shape->height || c.width != shape->width || c.channels != shape->channels))
      fail("--model " + o.model, "a GAN for the data's " + shape->str() + " images",
           "one that makes " + std::to_string(c.height) + "x" + std::to_string(c.width) + "x" +
               std::to_string(c.channels));
  } else if (shape) {
    model::DcganConfig c;  // what training builds
    c.height = shape->height;
    c.width = shape->width;
    c.channels = shape->channels;
    c.z_dim = o.gan.z_dim;
    c.base_width = o.gan.base_width;
    model::validate(c, "--target gan: the data's " + shape->str() + " images");
  }
}

}  // namespace

void check_audit(const AuditOptions& o, const std::string& from) {
  if (!from.empty()) {
    const auto& names = audit_stages();
    if (std::find(names.begin(), names.end(), from) == names.end()) {
      std::string list;
      for (auto& n : names) list += (list.empty() ? "" : ", ") + n;
      fail("--from", "one of " + list, "'" + from + "'");
    }
  }
  if (!o.data.empty() && !fs::is_regular_file(fs::path(o.data) / "manifest.json"))
    fail("--data " + o.data, "a dataset directory (diffmem data import/subset)",
         "no manifest.json there");
  if (!o.model.empty() && !fs::is_directory(o.model))
    fail("--model " + o.model, "a diffusers model folder", "no such folder");
  const std::optional<ImageShape> shape = data_shape(o);
  check_quality_features(o.quality.features, shape);
  if (gan_audit(o)) return check_gan_audit(o, shape);
  if (!o.model.empty() && model::is_gan_folder(o.model))
    fail("--model " + o.model, "a diffusion model folder (or --target gan for this GAN)", "a GAN folder");
  if (text_to_image(o)) return check_text_audit(o, shape);
  if (!o.prompts.empty())
    fail("--prompts " + o.prompts, "a text-to-image model (a pipeline folder as --model, or --conditioning text)",
         o.model.empty() ? "an unconditional model to train" : "the unconditional model " + o.model);
  if (!o.model.empty()) {
    const fs::path config = model::find_diffusers_files(o.model).config;
    const model::UNet2DConfig c = model::read_unet2d_config(config);
    if (c.num_class_embeds || c.fourier())
      fail("--model " + o.model, "an unconditional model of timesteps (the audit's attacks need one)",
           std::string(c.fourier() ? "a score-SDE model (time_embedding_type fourier)"
                                   : "a class-conditional model (num_class_embeds)") +
               "; `diffmem sample` handles it (" + config.string() + ")");
    if (shape && (c.sample_size != shape->height || c.width() != shape->width ||
                  c.in_channels != shape->channels))
      fail("--model " + o.model, "a model for the data's " + shape->str() + " images",
           "sample_size " + std::to_string(c.sample_size) + "x" + std::to_string(c.width()) + " with " +
               std::to_string(c.in_channels) + " channels (" + config.string() + ")");
  } else if (shape) {
    train::model_config(shape->height, shape->width, shape->channels, o.train);  // what training builds
  }
}

}  // namespace diffmem::pipeline
