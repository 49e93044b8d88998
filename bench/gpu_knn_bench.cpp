// Exact k-NN on one device (the GPU issue's bench; scripts/gpu-check.sh runs it on CUDA): diffmem's
// KnnIndex against a plain LibTorch baseline on the same device in the same run —
// torch::cdist + topk over query blocks, what a PyTorch user writes — and against the device's own
// dense f32 GEMM rate (torch::mm on square matrices), so the search is also a fraction of the peak.
//
//   gpu_knn_bench [--device cuda] [--queries 131072] [--base 50000] [--dim 3072] [--k 10]
//                 [--block 8192] [--rounds 1] [--gemm 8192] [--baseline-queries 8192] [--seed 0]
//                 [--json out.json]
//
// The baseline runs on the first --baseline-queries queries only (its f32 GEMMs over all 2^17
// would take minutes of a GPU's time); the two are compared in queries per second.
// Data: CIFAR-shaped uint8 rows (uniform bytes); queries are base rows plus noise, so each has a
// true nearest neighbour. diffmem searches the uint8 rows (exact integer distances where the
// device supports them, arithmetic() says which); the baseline searches the same rows as f32 in
// [0, 1]. The bench reports how often the two top-1 indices agree (ties aside, 1.0). Runs on the
// CPU as well (small sizes) so that the bench itself can be checked without a GPU.
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "diffmem/core/runtime.h"
#include "diffmem/io/json.h"
#include "diffmem/search/knn.h"

using namespace diffmem;

namespace {

void sync(const torch::Device& d) {
  // A tiny read-back waits for the device's queue (torch::cuda::synchronize is not in every
  // LibTorch's C++ API).
  if (d.is_cuda()) (void)torch::zeros({1}, torch::TensorOptions().device(d)).sum().item<float>();
}

double timed(const torch::Device& d, const std::function<void()>& f) {
  sync(d);
  const double t0 = bench::now_s();
  f();
  sync(d);
  return bench::now_s() - t0;
}

}  // namespace

int run(int argc, char** argv) {
  const bench::Flags f(argc, argv,
                       {"--device", "--queries", "--base", "--dim", "--k", "--block", "--rounds",
                        "--gemm", "--seed", "--json", "--baseline-queries"},
                       {}, "see the comment at the top of bench/gpu_knn_bench.cpp");
  const torch::Device dev(core::resolve_device(f.str("--device", "cuda")));
  const int64_t q = f.num("--queries", 131072), n = f.num("--base", 50000), d = f.num("--dim", 3072),
                k = f.num("--k", 10), block = f.num("--block", 8192), gemm = f.num("--gemm", 8192);
  const int64_t rounds = std::max<long long>(1, f.num("--rounds", 1));
  const int64_t bq = std::min<long long>(q, f.num("--baseline-queries", 8192));
  if (q < 1 || n < k || d < 1 || k < 1 || block < 1 || gemm < 1 || bq < 1) {
    std::fprintf(stderr, "gpu_knn_bench: need --queries >= 1, --base >= --k >= 1, --dim, --block, --gemm, "
                         "--baseline-queries >= 1\n");
    return 2;
  }
  torch::manual_seed(f.num("--seed", 0));
  const auto on = torch::TensorOptions().device(dev);
  const torch::Tensor base_u8 = torch::randint(0, 256, {n, d}, on.dtype(torch::kByte));
  const torch::Tensor pick = torch::randint(0, n, {q}, on.dtype(torch::kLong));
  const torch::Tensor queries_u8 = base_u8.index_select(0, pick)
                                       .to(torch::kFloat)
                                       .add_(torch::randn({q, d}, on).mul_(25.5))
                                       .round_()
                                       .clamp_(0, 255)
                                       .to(torch::kByte);
  std::printf("gpu_knn_bench: %lld queries × %lld base rows × %lld dims, k %lld, on %s\n",
              (long long)q, (long long)n, (long long)d, (long long)k, dev.str().c_str());

  // diffmem: the index is built once (as extract does), the search is what is timed.
  search::KnnOptions ko;
  ko.k = k;
  const search::KnnIndex index(base_u8, ko);
  search::KnnResult ours;
  double t_ours = 1e300;
  for (int64_t r = 0; r < rounds; ++r)
    t_ours = std::min(t_ours, timed(dev, [&] { ours = index.search(queries_u8); }));
  std::printf("  diffmem %-34s %8.3f s  %10.0f queries/s\n", index.arithmetic().c_str(), t_ours, q / t_ours);

  // Baseline: cdist + topk per query block on f32 rows in [0, 1].
  const torch::Tensor base_f = base_u8.to(torch::kFloat).div_(255.0f);
  torch::Tensor top1;
  double t_base = 1e300;
  for (int64_t r = 0; r < rounds; ++r) {
    t_base = std::min(t_base, timed(dev, [&] {
      std::vector<torch::Tensor> idx;
      for (int64_t s = 0; s < bq; s += block) {
        const torch::Tensor qb = queries_u8.slice(0, s, std::min(bq, s + block)).to(torch::kFloat).div_(255.0f);
        idx.push_back(std::get<1>(torch::cdist(qb, base_f).topk(k, 1, /*largest=*/false)));
      }
      top1 = torch::cat(idx).select(1, 0);
    }));
  }
  std::printf("  torch::cdist + topk (%lld queries)       %8.3f s  %10.0f queries/s\n", (long long)bq,
              t_base, bq / t_base);
  const double agree =
      ours.indices.slice(0, 0, bq).select(1, 0).to(top1.device()).eq(top1).to(torch::kDouble).mean().item<double>();
  const double speedup = (q / t_ours) / (bq / t_base);

  // The device's f32 GEMM rate, and the search's GEMM work as a fraction of it.
  const torch::Tensor a = torch::randn({gemm, gemm}, on), b = torch::randn({gemm, gemm}, on);
  torch::Tensor c;
  double t_gemm = 1e300;
  for (int64_t r = 0; r < rounds + 1; ++r) t_gemm = std::min(t_gemm, timed(dev, [&] { c = torch::mm(a, b); }));
  const double gemm_flops = 2.0 * gemm * gemm * gemm / t_gemm;
  const double search_flops = 2.0 * double(q) * double(n) * double(d) / t_ours;
  std::printf("  f32 GEMM %lld³: %.1f TFLOP/s; diffmem's search runs %.1f TFLOP/s of GEMM work (%.0f%% of it)\n",
              (long long)gemm, gemm_flops / 1e12, search_flops / 1e12, 100 * search_flops / gemm_flops);
  std::printf("  speed-up over the baseline (queries/s) %.2fx; top-1 agreement %.5f\n", speedup, agree);

  if (f.on("--json")) {
    io::write_json(f.str("--json", ""),
                   io::Json{{"bench", "knn"}, {"device", dev.str()}, {"queries", q}, {"base", n}, {"dim", d},
                            {"k", k}, {"arithmetic", index.arithmetic()}, {"diffmem_s", t_ours},
                            {"baseline", "torch::cdist + topk"}, {"baseline_queries", bq},
                            {"baseline_s", t_base}, {"speedup", speedup}, {"top1_agreement", agree},
                            {"gemm_f32_tflops", gemm_flops / 1e12}, {"search_tflops", search_flops / 1e12}});
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // no CUDA device, out of memory: one line, not an abort
    std::fprintf(stderr, "gpu_knn_bench: %s\n", e.what());
    return 1;
  }
}
