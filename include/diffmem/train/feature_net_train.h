#pragma once
// Trains the data-set feature net (model/classifier.h) on a data set's labels, for the quality
// metrics when Inception weights are not at hand. Seeded and resumable: the held-out share, the
// initial weights and every epoch's order derive from the seed alone, and a checkpoint after each
// epoch (weights, Adam moments) lets a killed run finish with the same bytes as an unbroken one
// (same thread count).
//
// The folder it leaves: config.json + model.safetensors (the net), train.json (options,
// accuracies, cost; written last: the run's completion mark), checkpoint.safetensors while running.
#include <cstdint>
#include <filesystem>
#include <string>

#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/fields.h"

namespace diffmem::train {

struct FeatureNetOptions {
  int64_t epochs = 8;
  int64_t batch = 128;
  double lr = 1e-3;
  int64_t base_width = 32;  ///< features are 4 × this wide
  double holdout = 0.1;     ///< share of distinct images (by id) kept out to measure accuracy
  uint64_t seed = 0;
};
DIFFMEM_FIELDS(FeatureNetOptions, epochs, batch, lr, base_width, holdout, seed)

/// Throws diffmem::Error naming the field for epochs < 1, batch < 1, lr <= 0, base_width < 1 or
/// holdout outside [0, 0.5].
void validate(const FeatureNetOptions& options, const std::string& where);

struct FeatureNetResult {
  std::filesystem::path dir;
  int64_t classes = 0, train_images = 0, heldout_images = 0;
  int64_t start_epoch = 0;  ///< > 0 when resumed
  bool already_done = false;
  double train_accuracy = 0, heldout_accuracy = 0;  ///< held-out NaN when holdout is 0
  double seconds = 0;                               ///< this invocation
};

/// Trains on `ds` (labels 0..classes-1, at least 2 classes; `where` names the data set in errors
/// and in the net's name) into `out`. A finished folder with the same options is left as it is.
FeatureNetResult train_feature_net(const data::Dataset& ds, const std::string& where,
                                   const std::filesystem::path& out, const FeatureNetOptions& options,
                                   const ProgressFn& progress = {});

}  // namespace diffmem::train
