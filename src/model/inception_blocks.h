#pragma once
// The blocks of pytorch-fid's FID Inception-v3 (inception.h): torchvision's BasicConv2d and
// InceptionA..E with pytorch-fid's patches (FIDInceptionA/C/E_1: average pools that leave the
// zero padding out of the mean; FIDInceptionE_2: a max pool). Submodule names as torchvision's.
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>

namespace diffmem::model::detail {

/// A block of the network; BatchNorm always uses its running statistics (pytorch-fid's eval()).
class InceptionBlock : public torch::nn::Module {
 public:
  /// x [N,in,H,W] f32 -> [N,out,H',W'] f32
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

/// BasicConv2d: conv (no bias) "conv" + BatchNorm2d(eps 0.001) "bn" + ReLU.
struct ConvSpec {
  int64_t in, out, kh, kw, stride = 1, ph = 0, pw = 0;
};
std::shared_ptr<InceptionBlock> basic_conv(const ConvSpec& spec);

/// FIDInceptionA(in, pool_features) (Mixed_5b/5c/5d) -> 224 + pool_features channels.
std::shared_ptr<InceptionBlock> inception_a(int64_t in, int64_t pool_features);
/// InceptionB(in) (Mixed_6a), stride 2 -> 384 + 96 + in channels.
std::shared_ptr<InceptionBlock> inception_b(int64_t in);
/// FIDInceptionC(in, channels_7x7) (Mixed_6b..6e) -> 768 channels.
std::shared_ptr<InceptionBlock> inception_c(int64_t in, int64_t channels_7x7);
/// InceptionD(in) (Mixed_7a), stride 2 -> 320 + 192 + in channels.
std::shared_ptr<InceptionBlock> inception_d(int64_t in);
/// FIDInceptionE_1 (Mixed_7b, average pool) or FIDInceptionE_2 (Mixed_7c, `max_pool`) -> 2048.
std::shared_ptr<InceptionBlock> inception_e(int64_t in, bool max_pool);

}  // namespace diffmem::model::detail
