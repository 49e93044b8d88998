#include "diffmem/attack/inpaint_mask.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "diffmem/core/error.h"
#include "diffmem/io/image_file.h"

namespace diffmem::attack {

const std::vector<std::string>& mask_names() {
  static const std::vector<std::string> names = {"left", "right", "top", "bottom", "center"};
  return names;
}

namespace {

torch::Tensor named_hidden(const std::string& name, int64_t H, int64_t W) {
  auto hidden = torch::zeros({H, W}, torch::kFloat32);
  const int64_t h = H / 2, w = W / 2;
  if (name == "left") hidden.slice(1, 0, w).fill_(1);
  if (name == "right") hidden.slice(1, W - w, W).fill_(1);
  if (name == "top") hidden.slice(0, 0, h).fill_(1);
  if (name == "bottom") hidden.slice(0, H - h, H).fill_(1);
  if (name == "center") {
    const int64_t r0 = (H - h) / 2, c0 = (W - w) / 2;
    hidden.slice(0, r0, r0 + h).slice(1, c0, c0 + w).fill_(1);
  }
  return hidden;
}

torch::Tensor file_hidden(const std::filesystem::path& path, int64_t H, int64_t W) {
  io::HostArray img = io::read_image(path, 1);
  check(img.shape.size() == 3 && img.shape[0] == H && img.shape[1] == W, path.string(),
        "a " + std::to_string(H) + "x" + std::to_string(W) + " mask image (the data's size)",
        img.shape.size() == 3
            ? std::to_string(img.shape[0]) + "x" + std::to_string(img.shape[1])
            : io::shape_str(img.shape));
  auto hidden = torch::zeros({H, W}, torch::kFloat32);
  auto* h = hidden.data_ptr<float>();
  const uint8_t* p = img.data<uint8_t>();
  for (int64_t i = 0; i < H * W; ++i) h[i] = p[i] >= 128 ? 1.0f : 0.0f;
  return hidden;
}

}  // namespace

InpaintMask make_mask(const std::string& spec, int64_t height, int64_t width) {
  check(height > 0 && width > 0, "--mask", "a positive image size",
        std::to_string(height) + "x" + std::to_string(width));
  const auto& names = mask_names();
  torch::Tensor hidden;
  std::string where = "--mask " + spec;
  if (std::find(names.begin(), names.end(), spec) != names.end()) {
    hidden = named_hidden(spec, height, width);
  } else {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(spec, ec))
      fail("--mask", "left, right, top, bottom, center or a mask image file",
           "'" + spec + "' (neither a name nor a file)");
    hidden = file_hidden(spec, height, width);
    where = spec;
  }
  InpaintMask m;
  m.spec = spec;
  m.hidden_pixels = static_cast<int64_t>(hidden.sum().item<double>());
  m.known_pixels = height * width - m.hidden_pixels;
  check(m.hidden_pixels > 0, where, "a mask that hides at least one pixel",
        "nothing hidden in " + std::to_string(height) + "x" + std::to_string(width));
  m.known = (1 - hidden).reshape({1, 1, height, width}).contiguous();
  return m;
}

}  // namespace diffmem::attack
