#include "diffmem/quality/precision_recall.h"

#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::quality {

namespace {

torch::Tensor checked(const torch::Tensor& x, int64_t k, const std::string& where, const char* which) {
  if (!x.defined() || x.dim() != 2 || x.size(0) <= k)
    fail(where + " (" + which + ")", "features [N,D] with N > k = " + std::to_string(k),
         x.defined() ? io::shape_str(x) : "none");
  torch::Tensor d = x.to(torch::kCPU, torch::kFloat64).contiguous();
  if (!torch::isfinite(d).all().item<bool>()) fail(where + " (" + which + ")", "finite features", "NaN or infinite values");
  return d;
}

// Squared distances of every row of `a` to every row of `b` (their squared norms given).
torch::Tensor sq_dist(const torch::Tensor& a, const torch::Tensor& a_sq, const torch::Tensor& b,
                      const torch::Tensor& b_sq) {
  return (a_sq.unsqueeze(1) + b_sq.unsqueeze(0) - 2 * a.mm(b.t())).clamp_min(0);
}

// Squared radius of each row of x: its k-th nearest other row.
torch::Tensor radii(const torch::Tensor& x, int64_t k, int64_t chunk) {
  const torch::Tensor sq = x.pow(2).sum(1);
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += chunk) {
    const int64_t n = std::min(chunk, x.size(0) - i);
    torch::Tensor d = sq_dist(x.slice(0, i, i + n), sq.slice(0, i, i + n), x, sq);
    d.diagonal(i).fill_(0);  // itself, exactly 0 whatever the rounding: the smallest of k+1
    parts.push_back(std::get<0>(d.topk(k + 1, 1, /*largest=*/false, /*sorted=*/true)).select(1, k));
  }
  return torch::cat(parts);
}

// Share of the rows of q inside any ball (centres c, squared radii r).
double coverage(const torch::Tensor& q, const torch::Tensor& c, const torch::Tensor& r, int64_t chunk) {
  const torch::Tensor q_sq = q.pow(2).sum(1), c_sq = c.pow(2).sum(1);
  int64_t inside = 0;
  for (int64_t i = 0; i < q.size(0); i += chunk) {
    const int64_t n = std::min(chunk, q.size(0) - i);
    const torch::Tensor d = sq_dist(q.slice(0, i, i + n), q_sq.slice(0, i, i + n), c, c_sq);
    inside += (d <= r.unsqueeze(0)).any(1).sum().item<int64_t>();
  }
  return static_cast<double>(inside) / static_cast<double>(q.size(0));
}

}  // namespace

PrecisionRecall precision_recall(const torch::Tensor& real, const torch::Tensor& generated, int64_t k,
                                 const std::string& where, int64_t chunk) {
  if (k < 1) fail("k", "at least 1 neighbour", std::to_string(k));
  if (chunk < 1) fail(where, "a positive chunk", std::to_string(chunk));
  torch::NoGradGuard no_grad;
  const torch::Tensor r = checked(real, k, where, "real"), g = checked(generated, k, where, "generated");
  if (r.size(1) != g.size(1))
    fail(where, "features of the same dimension", std::to_string(r.size(1)) + " and " + std::to_string(g.size(1)));
  PrecisionRecall out;
  out.k = k;
  out.precision = coverage(g, r, radii(r, k, chunk), chunk);
  out.recall = coverage(r, g, radii(g, k, chunk), chunk);
  return out;
}

}  // namespace diffmem::quality
