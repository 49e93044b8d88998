#include "diffmem/core/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/library.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"

namespace diffmem::core {
namespace {

bool is_cuda(const std::string& device) { return device.rfind("cuda", 0) == 0; }

// LibTorch 2.4 replaced the per-device functions (set_enabled for CUDA, set_cpu_enabled, ...)
// with ones taking the device type; 1.13 (Debian's) has only the old ones.
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
c10::DeviceType type_of(bool cuda) { return cuda ? c10::DeviceType::CUDA : c10::DeviceType::CPU; }
bool enabled(bool cuda) { return at::autocast::is_autocast_enabled(type_of(cuda)); }
void set_enabled(bool cuda, bool on) { at::autocast::set_autocast_enabled(type_of(cuda), on); }
at::ScalarType dtype(bool cuda) { return at::autocast::get_autocast_dtype(type_of(cuda)); }
void set_dtype(bool cuda, at::ScalarType t) { at::autocast::set_autocast_dtype(type_of(cuda), t); }
#else
bool enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void set_enabled(bool cuda, bool on) { cuda ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on); }
at::ScalarType dtype(bool cuda) {
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_dtype(bool cuda, at::ScalarType t) {
  cuda ? at::autocast::set_autocast_gpu_dtype(t) : at::autocast::set_autocast_cpu_dtype(t);
}
#endif

#if !defined(TORCH_VERSION_MAJOR) || TORCH_VERSION_MAJOR < 2
// LibTorch 1.13's CPU autocast leaves group_norm out of its f32 list, and its CPU group_norm
// refuses a bf16 input with f32 weights (every GroupNorm after a convolution under autocast).
// This is the f32 policy CUDA's autocast (and LibTorch 2.x's mixed-type kernel) applies.
at::Tensor group_norm_in_f32(const at::Tensor& input, int64_t groups, const c10::optional<at::Tensor>& weight,
                             const c10::optional<at::Tensor>& bias, double eps, bool cudnn_enabled) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  const bool low = input.scalar_type() == at::kBFloat16 || input.scalar_type() == at::kHalf;
  return at::group_norm(low ? input.to(at::kFloat) : input, groups, weight, bias, eps, cudnn_enabled);
}
#endif

}  // namespace

#if !defined(TORCH_VERSION_MAJOR) || TORCH_VERSION_MAJOR < 2
TORCH_LIBRARY_IMPL(aten, AutocastCPU, m) { m.impl("group_norm", TORCH_FN(group_norm_in_f32)); }
#endif

void check_precision(const std::string& precision, const std::string& device, const std::string& flag) {
  check(precision == "fp32" || precision == "bf16" || precision == "fp16", flag, kPrecisions,
        "'" + precision + "'");
  check(precision != "fp16" || is_cuda(device), flag,
        "fp32 or bf16 on " + device + " (fp16 autocast needs a CUDA device)", "fp16");
}

AutocastGuard::AutocastGuard(const std::string& precision, const std::string& device) {
  if (precision == "fp32" || precision.empty()) return;
  check_precision(precision, device, "precision");
  cuda_ = is_cuda(device);
  active_ = true;
  was_enabled_ = enabled(cuda_);
  was_dtype_ = static_cast<int>(dtype(cuda_));
  set_dtype(cuda_, precision == "bf16" ? at::kBFloat16 : at::kHalf);
  set_enabled(cuda_, true);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // The cast weights are cached while autocast is on; the outermost guard drops them (as
  // torch.autocast's __exit__ does), so updated weights are cast afresh next time.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_enabled(cuda_, was_enabled_);
  set_dtype(cuda_, static_cast<at::ScalarType>(was_dtype_));
}

}  // namespace diffmem::core
