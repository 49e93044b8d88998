#include "diffmem/search/int_gram_device.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>

#include "diffmem/core/error.h"

#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2))
#define DIFFMEM_HAVE_INT_MM 1
#endif

namespace diffmem::search {
namespace {

constexpr const char* kDeviceGramWhere = "search::shifted_gram";
// Columns per int32 product: |a'·b'| ≤ 128² · 65,536 = 2^30 < 2^31.
constexpr int64_t kInt32Chunk = 65536;
// The float64 path converts a column chunk of both operands at once; this bounds that copy to
// 2^26 doubles (512 MiB).
constexpr int64_t kF64Values = int64_t(1) << 26;

int64_t round_up8(int64_t v) { return (v + 7) / 8 * 8; }

void check_operands(const torch::Tensor& a, const torch::Tensor& b) {
  for (const torch::Tensor* t : {&a, &b}) {
    check(t->defined() && t->dim() == 2 && t->scalar_type() == torch::kChar, kDeviceGramWhere,
          "shifted rows [N,K] int8 (shift_u8_rows)",
          t->defined() ? c10::str(t->sizes()) + " " + c10::toString(t->scalar_type())
                       : std::string("an undefined tensor"));
  }
  check(a.size(1) == b.size(1), kDeviceGramWhere, "operands of one row length",
        std::to_string(a.size(1)) + " and " + std::to_string(b.size(1)));
  check(a.device() == b.device(), kDeviceGramWhere, "operands on one device",
        a.device().str() + " and " + b.device().str());
}

#ifdef DIFFMEM_HAVE_INT_MM
torch::Tensor pad_rows(const torch::Tensor& t, int64_t rows) {
  if (t.size(0) == rows) return t;
  torch::Tensor out = torch::zeros({rows, t.size(1)}, t.options());
  out.narrow(0, 0, t.size(0)).copy_(t);
  return out;
}
#endif

}  // namespace

bool device_int_mm_available(const torch::Device& device) {
#ifdef DIFFMEM_HAVE_INT_MM
  return device.is_cuda();
#else
  (void)device;
  return false;
#endif
}

std::string device_int_gram_name(const torch::Device& device) {
  return device_int_mm_available(device) ? "torch::_int_mm (int8 tensor cores)" : "float64 GEMM (exact)";
}

torch::Tensor shift_u8_rows(const torch::Tensor& rows) {
  check(rows.defined() && rows.dim() == 2 && rows.scalar_type() == torch::kByte,
        "search::shift_u8_rows", "uint8 rows [N,D]",
        rows.defined() ? c10::str(rows.sizes()) + " " + c10::toString(rows.scalar_type())
                       : std::string("an undefined tensor"));
  torch::Tensor out = torch::zeros({rows.size(0), round_up8(rows.size(1))}, rows.options().dtype(torch::kChar));
  // Through int16, so that 128..255 become 0..127 rather than wrapping.
  out.narrow(1, 0, rows.size(1)).copy_(rows.to(torch::kShort).sub_(128));
  return out;
}

torch::Tensor shifted_norms(const torch::Tensor& shifted) {
  check_operands(shifted, shifted);
  torch::Tensor out = torch::empty({shifted.size(0)}, shifted.options().dtype(torch::kLong));
  const int64_t chunk = 4096;
  for (int64_t i = 0; i < shifted.size(0); i += chunk) {
    const int64_t n = std::min(chunk, shifted.size(0) - i);
    const torch::Tensor s = shifted.narrow(0, i, n).to(torch::kInt);
    torch::Tensor o = out.narrow(0, i, n);
    torch::sum_out(o, s * s, {1}, /*keepdim=*/false, torch::kLong);
  }
  return out;
}

torch::Tensor shifted_gram_f64(const torch::Tensor& a, const torch::Tensor& b) {
  check_operands(a, b);
  const int64_t m = a.size(0), n = b.size(0), k = a.size(1);
  torch::Tensor out = torch::zeros({m, n}, a.options().dtype(torch::kLong));
  if (m == 0 || n == 0 || k == 0) return out;
  const int64_t chunk = std::max<int64_t>(8, std::min(k, kF64Values / (m + n)) / 8 * 8);
  for (int64_t k0 = 0; k0 < k; k0 += chunk) {
    const int64_t kc = std::min(chunk, k - k0);
    const torch::Tensor ad = a.narrow(1, k0, kc).to(torch::kDouble);
    const torch::Tensor bd = b.narrow(1, k0, kc).to(torch::kDouble);
    // Integer products and sums below 2^53: the float64 result is the exact integer.
    out.add_(torch::mm(ad, bd.t()).to(torch::kLong));
  }
  return out;
}

torch::Tensor shifted_gram(const torch::Tensor& a, const torch::Tensor& b) {
  check_operands(a, b);
  if (!device_int_mm_available(a.device())) return shifted_gram_f64(a, b);
#ifdef DIFFMEM_HAVE_INT_MM
  const int64_t m = a.size(0), n = b.size(0), k = a.size(1);
  check(k % 8 == 0, kDeviceGramWhere, "a row length that is a multiple of 8 (shift_u8_rows pads it)",
        std::to_string(k));
  torch::Tensor out = torch::zeros({m, n}, a.options().dtype(torch::kLong));
  if (m == 0 || n == 0 || k == 0) return out;
  // _int_mm wants more than 16 rows on the left and a multiple of 8 columns on the right.
  const torch::Tensor ap = pad_rows(a, std::max<int64_t>(m, 17));
  const torch::Tensor bp = pad_rows(b, round_up8(n));
  for (int64_t k0 = 0; k0 < k; k0 += kInt32Chunk) {
    const int64_t kc = std::min(kInt32Chunk, k - k0);
    const torch::Tensor ac = ap.narrow(1, k0, kc).contiguous();
    const torch::Tensor bc = bp.narrow(1, k0, kc).contiguous();
    const torch::Tensor g = at::_int_mm(ac, bc.t());
    out.add_(g.narrow(0, 0, m).narrow(1, 0, n));
  }
  return out;
#else
  return shifted_gram_f64(a, b);
#endif
}

}  // namespace diffmem::search
