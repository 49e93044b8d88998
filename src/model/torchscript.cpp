#include "diffmem/model/torchscript.h"

#include <torch/script.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"

namespace diffmem::model {

struct TorchScriptDenoiser::Module {
  torch::jit::Module module;
};

TorchScriptDenoiser::TorchScriptDenoiser(const std::filesystem::path& path,
                                         const torch::Device& device, int64_t in_channels,
                                         int64_t sample_size)
    : path_(path), device_(device), in_channels_(in_channels), sample_size_(sample_size) {
  check(in_channels >= 1 && sample_size >= 1, path.string(),
        "in_channels and sample_size given for a TorchScript model (both >= 1)",
        std::to_string(in_channels) + " and " + std::to_string(sample_size));
  if (!std::filesystem::is_regular_file(path))
    fail(path.string(), "a TorchScript file", "no such file");
  module_ = std::make_unique<Module>();
  try {
    module_->module = torch::jit::load(path.string(), device);
  } catch (const c10::Error& e) {
    fail(path.string(), "a TorchScript file (torch.jit.save)",
         std::string("a file torch::jit::load rejects: ") + e.what_without_backtrace());
  }
  module_->module.eval();
}

TorchScriptDenoiser::~TorchScriptDenoiser() = default;

torch::Tensor TorchScriptDenoiser::predict_noise(const torch::Tensor& x, const torch::Tensor& t) {
  torch::jit::IValue out;
  try {
    out = module_->module.forward({x, t});
  } catch (const c10::Error& e) {
    fail(path_.string(), "forward(x, t) to run", e.what_without_backtrace());
  }
  if (out.isTuple()) {
    const auto& elems = out.toTupleRef().elements();
    if (!elems.empty()) out = elems[0];
  } else if (out.isList()) {
    auto list = out.toListRef();
    if (!list.empty()) out = list[0];
  } else if (out.isGenericDict()) {
    auto dict = out.toGenericDict();
    for (const auto& entry : dict)
      if (entry.key().isString() && entry.key().toStringRef() == "sample") out = entry.value();
  }
  if (!out.isTensor())
    fail(path_.string(),
         "forward to return a tensor, a tuple/list starting with one, or {\"sample\": tensor}",
         out.tagKind());
  torch::Tensor eps = out.toTensor();
  check(eps.sizes() == x.sizes(), path_.string(),
        "an output of the input's shape " + c10::str(x.sizes()), c10::str(eps.sizes()));
  return eps.to(torch::kFloat32);
}

std::string TorchScriptDenoiser::describe() const {
  return "TorchScript " + path_.filename().string();
}

}  // namespace diffmem::model
