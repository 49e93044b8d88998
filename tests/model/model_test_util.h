#pragma once
// Shared by tests/model: paths to the diffusers references and small tensor helpers.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>

#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "test_support.h"

namespace diffmem::test {

inline std::filesystem::path model_reference(const std::string& name) {
  return std::filesystem::path(source_dir()) / "tests" / "reference" / "model" / name;
}

/// Tensors of a reference safetensors file by name.
inline std::map<std::string, torch::Tensor> read_tensors(const std::filesystem::path& path) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, array] : io::read_safetensors(path).tensors)
    out[name] = io::to_tensor(array);
  return out;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

/// The deterministic weights of make_unet_reference.py's ddpm_cifar10 case: parameters sorted by
/// name, k its index, s = sin(0.37 i + k) in f64; weights s·1.5/sqrt(fan_in), GroupNorm scales 1 +
/// 0.2 s, biases 0.1 s.
template <typename NamedParams>
void formula_fill(NamedParams params) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> sorted;
  for (auto& p : params) sorted[p.key()] = p.value();
  int64_t k = 0;
  for (auto& [name, p] : sorted) {
    auto s =
        torch::sin(torch::arange(p.numel(), torch::kFloat64) * 0.37 + static_cast<double>(k++));
    const size_t last = name.rfind('.');
    const size_t prev = name.rfind('.', last - 1);
    const std::string module = name.substr(prev == std::string::npos ? 0 : prev + 1,
                                           last - (prev == std::string::npos ? 0 : prev + 1));
    torch::Tensor v;
    if (p.dim() >= 2) {
      v = s * (1.5 / std::sqrt(static_cast<double>(p.numel() / p.size(0))));
    } else if (module.find("norm") != std::string::npos && name.substr(last + 1) == "weight") {
      v = 1 + 0.2 * s;
    } else {
      v = 0.1 * s;
    }
    p.copy_(v.to(torch::kFloat32).reshape(p.sizes()));
  }
}

}  // namespace diffmem::test
