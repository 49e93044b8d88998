// What an audit checks before its first stage: every later failure that the options and the
// given folders already decide is raised here, in seconds, not after training and sampling.
#include <algorithm>
#include <optional>

#include "diffmem/core/error.h"
#include "diffmem/io/json.h"
#include "diffmem/model/checkpoint.h"
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
