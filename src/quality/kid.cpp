#include "diffmem/quality/kid.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::quality {

namespace {

torch::Tensor checked(const torch::Tensor& x, const std::string& where, const char* which) {
  if (!x.defined() || x.dim() != 2 || x.size(0) < 2)
    fail(where + " (" + which + ")", "features [N,D] with N >= 2", x.defined() ? io::shape_str(x) : "none");
  torch::Tensor d = x.to(torch::kCPU, torch::kFloat64).contiguous();
  if (!torch::isfinite(d).all().item<bool>()) fail(where + " (" + which + ")", "finite features", "NaN or infinite values");
  return d;
}

}  // namespace

KidResult kernel_distance(const torch::Tensor& a, const torch::Tensor& b, const KidOptions& options,
                          const std::string& where) {
  if (options.subsets < 1) fail("subsets", "at least 1 subset", std::to_string(options.subsets));
  if (options.subset_size < 2) fail("subset_size", "at least 2 vectors per subset", std::to_string(options.subset_size));
  torch::NoGradGuard no_grad;
  const torch::Tensor x = checked(a, where, "first"), y = checked(b, where, "second");
  if (x.size(1) != y.size(1))
    fail(where, "features of the same dimension", std::to_string(x.size(1)) + " and " + std::to_string(y.size(1)));
  const int64_t m = std::min({options.subset_size, x.size(0), y.size(0)});
  const double d = static_cast<double>(x.size(1));
  torch::Generator gen = at::detail::createCPUGenerator(options.seed);
  std::vector<double> values;
  values.reserve(options.subsets);
  const double off = static_cast<double>(m) * (m - 1);
  for (int64_t s = 0; s < options.subsets; ++s) {
    const torch::Tensor fx = x.index_select(0, torch::randperm(x.size(0), gen, torch::kLong).slice(0, 0, m));
    const torch::Tensor fy = y.index_select(0, torch::randperm(y.size(0), gen, torch::kLong).slice(0, 0, m));
    const torch::Tensor kxx = (fx.mm(fx.t()) / d + 1).pow(3), kyy = (fy.mm(fy.t()) / d + 1).pow(3),
                        kxy = (fx.mm(fy.t()) / d + 1).pow(3);
    const double v = (kxx.sum().item<double>() - kxx.trace().item<double>()) / off +
                     (kyy.sum().item<double>() - kyy.trace().item<double>()) / off -
                     2 * kxy.sum().item<double>() / (static_cast<double>(m) * m);
    values.push_back(v);
  }
  KidResult r;
  r.subsets = options.subsets;
  r.subset_size = m;
  for (double v : values) r.mean += v;
  r.mean /= static_cast<double>(values.size());
  double ss = 0;
  for (double v : values) ss += (v - r.mean) * (v - r.mean);
  r.std = std::sqrt(ss / static_cast<double>(values.size()));  // np.std (ddof 0), as torch-fidelity
  r.standard_error = r.std / std::sqrt(static_cast<double>(values.size()));
  return r;
}

}  // namespace diffmem::quality
