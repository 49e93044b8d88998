#pragma once
// pytorch-fid's FID Inception-v3 (pytorch_fid/inception.py, InceptionV3([3]) with
// use_fid_inception=True) up to pool3, the 2048-d global average pool that FID is computed on:
// torchvision's inception_v3 body (BasicConv2d = conv without bias + BatchNorm eps 0.001 + ReLU)
// with Mixed_5b/5c/5d = FIDInceptionA, Mixed_6b..6e = FIDInceptionC, Mixed_7b = FIDInceptionE_1
// (their average pools leave the zero padding out, as TensorFlow's), Mixed_7c = FIDInceptionE_2
// (a max pool). Parameter and buffer names are torchvision's ("Conv2d_1a_3x3.conv.weight",
// "Mixed_5b.branch1x1.bn.running_mean", ...), so pytorch-fid's
// pt_inception-2015-12-05-6726825d.pth, converted by scripts/convert_inception_weights.py, loads
// directly. The features on top of this (input conversion, resize, batching protocol) are in
// inception_features.h.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "diffmem/io/safetensors.h"

namespace diffmem::model {

namespace detail {
class InceptionBlock;
}

inline constexpr int64_t kInceptionSize = 299;  ///< pytorch-fid's resize_input size
inline constexpr int64_t kInceptionDim = 2048;  ///< pool3 features

class InceptionV3Impl : public torch::nn::Module {
 public:
  InceptionV3Impl();
  /// x [N,3,H,W] f32 in [-1,1] (pytorch-fid's normalize_input; H, W >= 75, 299 for FID) ->
  /// pool3 [N,2048] f32 on x's device. BatchNorm always uses the running statistics (the net is
  /// a fixed feature extractor, as pytorch-fid's eval() model), whatever train() says.
  torch::Tensor forward(const torch::Tensor& x);

 private:
  // Conv2d_1a_3x3 .. Conv2d_4a_3x3, then Mixed_5b .. Mixed_7c (names registered in the source).
  std::vector<std::shared_ptr<detail::InceptionBlock>> stem_, mixed_;
};
TORCH_MODULE(InceptionV3);

/// Copies every parameter and BatchNorm running_mean/running_var from `file` by torchvision's
/// names, cast to f32. fc.weight, fc.bias (the 1008-class logits) and *.num_batches_tracked are
/// ignored if present; any other missing, unexpected or misshaped tensor, a NaN/inf value or a
/// negative running_var is a diffmem::Error naming `where` (the file) and the tensor.
void load_inception_weights(InceptionV3Impl& model, const io::Safetensors& file,
                            const std::string& where);

/// The network from a safetensors file (scripts/convert_inception_weights.py makes one from
/// pytorch-fid's .pth; pickles are never opened), on `device`, in eval mode. A missing file or
/// a .pth/.pt pickle is an error naming the file.
InceptionV3 load_inception_v3(const std::filesystem::path& path,
                              const torch::Device& device = torch::kCPU);

}  // namespace diffmem::model
