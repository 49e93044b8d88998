#include "diffmem/model/weights.h"

#include <torch/torch.h>

#include <algorithm>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::model {

std::string quote_name(const std::string& name) { return "'" + name + "'"; }

std::string some_names(const std::vector<std::string>& names) {
  std::string s;
  const size_t shown = std::min<size_t>(names.size(), 3);
  for (size_t i = 0; i < shown; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > shown) s += " (and " + std::to_string(names.size() - shown) + " more)";
  return s;
}

void load_weights(torch::nn::Module& module, const std::map<std::string, io::HostArray>& given,
                  const std::string& where, const std::string& what) {
  auto params = module.named_parameters(/*recurse=*/true);
  std::vector<std::string> missing, unexpected;
  for (const auto& p : params)
    if (!given.count(p.key())) missing.push_back(p.key());
  for (const auto& [name, array] : given)
    if (!params.contains(name)) unexpected.push_back(name);
  if (!missing.empty())
    fail(where, "tensor " + quote_name(missing[0]) + " of shape " + io::shape_str(params[missing[0]]),
         "no such tensor (" + std::to_string(missing.size()) + " missing: " + some_names(missing) +
             ")");
  if (!unexpected.empty())
    fail(where + ": tensor " + quote_name(unexpected[0]), "only " + what + " parameters",
         "a tensor this " + what + " does not have (" + std::to_string(unexpected.size()) +
             " unexpected: " + some_names(unexpected) + ")");

  torch::NoGradGuard no_grad;
  for (auto& p : params) {
    const io::HostArray& a = given.at(p.key());
    const std::string at = where + ": tensor " + quote_name(p.key());
    if (a.shape != p.value().sizes().vec())
      fail(at, "shape " + io::shape_str(p.value()), io::shape_str(a.shape));
    if (a.dtype != io::DType::kF32 && a.dtype != io::DType::kF16 && a.dtype != io::DType::kBF16 &&
        a.dtype != io::DType::kF64)
      fail(at, "dtype F32, F16, BF16 or F64", io::dtype_name(a.dtype));
    torch::Tensor t = io::to_tensor(a).to(torch::kFloat32);
    const int64_t bad = t.numel() - torch::isfinite(t).sum().item<int64_t>();
    if (bad > 0) fail(at, "finite values", std::to_string(bad) + " NaN or inf values");
    p.value().copy_(t);
  }
}

ComponentFiles component_files(const std::filesystem::path& dir, const std::string& name,
                               const std::string& what) {
  ComponentFiles f{dir / "config.json", dir / (name + ".safetensors")};
  if (!std::filesystem::is_regular_file(f.config))
    fail(dir.string(), what + " with config.json", "no config.json");
  if (!std::filesystem::is_regular_file(f.weights) &&
      std::filesystem::is_regular_file(dir / (name + ".fp16.safetensors")))
    f.weights = dir / (name + ".fp16.safetensors");
  if (!std::filesystem::is_regular_file(f.weights))
    for (const std::string& pickle : {name + ".bin", std::string("pytorch_model.bin")})
      if (std::filesystem::is_regular_file(dir / pickle))
        fail(dir.string(), name + ".safetensors (or its .fp16 variant)",
             "only pickled " + pickle + " weights, which diffmem never loads");
  if (!std::filesystem::is_regular_file(f.weights))
    fail(dir.string(), name + ".safetensors (or its .fp16 variant)", "no weights file");
  return f;
}

io::Safetensors weights_state(const std::map<std::string, torch::Tensor>& weights) {
  io::Safetensors out;
  out.metadata["format"] = "pt";
  for (const auto& [name, w] : weights)
    out.tensors.emplace(name, io::from_tensor(w.detach().to(torch::kFloat32)));
  return out;
}

}  // namespace diffmem::model
