#include "diffmem/model/single_file.h"


#include "diffmem/core/error.h"

namespace diffmem::model {
namespace fs = std::filesystem;
namespace {

// Rows [part * n / 3, (part + 1) * n / 3) of a tensor whose dim 0 stacks q, k and v.
io::HostArray third(const io::HostArray& a, int part, const std::string& where, const std::string& key) {
  if (a.shape.empty() || a.shape[0] % 3 != 0)
    fail(where + ": tensor '" + key + "'", "a stacked q/k/v tensor (dim 0 divisible by 3)",
         io::shape_str(a.shape));
  io::HostArray out;
  out.dtype = a.dtype;
  out.shape = a.shape;
  out.shape[0] /= 3;
  const size_t n = a.bytes.size() / 3;
  out.bytes.assign(a.bytes.begin() + static_cast<std::ptrdiff_t>(n * part),
                   a.bytes.begin() + static_cast<std::ptrdiff_t>(n * (part + 1)));
  return out;
}

}  // namespace

SingleFileParts read_single_file(const fs::path& file) {
  const std::string where = file.string();
  const std::string ext = file.extension().string();
  if (ext == ".ckpt" || ext == ".pt" || ext == ".pth" || ext == ".bin")
    fail(where, "a .safetensors checkpoint (diffmem never loads pickles; convert it with safetensors)",
         "a " + ext + " file");
  io::Safetensors all = io::read_safetensors(file);
  std::vector<std::string> keys;
  keys.reserve(all.tensors.size());
  for (const auto& kv : all.tensors) keys.push_back(kv.first);
  SingleFileParts parts;
  parts.layout = single_file_layout(keys, where);
  parts.open_clip = is_open_clip(keys);
  for (const auto& [key, target] : map_single_file(keys, where)) {
    io::Safetensors& dst = target.component == SingleFileComponent::unet  ? parts.unet
                           : target.component == SingleFileComponent::vae ? parts.vae
                                                                          : parts.text_encoder;
    const io::HostArray& src = all.tensors.at(key);
    io::HostArray a;
    switch (target.transform) {
      case SingleFileName::Transform::none:
        a = src;
        break;
      case SingleFileName::Transform::squeeze_1x1:
        if (src.shape.size() != 4 || src.shape[2] != 1 || src.shape[3] != 1)
          fail(where + ": tensor '" + key + "'", "a 1x1 convolution weight [C,C,1,1]", io::shape_str(src.shape));
        a = src;
        a.shape.resize(2);
        break;
      case SingleFileName::Transform::split_qkv:
        a = third(src, target.part, where, key);
        break;
    }
    if (!dst.tensors.emplace(target.name, std::move(a)).second)
      fail(where + ": tensor '" + key + "'", "one checkpoint tensor per diffusers parameter",
           "a second tensor for '" + target.name + "'");
  }
  for (const auto& [name, part] : {std::pair<const char*, const io::Safetensors*>{"U-Net (model.diffusion_model.*)", &parts.unet},
                                   {"VAE (first_stage_model.*)", &parts.vae},
                                   {"text encoder (cond_stage_model.*)", &parts.text_encoder}})
    if (part->tensors.empty())
      fail(where, std::string("a Stable Diffusion checkpoint with a ") + name, "no such tensors");
  return parts;
}

}  // namespace diffmem::model
