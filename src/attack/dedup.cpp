#include "diffmem/attack/dedup.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "diffmem/core/error.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

void validate(const DedupOptions& o) {
  check(o.metric == "l2" || o.metric == "cosine", "--metric", "l2 or cosine", "\"" + o.metric + "\"");
  check(std::isfinite(o.threshold), "--threshold", "a finite number", std::to_string(o.threshold));
  if (o.metric == "l2")
    check(o.threshold >= 0, "--threshold", "a distance >= 0 for metric l2", std::to_string(o.threshold));
  else
    check(o.threshold >= -1 && o.threshold <= 1, "--threshold",
          "a cosine similarity in [-1, 1] for metric cosine", std::to_string(o.threshold));
  check(o.k >= 1, "--k", "at least 1 neighbour", std::to_string(o.k));
}

std::vector<int64_t> DedupResult::keep() const {
  std::vector<int64_t> rows_kept;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t g = group[static_cast<size_t>(r)];
    if (g < 0 || groups[static_cast<size_t>(g)].front() == r) rows_kept.push_back(r);
  }
  return rows_kept;
}

namespace {

int64_t find_root(std::vector<int64_t>& parent, int64_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

}  // namespace

DedupResult find_duplicates(const torch::Tensor& rows_in, const DedupOptions& options,
                            const ProgressFn& progress) {
  validate(options);
  const auto t0 = std::chrono::steady_clock::now();
  check(rows_in.defined() && (rows_in.dim() == 2 || (rows_in.dim() == 4 && rows_in.scalar_type() == torch::kByte)),
        "attack::find_duplicates", "rows [N,D] (f32 or u8) or images [N,H,W,C] u8",
        rows_in.defined() ? c10::str(rows_in.sizes()) : "an undefined tensor");
  const int64_t n = rows_in.size(0);
  check(n >= 2, "attack::find_duplicates", "at least 2 rows", std::to_string(n));
  const torch::Device device(options.device);
  torch::Tensor rows = rows_in;
  const bool cosine = options.metric == "cosine";
  if (cosine) {
    rows = rows.flatten(1).to(device, torch::kFloat);
    if (rows_in.scalar_type() == torch::kByte) rows.div_(255.0f);
    const torch::Tensor norms = rows.norm(2, {1});
    const torch::Tensor zero = norms.eq(0).nonzero();
    if (zero.size(0) > 0)
      fail("attack::find_duplicates", "rows with a non-zero norm for metric cosine",
           "row " + std::to_string(zero[0][0].item<int64_t>()) + " is all zeros");
    rows = rows / norms.unsqueeze(1);
  } else {
    rows = rows.to(device);
  }
  search::KnnOptions ko = options.knn;
  ko.k = std::min<int64_t>(options.k + 1, n);
  const search::KnnIndex index(rows, ko);
  const int64_t d = index.dim();

  DedupResult r;
  r.rows = n;
  ProgressMeter meter(progress, "dedup", n, "rows");
  const int64_t chunk = 4096;
  for (int64_t q0 = 0; q0 < n; q0 += chunk) {
    const int64_t m = std::min(chunk, n - q0);
    const search::KnnResult knn = index.search(index.rows(q0, m));
    const torch::Tensor idx = knn.indices.to(torch::kCPU).contiguous();
    const torch::Tensor dist = knn.distances.to(torch::kCPU).contiguous();
    const int64_t* pi = idx.data_ptr<int64_t>();
    const float* pd = dist.data_ptr<float>();
    for (int64_t a = 0; a < m; ++a) {
      const int64_t i = q0 + a;
      int64_t seen = 0, within = 0;
      for (int64_t c = 0; c < ko.k && seen < options.k; ++c) {
        const int64_t j = pi[a * ko.k + c];
        if (j == i || j < 0) continue;
        ++seen;
        const float dj = pd[a * ko.k + c];
        const float sim = cosine ? static_cast<float>(1.0 - double(d) * dj * dj / 2.0) : 0.0f;
        if (cosine ? sim < options.threshold : dj > options.threshold) continue;
        ++within;
        r.pairs.push_back({std::min(i, j), std::max(i, j), dj, sim});
      }
      r.saturated += seen == options.k && within == options.k;
    }
    meter.update(q0 + m);
  }
  // Each pair is usually found from both ends; keep one (the smaller distance).
  std::sort(r.pairs.begin(), r.pairs.end(), [](const DuplicatePair& a, const DuplicatePair& b) {
    return a.i != b.i ? a.i < b.i : a.j != b.j ? a.j < b.j : a.distance < b.distance;
  });
  r.pairs.erase(std::unique(r.pairs.begin(), r.pairs.end(),
                            [](const DuplicatePair& a, const DuplicatePair& b) { return a.i == b.i && a.j == b.j; }),
                r.pairs.end());

  std::vector<int64_t> parent(static_cast<size_t>(n));
  std::iota(parent.begin(), parent.end(), 0);
  for (const DuplicatePair& p : r.pairs) {
    const int64_t a = find_root(parent, p.i), b = find_root(parent, p.j);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
  // Roots are each component's smallest row, so scanning rows in order numbers groups by first row.
  std::vector<int64_t> size(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) ++size[find_root(parent, i)];
  std::vector<int64_t> group_of_root(static_cast<size_t>(n), -1);
  r.group.assign(static_cast<size_t>(n), -1);
  r.counts.assign(static_cast<size_t>(n), 1);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t root = find_root(parent, i);
    r.counts[i] = size[root];
    if (size[root] < 2) continue;
    if (group_of_root[root] < 0) {
      group_of_root[root] = static_cast<int64_t>(r.groups.size());
      r.groups.emplace_back();
    }
    r.group[i] = group_of_root[root];
    r.groups[group_of_root[root]].push_back(i);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  meter.finish(std::to_string(r.groups.size()) + " groups");
  return r;
}

torch::Tensor load_embeddings(const fs::path& path) {
  const io::HostArray a = io::read_npy(path);
  check(a.dtype == io::DType::kF32 && a.shape.size() == 2 && a.shape[0] >= 1 && a.shape[1] >= 1,
        path.string(), "float32 embeddings [N,D]", io::dtype_name(a.dtype) + " " + io::shape_str(a.shape));
  torch::Tensor t = io::to_tensor(a);
  check(torch::isfinite(t).all().item<bool>(), path.string(), "finite values", "NaN or infinity");
  return t;
}

}  // namespace diffmem::attack
