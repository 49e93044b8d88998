#include "diffmem/search/knn.h"

#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "diffmem/core/error.h"
#include "blas_threads.h"
#include "knn_fused.h"
#include "knn_int.h"
#include "knn_int_device.h"
#include "diffmem/search/int_gram_device.h"

namespace diffmem::search {
namespace {

constexpr const char* kKnnWhere = "search::knn";
// Integer path blocks (bench/knn_bench.cpp): the GEMM is ~10× cheaper than float32's, so the
// blocks matter less; these keep the int32 slab at 16 MiB as the float path's.
constexpr int64_t kIntQueryBlock = 1024;
constexpr int64_t kIntBaseBlock = 4096;

// Rows of a query or base tensor as [n,D]: [n,H,W,C] u8 images are flattened (a view when
// contiguous, as .npy shards are).
torch::Tensor as_rows(const torch::Tensor& t, const char* what) {
  check(t.defined(), kKnnWhere, std::string(what) + " tensor", "an undefined tensor");
  check(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kByte, kKnnWhere,
        std::string(what) + " of dtype float32 or uint8", std::string(c10::toString(t.scalar_type())));
  if (t.dim() == 2) return t;
  check(t.dim() == 4 && t.scalar_type() == torch::kByte, kKnnWhere,
        std::string(what) + " [N,D] (or [N,H,W,C] uint8)", "shape " + c10::str(t.sizes()));
  return t.flatten(1);
}

// Queries [rows,D] of any dtype/device/layout as contiguous f32 on `device`; a view when possible.
torch::Tensor prepare_block(const torch::Tensor& rows, const torch::Device& device) {
  torch::Tensor t = rows;
  if (t.scalar_type() == torch::kByte) {
    t = t.to(device, torch::kFloat).div_(255.0f);
  } else {
    t = t.to(device, torch::kFloat);
  }
  return t.contiguous();
}

// Squared distance ‖q−b‖² recomputed from the vectors for each reported pair (any device).
// Chunks keep the gathered [c,k,D] rows within the block budget.
void recheck(const torch::Tensor& q, const torch::Tensor& base, torch::Tensor& idx,
                      torch::Tensor& sqd, int64_t budget_floats, int64_t* peak_floats) {
  const int64_t rows = q.size(0);
  const int64_t k = idx.size(1);
  const int64_t d = q.size(1);
  const int64_t chunk = std::max<int64_t>(1, std::min(rows, budget_floats / std::max<int64_t>(1, k * d)));
  *peak_floats = std::max(*peak_floats, chunk * k * d);
  for (int64_t c0 = 0; c0 < rows; c0 += chunk) {
    const int64_t n = std::min(chunk, rows - c0);
    torch::Tensor ids = idx.narrow(0, c0, n);
    torch::Tensor gathered = base.index_select(0, ids.clamp_min(0).reshape({-1})).view({n, k, d});
    gathered.sub_(q.narrow(0, c0, n).unsqueeze(1));
    gathered.mul_(gathered);
    torch::Tensor s = gathered.sum(2);
    s.masked_fill_(ids.lt(0), std::numeric_limits<float>::infinity());
    sqd.narrow(0, c0, n).copy_(s);
  }
}

void sort_rows(torch::Tensor& idx, torch::Tensor& sqd) {
  // Index order first, then a stable sort by distance: ties end up in ascending index order.
  auto by_index = idx.sort(1);
  torch::Tensor d = sqd.gather(1, std::get<1>(by_index));
  auto by_dist = torch::sort(d, /*stable=*/true, /*dim=*/1, /*descending=*/false);
  sqd = std::get<0>(by_dist);
  idx = std::get<0>(by_index).gather(1, std::get<1>(by_dist));
}

}  // namespace

BlockSizes default_block_sizes(const torch::Device& device, int64_t n_queries, int64_t n_base) {
  // CPU: swept with bench/knn_bench.cpp on Fashion-MNIST (BENCHMARKS.md): 512–4096 rows by
  // 1024–8192 columns all land within the machine's noise; 1024 × 4096 (a 16 MiB slab) was never
  // beaten clearly, keeps the base re-packed by the BLAS only once per 1024 queries, and bounds
  // memory modestly. GPU: one slab of 512 MiB keeps the device busy.
  BlockSizes b = device.is_cpu() ? BlockSizes{1024, 4096} : BlockSizes{8192, 16384};
  b.query_block = std::max<int64_t>(1, std::min(b.query_block, n_queries));
  b.base_block = std::max<int64_t>(1, std::min(b.base_block, n_base));
  return b;
}

KnnIndex::KnnIndex(const torch::Tensor& base, KnnOptions options) : options_(options) {
  check(options_.k >= 1, "KnnOptions.k", "k >= 1", std::to_string(options_.k));
  check(options_.query_block >= 0 && options_.base_block >= 0, "KnnOptions",
        "block sizes >= 0 (0 = default)",
        std::to_string(options_.query_block) + ", " + std::to_string(options_.base_block));
  torch::Tensor rows = as_rows(base, "base");
  check(rows.size(0) >= 1 && rows.size(1) >= 1, kKnnWhere, "a non-empty base",
        "shape " + c10::str(rows.sizes()));
  check(options_.select != KnnSelect::kFused || rows.device().is_cpu(), "KnnOptions.select",
        "a CPU base for the fused selection", rows.device().str());
  // Why the integer path does not apply here, or empty when it does.
  std::string not_integer;
  if (rows.scalar_type() != torch::kByte) {
    not_integer = "a float32 base";
  } else if (!rows.device().is_cpu()) {
    not_integer = "a base on " + rows.device().str();
  } else if (rows.size(1) > detail::kIntKnnMaxDim) {
    not_integer = "rows of " + std::to_string(rows.size(1)) + " values (at most " +
                  std::to_string(detail::kIntKnnMaxDim) + ")";
  } else if (!int_gram_kernel().available) {
    not_integer = int_gram_kernel().reason;
  } else if (options_.select == KnnSelect::kTopk && options_.arithmetic == KnnArithmetic::kAuto) {
    not_integer = "select topk";
  }
  if (options_.arithmetic != KnnArithmetic::kFloat && not_integer.empty()) {
    base_ = rows.contiguous();
    const int64_t block = options_.base_block > 0 ? options_.base_block : kIntBaseBlock;
    int_base_ = std::make_shared<const detail::IntKnnBase>(base_, block);
    return;
  }
  // The LibTorch integer path (int8 tensor cores on a GPU): taken by default where _int_mm serves
  // the base's device, and for 'integer' wherever the oneDNN path does not apply (float64 GEMMs).
  std::string not_device;
  if (rows.scalar_type() != torch::kByte) {
    not_device = "a float32 base";
  } else {
    not_device = detail::DeviceIntKnn::unsupported(rows.size(0), rows.size(1));
  }
  const bool device_default = !rows.device().is_cpu() && device_int_mm_available(rows.device());
  check(options_.arithmetic != KnnArithmetic::kInteger || not_device.empty(), "KnnOptions.arithmetic",
        "a uint8 base for 'integer'", not_device);
  if (not_device.empty() && (options_.arithmetic == KnnArithmetic::kInteger ||
                             (options_.arithmetic == KnnArithmetic::kAuto && device_default))) {
    base_ = rows.contiguous();
    const int64_t block = options_.base_block > 0 ? options_.base_block
                                                  : default_block_sizes(base_.device(), 1, size()).base_block;
    device_int_ = std::make_shared<const detail::DeviceIntKnn>(base_, block);
    return;
  }
  base_ = prepare_block(rows, rows.device());
  base_norms_ = torch::empty({base_.size(0)}, base_.options());
  // Norms in chunks so that building the index never needs a second copy of the base.
  const int64_t chunk = 4096;
  for (int64_t i = 0; i < base_.size(0); i += chunk) {
    const int64_t n = std::min(chunk, base_.size(0) - i);
    torch::Tensor b = base_.narrow(0, i, n);
    torch::Tensor out = base_norms_.narrow(0, i, n);
    torch::sum_out(out, b * b, {1});
  }
}

KnnIndex::~KnnIndex() = default;

bool KnnIndex::integer() const { return int_base_ || device_int_; }

std::string KnnIndex::arithmetic() const {
  if (int_base_) return "integer (" + int_gram_kernel().name + ")";
  if (device_int_) return "integer (" + device_int_->kernel() + ")";
  return "float32";
}

torch::Tensor KnnIndex::rows(int64_t start, int64_t length) const {
  return base_.narrow(0, start, length);
}

torch::Tensor KnnIndex::unit_rows(const torch::Tensor& indices) const {
  torch::Tensor r = base_.index_select(0, indices.to(base_.device()).clamp_min(0));
  return integer() ? r.to(torch::kFloat).div_(255.0f) : r;
}

KnnResult KnnIndex::search(const torch::Tensor& queries_in) const {
  const torch::Tensor queries = as_rows(queries_in, "queries");
  if (int_base_) {
    check(queries.size(1) == dim(), kKnnWhere, "queries of dimension " + std::to_string(dim()),
          "dimension " + std::to_string(queries.size(1)));
    check(options_.k <= size(), "KnnOptions.k", "k <= base size " + std::to_string(size()),
          std::to_string(options_.k));
    if (queries.scalar_type() != torch::kByte) {
      KnnOptions fo = options_;
      fo.arithmetic = KnnArithmetic::kFloat;
      return KnnIndex(base_, fo).search(queries);
    }
    KnnResult result;
    result.query_block = options_.query_block > 0 ? options_.query_block : kIntQueryBlock;
    result.query_block = std::max<int64_t>(1, std::min(result.query_block, queries.size(0)));
    result.base_block = int_base_->base_block();
    result.peak_temp_bytes =
        int_base_->search(queries.to(torch::kCPU).contiguous(), options_.k, result.query_block,
                          result.indices, result.distances, result.squared)
            .peak_temp_bytes;
    return result;
  }
  if (device_int_) {
    check(queries.size(1) == dim(), kKnnWhere, "queries of dimension " + std::to_string(dim()),
          "dimension " + std::to_string(queries.size(1)));
    check(options_.k <= size(), "KnnOptions.k", "k <= base size " + std::to_string(size()),
          std::to_string(options_.k));
    if (queries.scalar_type() != torch::kByte) {
      KnnOptions fo = options_;
      fo.arithmetic = KnnArithmetic::kFloat;
      return KnnIndex(base_, fo).search(queries);
    }
    KnnResult result;
    const BlockSizes bs = default_block_sizes(device(), queries.size(0), size());
    result.query_block = options_.query_block > 0 ? options_.query_block : bs.query_block;
    result.query_block = std::max<int64_t>(1, std::min(result.query_block, queries.size(0)));
    result.base_block = device_int_->base_block();
    result.peak_temp_bytes = device_int_->search(queries, options_.k, result.query_block,
                                                 result.indices, result.distances, result.squared);
    return result;
  }
  const int64_t n_queries = queries.size(0);
  const int64_t d = dim();
  const int64_t k = options_.k;
  check(queries.size(1) == d, kKnnWhere, "queries of dimension " + std::to_string(d),
        "dimension " + std::to_string(queries.size(1)));
  check(k <= size(), "KnnOptions.k", "k <= base size " + std::to_string(size()),
        std::to_string(k));

  const torch::Device device = base_.device();
  BlockSizes bs = default_block_sizes(device, n_queries, size());
  if (options_.query_block > 0) bs.query_block = options_.query_block;
  if (options_.base_block > 0) bs.base_block = options_.base_block;
  const bool fused = options_.select == KnnSelect::kFused ||
                     (options_.select == KnnSelect::kAuto && device.is_cpu());

  KnnResult result;
  result.query_block = bs.query_block;
  result.base_block = bs.base_block;
  result.indices = torch::empty({n_queries, k}, base_.options().dtype(torch::kLong));
  result.distances = torch::empty({n_queries, k}, base_.options());
  const int64_t budget = bs.query_block * bs.base_block;
  int64_t peak_floats = budget;
  int64_t peak_host_bytes = 0;
  if (n_queries == 0) {
    result.peak_temp_bytes = 0;
    return result;
  }
  torch::Tensor buffer = torch::empty({budget}, base_.options());
  // Row-parallel GEMMs need a BLAS that can be told to stay single-threaded, and more than one
  // torch thread to split the rows over.
  std::optional<detail::SerialBlas> serial;
  if (fused && at::get_num_threads() > 1) {
    serial.emplace();
  }
  const bool serial_blas = serial && serial->active();
  const bool views_queries = queries.scalar_type() == torch::kFloat &&
                             queries.device() == device && queries.is_contiguous();

  for (int64_t q0 = 0; q0 < n_queries; q0 += bs.query_block) {
    const int64_t rows = std::min(bs.query_block, n_queries - q0);
    torch::Tensor q = prepare_block(queries.narrow(0, q0, rows), device);
    if (!views_queries) peak_floats = std::max(peak_floats, rows * d);
    torch::Tensor idx;
    torch::Tensor sqd;  // ‖q−b‖² per kept candidate, rows sorted by (distance, index)
    if (fused) {
      detail::FusedTopk topk(rows, k);
      peak_host_bytes = std::max(peak_host_bytes, topk.bytes());
      if (serial_blas) {
        // Each thread multiplies and folds its own rows: one fork per query block, and every
        // slab is scanned from the cache of the core that wrote it.
        at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
          for (int64_t b0 = 0; b0 < size(); b0 += bs.base_block) {
            const int64_t cols = std::min(bs.base_block, size() - b0);
            torch::Tensor ip =
                buffer.narrow(0, r0 * bs.base_block, (r1 - r0) * cols).view({r1 - r0, cols});
            torch::mm_out(ip, q.narrow(0, r0, r1 - r0), base_.narrow(0, b0, cols).t());
            topk.fold_rows(r0, r1, ip.data_ptr<float>(), cols, cols,
                           base_norms_.data_ptr<float>() + b0, b0);
          }
        });
      } else {
        for (int64_t b0 = 0; b0 < size(); b0 += bs.base_block) {
          const int64_t cols = std::min(bs.base_block, size() - b0);
          torch::Tensor ip = buffer.narrow(0, 0, rows * cols).view({rows, cols});
          torch::mm_out(ip, q, base_.narrow(0, b0, cols).t());
          topk.fold(ip.data_ptr<float>(), cols, cols, base_norms_.data_ptr<float>() + b0, b0);
        }
      }
      sqd = torch::empty({rows, k}, base_.options());
      idx = torch::empty({rows, k}, base_.options().dtype(torch::kLong));
      if (options_.exact_recheck) {
        topk.finish_exact(q.data_ptr<float>(), base_.data_ptr<float>(), d, sqd.data_ptr<float>(),
                          idx.data_ptr<int64_t>());
      } else {
        topk.finish(sqd.data_ptr<float>(), idx.data_ptr<int64_t>());
        sqd.add_(q.norm(2, {1}, /*keepdim=*/true).square_());
        sqd.masked_fill_(idx.lt(0), std::numeric_limits<float>::infinity());
      }
    } else {
      torch::Tensor val = torch::full({rows, k}, std::numeric_limits<float>::infinity(), base_.options());
      idx = torch::full({rows, k}, -1, base_.options().dtype(torch::kLong));
      for (int64_t b0 = 0; b0 < size(); b0 += bs.base_block) {
        const int64_t cols = std::min(bs.base_block, size() - b0);
        torch::Tensor dist = buffer.narrow(0, 0, rows * cols).view({rows, cols});
        torch::addmm_out(dist, base_norms_.narrow(0, b0, cols).unsqueeze(0), q,
                         base_.narrow(0, b0, cols).t(), /*beta=*/1, /*alpha=*/-2);
        auto block = dist.topk(std::min(k, cols), 1, /*largest=*/false, /*sorted=*/false);
        torch::Tensor all_v = torch::cat({val, std::get<0>(block)}, 1);
        torch::Tensor all_i = torch::cat({idx, std::get<1>(block).add_(b0)}, 1);
        auto best = all_v.topk(k, 1, /*largest=*/false, /*sorted=*/false);
        val = std::get<0>(best);
        idx = all_i.gather(1, std::get<1>(best));
      }
      // topk ranks NaN last but still returns it; report such slots as "no neighbour".
      torch::Tensor bad = val.isnan().logical_or_(val.isinf());
      val.masked_fill_(bad, std::numeric_limits<float>::infinity());
      idx.masked_fill_(bad, -1);
      if (options_.exact_recheck) {
        sqd = torch::empty({rows, k}, base_.options());
        recheck(q, base_, idx, sqd, budget, &peak_floats);
      } else {
        sqd = val.add(q.norm(2, {1}, /*keepdim=*/true).square_());
        sqd.masked_fill_(idx.lt(0), std::numeric_limits<float>::infinity());
      }
      sort_rows(idx, sqd);
    }
    result.indices.narrow(0, q0, rows).copy_(idx);
    result.distances.narrow(0, q0, rows).copy_(sqd.clamp_min_(0).div_(static_cast<double>(d)).sqrt_());
  }
  result.peak_temp_bytes = std::max<int64_t>(peak_floats * 4, peak_host_bytes);
  return result;
}

KnnResult knn(const torch::Tensor& queries, const torch::Tensor& base, const KnnOptions& options) {
  return KnnIndex(base, options).search(queries);
}

}  // namespace diffmem::search
