#pragma once
// Private to the membership-inference scorers: the work of a per-example statistic as a flat list
// of items (example-major, slot-minor), cut into batches of model inputs. Per-item values are summed
// per example in slot order, in double, so a score never depends on where the batch boundaries fell.
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"

namespace diffmem::attack::detail {

struct ItemBatch {
  torch::Tensor x0;              // [B,C,H,W] f32 in [-1,1] on the device; mirrored where flipped
  std::vector<int64_t> example;  // data row of each item
  std::vector<int64_t> slot;     // 0 .. per_example − 1
};

struct ItemLayout {
  int64_t per_example = 1;  // items per example
  int64_t flip_from = 1;    // slots >= flip_from see the mirrored image (= per_example: none)
  int64_t batch = 256;      // items per call of fn
};

/// Calls fn on consecutive batches (fn returns [B] per-item values, any device) and returns, per
/// row of ds, the mean of its items' values. Progress: stage `stage`, unit "examples".
std::vector<double> mean_over_items(const data::Dataset& ds, const ItemLayout& layout,
                                    const torch::Device& device,
                                    const std::function<torch::Tensor(const ItemBatch&)>& fn,
                                    const ProgressFn& progress, const std::string& stage);

}  // namespace diffmem::attack::detail
