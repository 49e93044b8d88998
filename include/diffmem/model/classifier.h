#pragma once
// The data-set feature net: a small convolutional classifier that diffmem trains on a data set's
// labels (train/feature_net_train.h) when Inception weights are not at hand. Its features — the
// global average of the last convolution, as Inception's pool3 is — give a "Fréchet distance in
// this net's space", never called FID. Saved as a folder: config.json (this file's fields) and
// model.safetensors.
//   conv 3×3 (C→w) ReLU, max-pool 2 · conv 3×3 (w→2w) ReLU, max-pool 2 · conv 3×3 (2w→4w) ReLU,
//   global average -> features [4w] · linear (4w→classes) -> logits
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <memory>
#include <string>

#include "diffmem/io/fields.h"
#include "diffmem/model/feature_net.h"

namespace diffmem::model {

struct ClassifierConfig {
  int64_t height = 28, width = 28, channels = 1;  ///< the images it was trained on
  int64_t classes = 10;
  int64_t base_width = 32;  ///< features are 4 × base_width
  std::string trained_on;   ///< the data set folder, for the features' name
};
DIFFMEM_FIELDS(ClassifierConfig, height, width, channels, classes, base_width, trained_on)

/// Throws diffmem::Error naming `where` and the field for sizes below 1, channels not 1 or 3,
/// fewer than 2 classes.
void validate(const ClassifierConfig& config, const std::string& where);

class ClassifierImpl : public torch::nn::Module {
 public:
  explicit ClassifierImpl(const ClassifierConfig& config);
  /// x [B,C,H,W] f32 in [-1, 1] -> features [B, 4·base_width].
  torch::Tensor features(const torch::Tensor& x);
  /// features -> logits [B, classes].
  torch::Tensor head(const torch::Tensor& features);
  torch::Tensor forward(const torch::Tensor& x) { return head(features(x)); }
  const ClassifierConfig& config() const { return config_; }

 private:
  ClassifierConfig config_;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Classifier);

/// uint8 [N,H,W,C] -> f32 [N,C,H,W] in [-1, 1], as the classifier trains and reads images.
torch::Tensor classifier_input(const torch::Tensor& images);

/// Writes dir/model.safetensors, then dir/config.json (each atomically).
void save_classifier(const std::filesystem::path& dir, ClassifierImpl& model);
/// Reads a folder save_classifier wrote; strict about names, shapes and finite weights.
Classifier load_classifier(const std::filesystem::path& dir);

/// A trained classifier as a FeatureNet. Images must have the size and channels it was trained on
/// (an error naming the folder otherwise).
class ClassifierFeatures : public FeatureNet {
 public:
  explicit ClassifierFeatures(const std::filesystem::path& dir);
  torch::Tensor features(const torch::Tensor& images) override;
  int64_t dim() const override;
  std::string name() const override;
  bool is_inception() const override { return false; }

 private:
  std::filesystem::path dir_;
  Classifier net_{nullptr};
};

}  // namespace diffmem::model
