#include "diffmem/quality/feature_source.h"

#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/model/classifier.h"
#include "diffmem/model/inception_features.h"

namespace diffmem::quality {

std::unique_ptr<model::FeatureNet> open_feature_net(const FeatureSource& s, const torch::Device& device) {
  check_one_net(s, "--inception-weights / --inception-torchscript / --feature-net");
  if (!s.inception_weights.empty()) return std::make_unique<model::InceptionFeatures>(s.inception_weights, device);
  if (!s.inception_torchscript.empty())
    return std::make_unique<model::TorchScriptInception>(s.inception_torchscript, device);
  auto net = std::make_unique<model::ClassifierFeatures>(s.feature_net);
  return net;
}

}  // namespace diffmem::quality
