#pragma once
// A network that turns images into feature vectors for the sample-quality metrics (FID, KID,
// precision/recall: metrics/fid.h): Inception-v3's pool3 (inception.h) or a classifier trained on
// the data set (classifier.h). The metrics batch the images; a FeatureNet sees one batch at a time.
#include <torch/types.h>

#include <string>

namespace diffmem::model {

class FeatureNet {
 public:
  virtual ~FeatureNet() = default;
  /// images [N,H,W,C] uint8 (C 1 or 3; the net converts what it needs) -> features [N,dim()] f32
  /// on the CPU. No gradients are kept.
  virtual torch::Tensor features(const torch::Tensor& images) = 0;
  virtual int64_t dim() const = 0;
  /// What the features are, for summaries and reports: "Inception-v3 pool3 (pytorch-fid)",
  /// "dataset-net (classifier trained on …)". A distance in any space but Inception's is never
  /// called FID.
  virtual std::string name() const = 0;
  /// True for Inception-v3 with real weights the user supplied: then the Fréchet distance is FID.
  virtual bool is_inception() const = 0;
};

}  // namespace diffmem::model
