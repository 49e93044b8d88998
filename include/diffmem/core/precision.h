#pragma once
// Mixed precision (--precision fp32 | bf16 | fp16): LibTorch's autocast, the C++ side of
// torch.autocast. Under it, matrix products and convolutions run in the lower precision while
// reductions, norms and losses stay in f32; weights, optimizer state and EMA stay f32 throughout.
// bf16 runs on the CPU and on CUDA; fp16 on CUDA only, and training with it needs loss scaling
// (train/loss_scaler.h). Torch-free header.
#include <string>

namespace diffmem::core {

/// The precisions accepted by --precision.
inline constexpr const char* kPrecisions = "fp32, bf16 or fp16";

/// Refuses an unknown precision, and fp16 on a device other than CUDA (CPU autocast has no fp16),
/// naming `flag`. `device` is a canonical device string ("cpu", "cuda", "cuda:1").
void check_precision(const std::string& precision, const std::string& device, const std::string& flag);

/// Autocast to the precision's dtype on the device's type for the guard's lifetime; fp32 does
/// nothing. The previous autocast state of this thread comes back on destruction (guards nest).
class AutocastGuard {
 public:
  AutocastGuard(const std::string& precision, const std::string& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  int was_dtype_ = 0;  // at::ScalarType, as an int to keep torch out of this header
};

}  // namespace diffmem::core
