// Exact top-k search, diffmem (integer and float32 arithmetic) vs FAISS IndexFlatL2 vs a bare
// OpenBLAS SGEMM of the same shape, in one process on the same data, one after the other.
//
//   knn_bench [--queries 65536] [--k 50] [--threads 0] [--query-block 0] [--base-block 0]
//             [--select auto|fused|topk] [--noise 0.1] [--seed 0] [--check 32]
//             [--shape fashion|cifar] [--no-faiss] [--no-sgemm] [--no-diffmem] [--no-float]
//             [--data train-images-idx3-ubyte.gz]
//
// Base (--shape fashion): the Fashion-MNIST training images (60,000 × 784); random if the file is
// missing. --shape cifar: 50,000 random CIFAR-shaped images (32×32×3 = 3,072 values, 4×4 colour
// blocks). Queries: training images plus Gaussian noise (σ = --noise of the range), rounded to
// uint8 as generations are. diffmem gets the uint8 arrays (its integer path; the float row is the
// same index with arithmetic float); FAISS and SGEMM their [0,1] float32 rows.
#include <torch/torch.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench_util.h"
#include "diffmem/core/runtime.h"
#include "diffmem/search/knn.h"
#ifdef DIFFMEM_HAVE_IDX
#include "diffmem/io/idx.h"
#include "diffmem/io/tensor_bridge.h"
#endif
#ifdef DIFFMEM_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef DIFFMEM_HAVE_FAISS
#include <faiss/IndexFlat.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;
using diffmem::search::KnnIndex;
using diffmem::search::KnnOptions;
using diffmem::search::KnnResult;
using diffmem::search::KnnSelect;

struct Args {
  int64_t queries = 65536;
  int64_t k = 50;
  int threads = 0;
  int64_t query_block = 0;
  int64_t base_block = 0;
  std::string select = "auto";
  double noise = 0.1;
  int64_t seed = 0;
  int64_t check = 32;
  bool faiss = true, sgemm = true, diffmem = true, float_path = true;
  std::string shape = "fashion";
  std::string data = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
};

Args parse(int argc, char** argv) {
  const bench::Flags f(argc, argv,
                       {"--queries", "--k", "--threads", "--query-block", "--base-block", "--select",
                        "--noise", "--seed", "--check", "--data", "--shape"},
                       {"--no-faiss", "--no-sgemm", "--no-diffmem", "--no-float"},
                       "see the comment at the top of bench/knn_bench.cpp");
  Args a;
  a.queries = f.num("--queries", a.queries);
  a.k = f.num("--k", a.k);
  a.threads = static_cast<int>(f.num("--threads", a.threads));
  a.query_block = f.num("--query-block", a.query_block);
  a.base_block = f.num("--base-block", a.base_block);
  a.select = f.str("--select", a.select);
  a.noise = f.real("--noise", a.noise);
  a.seed = f.num("--seed", a.seed);
  a.check = f.num("--check", a.check);
  a.data = f.str("--data", a.data);
  a.faiss = !f.on("--no-faiss");
  a.sgemm = !f.on("--no-sgemm");
  a.diffmem = !f.on("--no-diffmem");
  a.float_path = !f.on("--no-float");
  a.shape = f.str("--shape", a.shape);
  if (a.shape != "fashion" && a.shape != "cifar") {
    std::fprintf(stderr, "knn_bench: --shape fashion or cifar, found '%s'\n", a.shape.c_str());
    std::exit(2);
  }
  return a;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU seconds of the whole process (all threads, spinning included): on a shared machine the
// wall clock depends on the neighbours, this much less.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Peak resident set of this process since the last reset_peak_rss(), in MiB.
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}
double status_mib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field))) / 1024.0;
  }
  return 0;
}
double peak_rss_mib() { return status_mib("VmHWM:"); }

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string s;
  std::getline(in, s);
  return s;
}

// [N,D] uint8.
torch::Tensor load_base(const Args& a) {
  if (a.shape == "cifar") {
    std::printf("base: 50000 random 32×32×3 images (4×4 colour blocks)\n");
    const torch::Tensor small = torch::randint(0, 256, {50000, 8, 8, 3}, torch::kLong);
    return small.repeat_interleave(4, 1).repeat_interleave(4, 2).to(torch::kByte).flatten(1).contiguous();
  }
#ifdef DIFFMEM_HAVE_IDX
  if (std::filesystem::exists(a.data)) {
    torch::Tensor u8 = diffmem::io::to_tensor(diffmem::io::read_idx(a.data));
    std::printf("base: %s, %lld images\n", a.data.c_str(), static_cast<long long>(u8.size(0)));
    return u8.flatten(1).contiguous();
  }
#endif
  std::printf("base: random 60000 × 784 (no Fashion-MNIST reader or file)\n");
  return torch::randint(0, 256, {60000, 784}).to(torch::kByte);
}

struct Row {
  const char* name;
  double seconds;
  double cpu;
  double rss_mib;
};

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  const int threads = diffmem::core::set_threads(a.threads);
  torch::manual_seed(a.seed);
  const torch::Tensor base_u8 = load_base(a);
  const int64_t n = base_u8.size(0), d = base_u8.size(1), q = a.queries, k = a.k;
  const torch::Tensor pick = torch::randint(0, n, {q});
  const torch::Tensor queries_u8 = base_u8.index_select(0, pick)
                                       .to(torch::kFloat)
                                       .add_(torch::randn({q, d}).mul_(255.0 * a.noise))
                                       .round_()
                                       .clamp_(0, 255)
                                       .to(torch::kByte)
                                       .contiguous();
  const torch::Tensor base = base_u8.to(torch::kFloat).div_(255.0f).contiguous();
  const torch::Tensor queries = queries_u8.to(torch::kFloat).div_(255.0f).contiguous();
  const double flops = 2.0 * double(q) * double(n) * double(d);
  std::printf("queries %lld, base %lld, dim %lld, k %lld, threads %d\n", (long long)q,
              (long long)n, (long long)d, (long long)k, threads);
#ifdef DIFFMEM_HAVE_CBLAS
  std::printf("OpenBLAS kernels: %s (%s)\n", openblas_get_corename(), openblas_get_config());
#endif
  std::printf("load before: %s\n", loadavg().c_str());
  std::printf("resident before the runs (base + queries): %.0f MiB\n", status_mib("VmRSS:"));

  double t_diffmem = 0, t_float = 0, t_faiss = 0, t_sgemm = 0;
  double c_diffmem = 0, c_float = 0, c_faiss = 0, c_sgemm = 0;
  double rss_diffmem = 0, rss_float = 0, rss_faiss = 0, rss_sgemm = 0;
  KnnResult ours;
  std::string arithmetic;
  const auto run_diffmem = [&](diffmem::search::KnnArithmetic arith, double& t, double& c,
                               double& rss) {
    KnnOptions o;
    o.k = k;
    o.query_block = a.query_block;
    o.base_block = a.base_block;
    o.select = a.select == "topk" ? KnnSelect::kTopk
               : a.select == "fused" ? KnnSelect::kFused : KnnSelect::kAuto;
    o.arithmetic = arith;
    reset_peak_rss();
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    const KnnIndex index(base_u8, o);
    KnnResult r = index.search(queries_u8);
    t = seconds_since(t0);
    c = cpu_seconds() - c0;
    rss = peak_rss_mib();
    std::printf("diffmem %s: %.2f s (blocks %lld × %lld, largest temporary %.1f MiB)\n",
                index.arithmetic().c_str(), t, (long long)r.query_block, (long long)r.base_block,
                r.peak_temp_bytes / 1048576.0);
    if (arithmetic.empty()) arithmetic = index.arithmetic();
    return r;
  };
  if (a.diffmem) {
    ours = run_diffmem(diffmem::search::KnnArithmetic::kAuto, t_diffmem, c_diffmem, rss_diffmem);
    if (a.float_path) {
      const KnnResult f =
          run_diffmem(diffmem::search::KnnArithmetic::kFloat, t_float, c_float, rss_float);
      std::printf("integer vs float path: indices agree %.5f, max |Δ distance| %.2e\n",
                  f.indices.eq(ours.indices).to(torch::kDouble).mean().item<double>(),
                  (f.distances - ours.distances).abs().max().item<double>());
    }
  }

#ifdef DIFFMEM_HAVE_FAISS
  if (a.faiss) {
    std::vector<float> fd(static_cast<size_t>(q * k));
    std::vector<faiss::Index::idx_t> fi(static_cast<size_t>(q * k));
    reset_peak_rss();
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    faiss::IndexFlatL2 index(d);
    index.add(n, base.data_ptr<float>());
    index.search(q, queries.data_ptr<float>(), k, fd.data(), fi.data());
    t_faiss = seconds_since(t0);
    c_faiss = cpu_seconds() - c0;
    rss_faiss = peak_rss_mib();
    std::printf("faiss:   %.2f s\n", t_faiss);
    if (a.diffmem) {
      // Same neighbours? FAISS reports squared distances from the GEMM form, unchecked.
      const torch::Tensor fidx = torch::from_blob(fi.data(), {q, k}, torch::kLong);
      const torch::Tensor fdist =
          torch::from_blob(fd.data(), {q, k}, torch::kFloat).clamp_min(0).div(double(d)).sqrt();
      const double same_top1 =
          fidx.select(1, 0).eq(ours.indices.select(1, 0)).to(torch::kDouble).mean().item<double>();
      const double same_all = fidx.eq(ours.indices).to(torch::kDouble).mean().item<double>();
      const double max_dd = (fdist - ours.distances).abs().max().item<double>();
      std::printf("agreement with faiss: top-1 %.5f, all ranks %.5f, max |Δ distance| %.2e\n",
                  same_top1, same_all, max_dd);
    }
  }
#endif

#ifdef DIFFMEM_HAVE_CBLAS
  if (a.sgemm) {
    // The same M×N×K as the search, as tiles of 8192 × 8192 into one reused C: the full
    // 65536 × 60000 product (15.7 GB) does not fit in memory.
    const int64_t tile = 8192;
    std::vector<float> c(static_cast<size_t>(std::min(tile, q) * std::min(tile, n)));
    reset_peak_rss();
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    for (int64_t i = 0; i < q; i += tile) {
      const int64_t m = std::min(tile, q - i);
      for (int64_t j = 0; j < n; j += tile) {
        const int64_t nn = std::min(tile, n - j);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(nn), int(d), 1.0f,
                    queries.data_ptr<float>() + i * d, int(d), base.data_ptr<float>() + j * d,
                    int(d), 0.0f, c.data(), int(nn));
      }
    }
    t_sgemm = seconds_since(t0);
    c_sgemm = cpu_seconds() - c0;
    rss_sgemm = peak_rss_mib();
    std::printf("sgemm:   %.2f s (OpenBLAS, %d threads)\n", t_sgemm, openblas_get_num_threads());
  }
#endif

  if (a.diffmem && a.check > 0) {
    // Exactness against an int64 brute force on a few queries: the k nearest by (‖q−b‖², index)
    // and their distances rounded once.
    const int64_t m = std::min(a.check, q);
    const torch::Tensor bl = base_u8.to(torch::kLong);
    int64_t same = 0, exact = 0;
    for (int64_t i = 0; i < m; ++i) {
      const torch::Tensor diff = bl - queries_u8[i].to(torch::kLong).unsqueeze(0);
      const torch::Tensor sqd = diff.mul(diff).sum(1);
      // Stable sort of index-ordered rows: ties by index.
      const auto sorted = torch::sort(sqd, /*stable=*/true, 0, false);
      const torch::Tensor want = std::get<1>(sorted).narrow(0, 0, k);
      same += want.eq(ours.indices[i]).sum().item<int64_t>();
      const torch::Tensor wd = std::get<0>(sorted).narrow(0, 0, k).to(torch::kDouble)
                                   .div_(double(d) * 65025.0).sqrt_().to(torch::kFloat);
      exact += wd.eq(ours.distances[i]).sum().item<int64_t>();
    }
    std::printf("exactness vs int64 brute force (%lld queries, %s): indices %lld/%lld equal, "
                "distances %lld/%lld equal\n",
                (long long)m, arithmetic.c_str(), (long long)same, (long long)(m * k),
                (long long)exact, (long long)(m * k));
  }

  std::printf("load after: %s\n\n", loadavg().c_str());
  std::printf("| method | wall s | CPU s | queries/s | GFLOP/s | vs FAISS | %% of SGEMM FLOP rate | peak RSS MiB |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Row& r : {Row{"diffmem KnnIndex (auto: integer where available)", t_diffmem, c_diffmem, rss_diffmem},
                       Row{"diffmem KnnIndex, arithmetic float", t_float, c_float, rss_float},
                       Row{"FAISS IndexFlatL2", t_faiss, c_faiss, rss_faiss},
                       Row{"OpenBLAS sgemm only", t_sgemm, c_sgemm, rss_sgemm}}) {
    if (r.seconds <= 0) continue;
    std::printf("| %s | %.2f | %.2f | %.0f | %.1f | %s | %s | %.0f |\n", r.name, r.seconds, r.cpu,
                q / r.seconds, flops / r.seconds / 1e9,
                t_faiss > 0 ? (std::to_string(t_faiss / r.seconds).substr(0, 4) + "×").c_str() : "–",
                t_sgemm > 0 ? (std::to_string(100.0 * t_sgemm / r.seconds).substr(0, 5) + "%").c_str() : "–",
                r.rss_mib);
  }
  // Ratios by CPU seconds too: on a shared machine they are the steadier figure.
  if (c_diffmem > 0) {
    std::printf("\nby CPU seconds: diffmem (auto) %.2f× faster than FAISS, %.1f%% of the SGEMM's "
                "time, %.2f× faster than its float path\n",
                c_faiss > 0 ? c_faiss / c_diffmem : 0.0, c_sgemm > 0 ? 100.0 * c_diffmem / c_sgemm : 0.0,
                c_float > 0 ? c_float / c_diffmem : 0.0);
    std::printf("by wall time: %.2f× faster than FAISS, %.1f%% of the SGEMM's time\n",
                t_faiss > 0 ? t_faiss / t_diffmem : 0.0, t_sgemm > 0 ? 100.0 * t_diffmem / t_sgemm : 0.0);
  }
  return 0;
}
