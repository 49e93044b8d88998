#pragma once
// Which feature net the quality metrics use, as the command line and the audit name it: exactly
// one of pytorch-fid's Inception weights (safetensors), NVIDIA's TorchScript Inception, or a
// data-set feature net that `diffmem train-feature-net` trained. Nothing is downloaded.
#include <torch/types.h>

#include <memory>
#include <string>

#include "diffmem/io/fields.h"
#include "diffmem/model/feature_net.h"

namespace diffmem::quality {

struct FeatureSource {
  std::string inception_weights;      ///< --inception-weights: pytorch-fid's weights as safetensors
  std::string inception_torchscript;  ///< --inception-torchscript: inception-2015-12-05.pt
  std::string feature_net;            ///< --feature-net: a folder train-feature-net wrote
  bool empty() const { return inception_weights.empty() && inception_torchscript.empty() && feature_net.empty(); }
};
DIFFMEM_FIELDS(FeatureSource, inception_weights, inception_torchscript, feature_net)

/// Opens the one net named (its files checked now, before any image is read). None or more than
/// one named is an error naming the flags.
std::unique_ptr<model::FeatureNet> open_feature_net(const FeatureSource& source, const torch::Device& device);

}  // namespace diffmem::quality
