#pragma once
// The options of the quality metrics and which feature net they use, torch-free (the audit's
// options and the CLI hold them; quality_run.h, kid.h and feature_source.h do the work).
#include <cstdint>
#include <string>

#include "diffmem/io/fields.h"

namespace diffmem::quality {

/// KID's subsets (kid.h).
struct KidOptions {
  int64_t subsets = 100;       ///< torch-fidelity's default
  int64_t subset_size = 1000;  ///< lowered to the smaller set's size when that is smaller
  uint64_t seed = 0;
};
DIFFMEM_FIELDS(KidOptions, subsets, subset_size, seed)

struct QualityOptions {
  int64_t batch = 50;  ///< images per feature-net call (pytorch-fid's default)
  KidOptions kid;
  int64_t pr_k = 3;    ///< neighbours for precision/recall; 0 leaves them out
  bool kid_on = true;  ///< false leaves KID out
};
DIFFMEM_FIELDS(QualityOptions, batch, kid, pr_k, kid_on)

/// Throws diffmem::Error naming `where` and the field for batch < 1, pr_k < 0, kid.subsets < 1
/// or kid.subset_size < 2.
void validate(const QualityOptions& options, const std::string& where);

/// Exactly one of these names the feature net (feature_source.h opens it). Nothing is downloaded.
struct FeatureSource {
  std::string inception_weights;      ///< pytorch-fid's Inception-v3 weights as safetensors: FID
  std::string inception_torchscript;  ///< NVIDIA's TorchScript inception-2015-12-05.pt: FID
  std::string feature_net;            ///< a folder `diffmem train-feature-net` wrote: FD, not FID
  bool empty() const { return inception_weights.empty() && inception_torchscript.empty() && feature_net.empty(); }
};
DIFFMEM_FIELDS(FeatureSource, inception_weights, inception_torchscript, feature_net)

/// Throws diffmem::Error naming `keys` (the flags or option keys that set them) unless exactly one
/// net is named.
void check_one_net(const FeatureSource& source, const std::string& keys);

}  // namespace diffmem::quality
