#include "diffmem/model/inception_features.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::model {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

void check_images(const torch::Tensor& images, const std::string& where) {
  check(images.defined() && images.dim() == 4 && images.scalar_type() == torch::kUInt8 &&
            (images.size(3) == 1 || images.size(3) == 3) && images.size(1) >= 1 &&
            images.size(2) >= 1,
        where, "images [N,H,W,C] uint8 with C 1 or 3",
        images.defined()
            ? io::shape_str(images) + " " + std::string(c10::toString(images.scalar_type()))
            : "no tensor");
}

// [N,H,W,C] u8 -> [N,C,H,W] f32 (values unchanged, C as given).
torch::Tensor nchw_float(const torch::Tensor& images, const torch::Device& device) {
  return images.to(device).permute({0, 3, 1, 2}).to(torch::kFloat32).contiguous();
}

// TorchScript's messages span lines: a compile error says what is wrong on its first line, an
// exception raised while running on its last (after the traceback).
std::string message_line(const std::exception& e, bool last) {
  const auto* c10e = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10e ? c10e->what_without_backtrace() : e.what();
  size_t begin = 0, end = text.size();
  if (last) {
    end = text.find_last_not_of(" \r\n");
    if (end == std::string::npos) return "";
    const size_t newline = text.find_last_of('\n', end);
    begin = newline == std::string::npos ? 0 : newline + 1;
    ++end;
  } else {
    begin = text.find_first_not_of(" \r\n");
    if (begin == std::string::npos) return "";
    end = std::min(text.find('\n', begin), text.size());
  }
  return one_line(text.substr(begin, end - begin));
}

}  // namespace

torch::Tensor fid_inception_input(const torch::Tensor& images, const std::string& where) {
  check_images(images, where);
  torch::Tensor x = nchw_float(images, images.device()) / 255.0;  // torchvision's ToTensor
  // pytorch-fid's resize_input; channels are resized independently, so a gray image is resized
  // once and then repeated (the same numbers as resizing three copies).
  x = F::interpolate(x, F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{kInceptionSize, kInceptionSize})
                            .mode(torch::kBilinear)
                            .align_corners(false));
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
  return (2 * x - 1).contiguous();  // normalize_input
}

InceptionFeatures::InceptionFeatures(const fs::path& weights, const torch::Device& device)
    : InceptionFeatures(load_inception_v3(weights, device), device) {}

InceptionFeatures::InceptionFeatures(InceptionV3 net, const torch::Device& device)
    : net_(std::move(net)), device_(device) {
  check(!net_.is_empty(), "InceptionFeatures", "a network", "none");
  net_->eval();
  net_->to(device_);
}

torch::Tensor InceptionFeatures::features(const torch::Tensor& images) {
  check_images(images, "Inception-v3 (pytorch-fid) images");
  if (images.size(0) == 0) return torch::empty({0, kInceptionDim});
  torch::NoGradGuard no_grad;
  return net_->forward(fid_inception_input(images.to(device_))).to(torch::kCPU).contiguous();
}

struct TorchScriptInception::Module {
  torch::jit::Module module;
};

TorchScriptInception::TorchScriptInception(const fs::path& path, const torch::Device& device)
    : path_(path), device_(device) {
  const std::string expected =
      "a TorchScript Inception (torch.jit.save; NVIDIA's inception-2015-12-05.pt)";
  if (!fs::is_regular_file(path)) fail(path.string(), expected, "no such file");
  module_ = std::make_unique<Module>();
  try {
    module_->module = torch::jit::load(path.string(), device);
  } catch (const std::exception& e) {
    // c10::Error for a bad archive; torch::jit::ErrorReport for code this LibTorch cannot compile
    // (a file from a newer torch that uses operators it lacks).
    fail(path.string(), expected,
         "a file torch::jit::load rejects: " + message_line(e, /*last=*/false));
  }
  module_->module.eval();
  if (!module_->module.find_method("forward"))
    fail(path.string(), expected, "a module without forward()");
  torch::NoGradGuard no_grad;
  const torch::Tensor probe = call(
      torch::zeros({1, 3, kInceptionSize, kInceptionSize}, torch::TensorOptions().device(device_)));
  dim_ = probe.size(1);
}

TorchScriptInception::~TorchScriptInception() = default;

torch::Tensor TorchScriptInception::call(const torch::Tensor& x) {
  torch::jit::IValue out;
  try {
    out = module_->module.forward({x}, {{"return_features", true}});
  } catch (const std::exception& e) {
    // c10::Error for failed checks; torch::jit::JITException (std::runtime_error) for a raise.
    fail(path_.string(), "forward(x, return_features=True) to run on x [N,3,H,W] f32 in 0..255",
         message_line(e, /*last=*/true));
  }
  if (!out.isTensor())
    fail(path_.string(), "forward(x, return_features=True) to return a tensor", out.tagKind());
  const torch::Tensor f = out.toTensor();
  check(f.dim() == 2 && f.size(0) == x.size(0) && f.size(1) >= 1 && f.is_floating_point(),
        path_.string(),
        "features [" + std::to_string(x.size(0)) + ",D] (floating point) from forward(x, " +
            "return_features=True)",
        io::shape_str(f) + " " + std::string(c10::toString(f.scalar_type())));
  check(dim_ == 0 || f.size(1) == dim_, path_.string(),
        "features of the width the first call gave (" + std::to_string(dim_) + ")",
        std::to_string(f.size(1)));
  return f.to(torch::kCPU, torch::kFloat32).contiguous();
}

torch::Tensor TorchScriptInception::features(const torch::Tensor& images) {
  check_images(images, path_.filename().string() + " images");
  if (images.size(0) == 0) return torch::empty({0, dim_});
  torch::NoGradGuard no_grad;
  torch::Tensor x = nchw_float(images, device_);  // 0..255, the module resizes
  if (x.size(1) == 1) x = x.repeat({1, 3, 1, 1});
  return call(x);
}

std::string TorchScriptInception::name() const {
  return "Inception-v3 pool3 (TorchScript " + path_.filename().string() + ")";
}

}  // namespace diffmem::model
