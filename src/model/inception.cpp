#include "diffmem/model/inception.h"

#include <torch/torch.h>

#include <map>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/weights.h"
#include "inception_blocks.h"

namespace diffmem::model {
namespace fs = std::filesystem;
using namespace detail;

InceptionV3Impl::InceptionV3Impl() {
  const std::pair<const char*, ConvSpec> stem[] = {
      {"Conv2d_1a_3x3", {3, 32, 3, 3, 2}},
      {"Conv2d_2a_3x3", {32, 32, 3, 3}},
      {"Conv2d_2b_3x3", {32, 64, 3, 3, 1, 1, 1}},
      {"Conv2d_3b_1x1", {64, 80, 1, 1}},
      {"Conv2d_4a_3x3", {80, 192, 3, 3}},
  };
  for (const auto& [name, spec] : stem) stem_.push_back(register_module(name, basic_conv(spec)));
  const std::pair<const char*, std::shared_ptr<InceptionBlock>> mixed[] = {
      {"Mixed_5b", inception_a(192, 32)},   {"Mixed_5c", inception_a(256, 64)},
      {"Mixed_5d", inception_a(288, 64)},   {"Mixed_6a", inception_b(288)},
      {"Mixed_6b", inception_c(768, 128)},  {"Mixed_6c", inception_c(768, 160)},
      {"Mixed_6d", inception_c(768, 160)},  {"Mixed_6e", inception_c(768, 192)},
      {"Mixed_7a", inception_d(768)},       {"Mixed_7b", inception_e(1280, /*max_pool=*/false)},
      {"Mixed_7c", inception_e(2048, /*max_pool=*/true)},
  };
  for (const auto& [name, block] : mixed) mixed_.push_back(register_module(name, block));
}

torch::Tensor InceptionV3Impl::forward(const torch::Tensor& x) {
  check(x.defined() && x.dim() == 4 && x.size(1) == 3 && x.size(2) >= 75 && x.size(3) >= 75 &&
            x.scalar_type() == torch::kFloat32,
        "InceptionV3 input", "x [N,3,H,W] f32 with H, W >= 75",
        x.defined() ? io::shape_str(x) + " " + std::string(c10::toString(x.scalar_type()))
                    : "no tensor");
  torch::Tensor h = x;
  // pytorch-fid's block 0 ends in maxpool1 after Conv2d_2b, block 1 in maxpool2 after Conv2d_4a.
  for (size_t i = 0; i < stem_.size(); ++i) {
    h = stem_[i]->forward(h);
    if (i == 2 || i == 4) h = torch::max_pool2d(h, {3, 3}, {2, 2});
  }
  for (const auto& block : mixed_) h = block->forward(h);
  return torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool ignored_tensor(const std::string& name) {
  return name == "fc.weight" || name == "fc.bias" || ends_with(name, ".num_batches_tracked");
}

// BatchNorm running statistics: load_weights covers parameters only.
void load_statistics(InceptionV3Impl& model, const std::map<std::string, io::HostArray>& given,
                     const std::string& where) {
  std::vector<std::string> missing;
  auto buffers = model.named_buffers(/*recurse=*/true);
  for (const auto& b : buffers)
    if (!ignored_tensor(b.key()) && !given.count(b.key())) missing.push_back(b.key());
  if (!missing.empty())
    fail(where,
         "tensor " + quote_name(missing[0]) + " of shape " + io::shape_str(buffers[missing[0]]),
         "no such tensor (" + std::to_string(missing.size()) + " missing: " + some_names(missing) +
             ")");
  torch::NoGradGuard no_grad;
  for (auto& b : buffers) {
    if (ignored_tensor(b.key())) continue;
    const io::HostArray& a = given.at(b.key());
    const std::string at = where + ": tensor " + quote_name(b.key());
    if (a.shape != b.value().sizes().vec())
      fail(at, "shape " + io::shape_str(b.value()), io::shape_str(a.shape));
    if (a.dtype != io::DType::kF32 && a.dtype != io::DType::kF16 && a.dtype != io::DType::kBF16 &&
        a.dtype != io::DType::kF64)
      fail(at, "dtype F32, F16, BF16 or F64", io::dtype_name(a.dtype));
    const torch::Tensor t = io::to_tensor(a).to(torch::kFloat32);
    const int64_t bad = t.numel() - torch::isfinite(t).sum().item<int64_t>();
    if (bad > 0) fail(at, "finite values", std::to_string(bad) + " NaN or inf values");
    if (ends_with(b.key(), ".running_var") && t.numel() > 0 && t.min().item<float>() < 0)
      fail(at, "variances >= 0", "the value " + std::to_string(t.min().item<float>()));
    b.value().copy_(t);
  }
}

}  // namespace

void load_inception_weights(InceptionV3Impl& model, const io::Safetensors& file,
                            const std::string& where) {
  const auto buffers = model.named_buffers(/*recurse=*/true);
  std::map<std::string, io::HostArray> params, stats;
  for (const auto& [name, array] : file.tensors) {
    if (ignored_tensor(name)) continue;
    (buffers.contains(name) ? stats : params).emplace(name, array);
  }
  load_weights(model, params, where, "Inception-v3 pool3 (pytorch-fid)");
  load_statistics(model, stats, where);
}

InceptionV3 load_inception_v3(const fs::path& path, const torch::Device& device) {
  const std::string expected =
      "Inception-v3 weights as safetensors (scripts/convert_inception_weights.py converts "
      "pytorch-fid's pt_inception-2015-12-05-6726825d.pth)";
  if (!fs::is_regular_file(path)) fail(path.string(), expected, "no such file");
  const std::string ext = path.extension().string();
  if (ext == ".pth" || ext == ".pt" || ext == ".pkl" || ext == ".bin")
    fail(path.string(), expected, "a pickled " + ext + " file, which diffmem never loads");
  InceptionV3 net;
  load_inception_weights(*net, io::read_safetensors(path), path.string());
  net->eval();
  net->to(device);
  return net;
}

}  // namespace diffmem::model
