#include "diffmem/model/folder_info.h"

#include <algorithm>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/io/safetensors.h"

namespace diffmem::model {
namespace fs = std::filesystem;
namespace {

// The weights of a component folder: the F32 file, else the fp16 variant; empty when neither.
fs::path weights_in(const fs::path& dir) {
  for (const char* name : {"diffusion_pytorch_model.safetensors", "model.safetensors",
                           "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors"})
    if (fs::is_regular_file(dir / name)) return dir / name;
  return {};
}

io::Json component(const fs::path& dir, const std::string& name, const std::string& cls) {
  io::Json c = {{"name", name}, {"class", cls}};
  const fs::path w = weights_in(dir);
  if (w.empty()) {
    io::Json files = io::Json::array();
    if (fs::is_directory(dir))
      for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().filename().string());
    std::sort(files.begin(), files.end());
    c["files"] = files;
    return c;
  }
  const io::SafetensorsHeader h = io::read_safetensors_header(w);
  std::set<std::string> dtypes;
  for (const auto& [n, e] : h.tensors) dtypes.insert(io::dtype_name(e.dtype));
  c["weights"] = w.filename().string();
  c["dtypes"] = dtypes;
  c["tensors"] = h.tensors.size();
  c["parameters"] = h.parameters();
  return c;
}

}  // namespace

io::Json describe_model_folder(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail(dir.string(), "a model folder", fs::exists(dir) ? "a file" : "nothing there");
  io::Json out = {{"folder", dir.string()}, {"components", io::Json::array()}};
  const fs::path index = dir / "model_index.json";
  if (fs::is_regular_file(index)) {
    const io::Json j = io::read_json(index);
    if (!j.is_object()) fail(index.string(), "a JSON object", j.type_name());
    out["class"] = j.value("_class_name", "");
    for (auto it = j.begin(); it != j.end(); ++it) {
      const io::Json& v = it.value();
      if (it.key().empty() || it.key()[0] == '_' || !v.is_array() || v.size() != 2 || v[1].is_null())
        continue;
      out["components"].push_back(component(dir / it.key(), it.key(), v[1].is_string() ? v[1].get<std::string>() : ""));
    }
    return out;
  }
  for (const fs::path& d : {dir, dir / "unet"}) {
    if (!fs::is_regular_file(d / "config.json") || weights_in(d).empty()) continue;
    const io::Json cfg = io::read_json(d / "config.json");
    const std::string cls = cfg.is_object() ? cfg.value("_class_name", cfg.value("model_type", "")) : "";
    out["class"] = cls;
    out["components"].push_back(component(d, d == dir ? "model" : "unet", cls));
    return out;
  }
  fail(dir.string(), "a diffusers pipeline folder (model_index.json) or a model folder (config.json + "
                     "safetensors weights)", "neither");
}

}  // namespace diffmem::model
