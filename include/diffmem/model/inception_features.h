#pragma once
// Inception-v3 pool3 features for FID/KID (metrics/fid.h), in the two protocols the field uses:
//  - InceptionFeatures: pytorch-fid's. uint8 -> f32 / 255 (torchvision's ToTensor), NCHW,
//    F.interpolate to 299x299 bilinear, align_corners=False, no antialias (resize_input), then
//    2x - 1 (normalize_input), the FID Inception (inception.h) to pool3 [N,2048].
//  - TorchScriptInception: NVIDIA's inception-2015-12-05.pt (StyleGAN2-ADA's metrics, clean-fid's
//    "legacy_tensorflow" mode): forward(x, return_features=True) with x f32 [N,3,H,W] in 0..255;
//    the module resizes (TensorFlow's way) and normalizes inside.
// Both take grayscale images (C = 1) by repeating the channel 3 times, which is what pytorch-fid
// gets from PIL's convert('RGB') for a grayscale file and what clean-fid and torch-fidelity do.
// The two protocols give different numbers: FIDs are comparable only within one of them.
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "diffmem/model/feature_net.h"
#include "diffmem/model/inception.h"

namespace diffmem::model {

/// images [N,H,W,C] u8 (C 1 or 3, any H, W >= 1) -> [N,3,299,299] f32 in [-1,1] on images'
/// device: pytorch-fid's input for InceptionV3Impl::forward. Other dtypes/shapes are an error
/// naming `where`.
torch::Tensor fid_inception_input(const torch::Tensor& images,
                                  const std::string& where = "Inception-v3 images");

class InceptionFeatures : public FeatureNet {
 public:
  /// pytorch-fid's weights as safetensors (load_inception_v3), run on `device`.
  explicit InceptionFeatures(const std::filesystem::path& weights,
                             const torch::Device& device = torch::kCPU);
  /// A network built and filled by the caller (the tests' formula weights); moved to `device`.
  explicit InceptionFeatures(InceptionV3 net, const torch::Device& device = torch::kCPU);

  /// images [N,H,W,C] u8 (C 1 or 3) -> pool3 [N,2048] f32 on the CPU; one forward per call (the
  /// caller batches).
  torch::Tensor features(const torch::Tensor& images) override;
  int64_t dim() const override { return kInceptionDim; }
  std::string name() const override { return "Inception-v3 pool3 (pytorch-fid)"; }
  bool is_inception() const override { return true; }

 private:
  InceptionV3 net_{nullptr};
  torch::Device device_;
};

class TorchScriptInception : public FeatureNet {
 public:
  /// Loads the TorchScript file `path` onto `device` (eval mode) and calls it once on a
  /// [1,3,299,299] zero batch to learn dim(), so a bad file fails here and not in the middle of a
  /// metric. A missing file, one torch::jit::load rejects, a forward without return_features, or
  /// an output that is not [N,D] is an error naming the file.
  explicit TorchScriptInception(const std::filesystem::path& path,
                                const torch::Device& device = torch::kCPU);
  ~TorchScriptInception() override;

  /// images [N,H,W,C] u8 (C 1 or 3) -> forward(x, return_features=True), x = images as f32 in
  /// 0..255, [N,3,H,W] on the device; -> [N,dim()] f32 on the CPU.
  torch::Tensor features(const torch::Tensor& images) override;
  int64_t dim() const override { return dim_; }
  /// "Inception-v3 pool3 (TorchScript inception-2015-12-05.pt)"
  std::string name() const override;
  /// True when the features are 2048-d (Inception's pool3); a file with other features (a
  /// stand-in, a different net) is not called Inception.
  bool is_inception() const override { return dim_ == kInceptionDim; }

 private:
  torch::Tensor call(const torch::Tensor& x);
  struct Module;  // torch::jit::Module, kept out of this header
  std::unique_ptr<Module> module_;
  std::filesystem::path path_;
  torch::Device device_;
  int64_t dim_ = 0;
};

}  // namespace diffmem::model
