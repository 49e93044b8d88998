#pragma once
// Which feature net the quality metrics use, as the command line and the audit name it: exactly
// one of pytorch-fid's Inception weights (safetensors), NVIDIA's TorchScript Inception, or a
// data-set feature net that `diffmem train-feature-net` trained. Nothing is downloaded.
#include <torch/types.h>

#include <memory>
#include <string>

#include "diffmem/quality/quality_options.h"
#include "diffmem/model/feature_net.h"

namespace diffmem::quality {

/// Opens the one net named (its files checked now, before any image is read). None or more than
/// one named is an error naming the flags.
std::unique_ptr<model::FeatureNet> open_feature_net(const FeatureSource& source, const torch::Device& device);

}  // namespace diffmem::quality
