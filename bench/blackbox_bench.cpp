// The black-box filter for one prompt group (Carlini et al. §4.2): N generations at S×S×3,
// pairwise tiled ℓ2 (G×G tiles, one GEMM per tile) + graph + exact maximum clique, against
//   - a direct per-pair loop (plain C++, float accumulators) on the first --subset images,
//     extrapolated to all N(N−1)/2 pairs (stated as such in the output);
//   - torch per-pair: search::tiled_l2 over batches of (i, j) rows on the same subset, extrapolated;
//   - a plain SGEMM of exactly the tile GEMMs' shapes (G² products [N×d]·[d×N], d = S²·3/G²) on
//     contiguous operands, via torch::mm and, when built with cblas, cblas_sgemm directly;
// all in one process on the same data. Also times decoding the N PNG files of a group.
//
//   blackbox_bench [--n 500] [--size 256] [--grid 4] [--clique 20] [--threshold 0.15]
//                  [--subset 40] [--reps 3] [--threads 0] [--no-png] [--seed 0]
#include <torch/torch.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "diffmem/attack/blackbox.h"
#include "diffmem/attack/blackbox_distances.h"
#include "diffmem/attack/blackbox_run.h"
#include "diffmem/core/blas_kernels.h"
#include "diffmem/core/runtime.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/search/clique.h"
#include "diffmem/search/distances.h"
#include "diffmem/search/int_gram.h"
#ifdef DIFFMEM_HAVE_CBLAS
#include <cblas.h>
#endif

namespace {
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Args {
  int64_t n = 500, size = 256, grid = 4, clique = 20, subset = 40, reps = 3;
  double threshold = 0.15;
  int threads = 0;
  bool png = true;
  uint64_t seed = 0;
};

Args parse(int argc, char** argv) {
  const bench::Flags f(argc, argv,
                       {"--n", "--size", "--grid", "--clique", "--subset", "--reps", "--threshold",
                        "--threads", "--seed"},
                       {"--no-png"}, "see the comment at the top of bench/blackbox_bench.cpp");
  Args a;
  a.n = f.num("--n", a.n);
  a.size = f.num("--size", a.size);
  a.grid = f.num("--grid", a.grid);
  a.clique = f.num("--clique", a.clique);
  a.subset = f.num("--subset", a.subset);
  a.reps = f.num("--reps", a.reps);
  a.threshold = f.real("--threshold", a.threshold);
  a.threads = static_cast<int>(f.num("--threads", a.threads));
  a.seed = static_cast<uint64_t>(f.num("--seed", static_cast<long long>(a.seed)));
  a.png = !f.on("--no-png");
  return a;
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// CPU seconds (all threads) of the run best_of() last kept: on a shared, overloaded machine they
// are steadier than wall time.
double g_cpu = 0;

template <typename F>
double best_of(int64_t reps, F&& f) {
  double best = 1e300;
  for (int64_t r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    f();
    const double wall = since(t0);
    if (wall < best) {
      best = wall;
      g_cpu = cpu_seconds() - c0;
    }
  }
  return best;
}

// The best (wall, CPU of that run) of one step over interleaved rounds: every round runs every
// step once, in order, so a burst of load from the neighbours hits all steps alike and the ratios
// between them stay fair.
struct Best {
  double wall = 1e300, cpu = 0;
  template <typename F>
  void time(F&& f) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    f();
    const double w = since(t0);
    if (w < wall) {
      wall = w;
      cpu = cpu_seconds() - c0;
    }
  }
};

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string s;
  std::getline(in, s);
  return s;
}

// Smooth random images (a 16×16 colour field, bilinearly upsampled) and `clique` near-copies of
// the first one (±6 per channel), shuffled.
torch::Tensor make_group(const Args& a) {
  torch::manual_seed(a.seed);
  torch::Tensor low = torch::rand({a.n, 3, 16, 16});
  torch::Tensor imgs = torch::upsample_bilinear2d(low, {a.size, a.size}, false).mul_(255);
  const torch::Tensor base = imgs[0].clone();
  for (int64_t i = 1; i < a.clique; ++i) imgs[i].copy_(base + torch::randint(-6, 7, base.sizes(), torch::kFloat));
  imgs = imgs.index_select(0, torch::randperm(a.n, torch::kLong));
  return imgs.clamp_(0, 255).round_().to(torch::kByte).permute({0, 2, 3, 1}).contiguous();
}

// The direct baseline: tiled ℓ2 of one pair by a plain loop (what one writes without GEMMs).
float direct_tiled_l2(const uint8_t* a, const uint8_t* b, int64_t h, int64_t w, int64_t c, int64_t grid) {
  float worst = 0;
  for (int64_t ti = 0; ti < grid; ++ti) {
    const int64_t r0 = ti * h / grid, r1 = (ti + 1) * h / grid;
    for (int64_t tj = 0; tj < grid; ++tj) {
      const int64_t c0 = tj * w / grid, c1 = (tj + 1) * w / grid;
      float s = 0;
      for (int64_t y = r0; y < r1; ++y) {
        const uint8_t* pa = a + (y * w + c0) * c;
        const uint8_t* pb = b + (y * w + c0) * c;
        for (int64_t k = 0; k < (c1 - c0) * c; ++k) {
          const float d = (static_cast<float>(pa[k]) - static_cast<float>(pb[k])) * (1.0f / 255.0f);
          s += d * d;
        }
      }
      worst = std::max(worst, s / static_cast<float>((r1 - r0) * (c1 - c0) * c));
    }
  }
  return std::sqrt(worst);
}

}  // namespace

int main(int argc, char** argv) {
  diffmem::core::use_best_blas_kernels(argv);  // the kernels the diffmem CLI would use
  const Args a = parse(argc, argv);
  const int threads = diffmem::core::set_threads(a.threads);
  const torch::Tensor imgs = make_group(a);
  const int64_t n = a.n, d = a.size * a.size * 3, t = a.grid * a.grid, dt = d / t;
  const double pairs = 0.5 * double(n) * double(n - 1);
  const double flops = 2.0 * double(n) * double(n) * double(d);  // the tile GEMMs, all tiles
  std::printf("group: %lld images %lldx%ldx3 (%lld near-copies planted), %lldx%lld tiles of %lld values, "
              "threads %d\n",
              (long long)n, (long long)a.size, (long)a.size, (long long)a.clique, (long long)a.grid,
              (long long)a.grid, (long long)dt, threads);
#ifdef DIFFMEM_HAVE_CBLAS
  std::printf("OpenBLAS kernels: %s (%s)\n", openblas_get_corename(), openblas_get_config());
#endif
  std::printf("load before: %s\n", loadavg().c_str());

  diffmem::attack::BlackboxOptions opt;
  opt.tiles.grid = a.grid;
  opt.edge_threshold = a.threshold;
  const diffmem::search::ImageShape shape{a.size, a.size, 3};

  // 1. The filter, by parts and whole, and 2. a plain SGEMM of the same shapes on contiguous
  // operands (no tile gathering, no norms, no max), interleaved round by round.
  torch::Tensor rows = diffmem::search::to_unit_rows(imgs).contiguous();
  std::vector<torch::Tensor> tiles;
  {
    const torch::Tensor v = rows.view({n, a.size, a.size, 3});
    const auto rb = diffmem::search::tile_bounds(a.size, a.grid);
    for (int64_t i = 0; i < a.grid; ++i)
      for (int64_t j = 0; j < a.grid; ++j)
        tiles.push_back(v.slice(1, rb[i], rb[i + 1]).slice(2, rb[j], rb[j + 1]).reshape({n, -1}).contiguous());
  }
  torch::Tensor c = torch::empty({n, n});
  torch::Tensor dist, self, self_f;
  diffmem::search::MaxCliqueResult mc;
  diffmem::attack::GroupAnalysis ga;
  int64_t edges = 0;
  Best b_rows, b_dist, b_self, b_self_f, b_clique, b_filter, b_mm, b_cblas;
  for (int64_t r = 0; r < a.reps; ++r) {
    b_rows.time([&] { rows = diffmem::search::to_unit_rows(imgs).contiguous(); });
    b_dist.time([&] { dist = diffmem::search::pairwise_tiled_l2(rows, rows, shape, opt.tiles); });
    b_self.time([&] { self = diffmem::attack::self_pairwise_tiled_l2(imgs, opt.tiles); });
    b_self_f.time([&] {
      self_f = diffmem::attack::self_pairwise_tiled_l2(imgs, opt.tiles, diffmem::search::KnnArithmetic::kFloat);
    });
    b_clique.time([&] {
      const diffmem::search::Graph g = diffmem::search::graph_from_distances(dist, a.threshold);
      edges = g.edge_count();
      mc = diffmem::search::maximum_cliques(g, opt.tie_limit);
    });
    b_filter.time([&] { ga = diffmem::attack::analyze_group(imgs, opt); });
    b_mm.time([&] {
      for (const auto& x : tiles) torch::mm_out(c, x, x.t());
    });
#ifdef DIFFMEM_HAVE_CBLAS
    b_cblas.time([&] {
      for (const auto& x : tiles)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(n), int(x.size(1)), 1.0f,
                    x.data_ptr<float>(), int(x.size(1)), x.data_ptr<float>(), int(x.size(1)), 0.0f,
                    c.data_ptr<float>(), int(n));
    });
#endif
  }
  const double t_rows = b_rows.wall, c_rows = b_rows.cpu, t_dist = b_dist.wall, c_dist = b_dist.cpu;
  const double t_self = b_self.wall, c_self = b_self.cpu, t_clique = b_clique.wall, c_clique = b_clique.cpu;
  const double t_self_f = b_self_f.wall, c_self_f = b_self_f.cpu;
  // The integer and float distances must give the same graph and the same cliques.
  const auto cliques_of = [&](const torch::Tensor& m) {
    std::vector<std::vector<int64_t>> out;
    const diffmem::search::Graph g = diffmem::search::graph_from_distances(m, a.threshold);
    for (const auto& cl : diffmem::search::maximum_cliques(g, opt.tie_limit).cliques) out.push_back(cl);
    return std::make_pair(g.edge_count(), out);
  };
  const auto int_cliques = cliques_of(self), float_cliques = cliques_of(self_f);
  std::printf("integer kernel: %s; integer vs float distances: max |diff| %.2e, same edges %s, same "
              "maximum cliques %s\n",
              diffmem::search::int_gram_kernel().available ? diffmem::search::int_gram_kernel().name.c_str()
                                                           : diffmem::search::int_gram_kernel().reason.c_str(),
              (self - self_f).abs().max().item<double>(),
              int_cliques.first == float_cliques.first ? "yes" : "NO",
              int_cliques.second == float_cliques.second ? "yes" : "NO");
  const double t_filter = b_filter.wall, c_filter = b_filter.cpu, t_mm = b_mm.wall, c_mm = b_mm.cpu;
  double t_cblas = 0, c_cblas = 0;
#ifdef DIFFMEM_HAVE_CBLAS
  t_cblas = b_cblas.wall;
  c_cblas = b_cblas.cpu;
#endif
  // The diagonal (an image against itself) is exactly 0 in the streamed version and the square
  // root of a rounding residue in the other: compare off the diagonal.
  const torch::Tensor off = torch::ones({n, n}, torch::kBool).fill_diagonal_(false);
  const double self_vs_search = (self - dist).abs().masked_select(off).max().item<double>();
  std::printf("filter: largest clique %zu (planted %lld), %lld edges, mean in-clique tiled l2 %.4f\n",
              ga.cliques.at(0).members.size(), (long long)a.clique, (long long)edges,
              ga.cliques[0].mean_distance);

  // 3. Direct per-pair loops on a subset, extrapolated to all pairs.
  const int64_t m = std::min(a.subset, n);
  const double sub_pairs = 0.5 * double(m) * double(m - 1);
  const uint8_t* px = imgs.data_ptr<uint8_t>();
  std::vector<float> direct(static_cast<size_t>(m * m), 0.f);
  const double t_direct_sub = best_of(1, [&] {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = i + 1; j < m; ++j)
        direct[i * m + j] = direct_tiled_l2(px + i * d, px + j * d, a.size, a.size, 3, a.grid);
  });
  const double c_direct_sub = g_cpu;
  double max_err = 0;
  const torch::Tensor dcpu = dist.to(torch::kCPU);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = i + 1; j < m; ++j)
      max_err = std::max(max_err, std::abs(double(direct[i * m + j]) - dcpu[i][j].item<double>()));
  std::vector<int64_t> ii, jj;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = i + 1; j < m; ++j) {
      ii.push_back(i);
      jj.push_back(j);
    }
  const torch::Tensor ti = torch::tensor(ii), tj = torch::tensor(jj);
  const torch::Tensor sub_rows = rows.narrow(0, 0, m);
  const double t_torch_sub = best_of(1, [&] {
    for (int64_t s = 0; s < ti.size(0); s += 64) {
      const int64_t e = std::min<int64_t>(s + 64, ti.size(0));
      diffmem::search::tiled_l2(sub_rows.index_select(0, ti.slice(0, s, e)),
                                sub_rows.index_select(0, tj.slice(0, s, e)), shape, opt.tiles);
    }
  });
  const double c_torch_sub = g_cpu;
  const double t_direct = t_direct_sub * pairs / sub_pairs;
  const double t_torch = t_torch_sub * pairs / sub_pairs;

  // 4. The PNG path: a generator writing the group's PNG files, and the filter decoding them (what
  // reading a generations folder costs per prompt). Native generation streams the uint8 images
  // into the filter and pays neither.
  double t_png = 0, c_png = 0, t_write = 0, c_write = 0, t_run = 0, c_run = 0;
  double t_serial = 0, c_serial = 0, t_npy = 0, c_npy = 0, t_run_npy = 0, c_run_npy = 0;
  constexpr int64_t kRunGroups = 4;
  if (a.png) {
    const fs::path dir = fs::temp_directory_path() / ("blackbox-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    t_write = best_of(1, [&] {
      for (int64_t i = 0; i < n; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "%06lld.png", (long long)i);
        diffmem::io::write_png(dir / name, diffmem::io::from_tensor(imgs[i]));
      }
    });
    c_write = g_cpu;
    diffmem::attack::BlackboxOptions o2;
    t_png = best_of(1, [&] { diffmem::attack::load_image_folder(dir, o2); });
    c_png = g_cpu;
    // The same folder as kRunGroups groups through attack::run_blackbox, which reads the next
    // group's files while this one's distances run: per group against decode + filter in turn.
    std::vector<diffmem::attack::BlackboxGroupInput> groups(kRunGroups);
    for (int64_t i = 0; i < kRunGroups; ++i) {
      groups[size_t(i)].id = "g" + std::to_string(i);
      groups[size_t(i)].folder = dir;
    }
    diffmem::attack::BlackboxRunOptions ro;
    ro.analysis = opt;
    ro.reuse = false;
    const fs::path run_out = dir.string() + "-run";
    // Interleaved: without read-ahead (decode, then filter, group after group), then with it.
    for (int r = 0; r < 2; ++r) {
      ro.read_ahead = false;
      const double ts = best_of(1, [&] { diffmem::attack::run_blackbox(groups, run_out, ro); }) / kRunGroups;
      const double cs = g_cpu / kRunGroups;
      fs::remove_all(run_out);
      ro.read_ahead = true;
      const double tr = best_of(1, [&] { diffmem::attack::run_blackbox(groups, run_out, ro); }) / kRunGroups;
      const double cr = g_cpu / kRunGroups;
      fs::remove_all(run_out);
      if (r == 0 || ts < t_serial) t_serial = ts, c_serial = cs;
      if (r == 0 || tr < t_run) t_run = tr, c_run = cr;
    }
    // The same group as one .npy array (a generator that writes arrays): read without decoding.
    const fs::path npy_dir = dir.string() + "-npy";
    fs::create_directories(npy_dir);
    diffmem::io::write_npy(npy_dir / "group.npy", diffmem::io::from_tensor(imgs));
    t_npy = best_of(a.reps, [&] { diffmem::attack::load_image_folder(npy_dir, o2); });
    c_npy = g_cpu;
    for (auto& g : groups) g.folder = npy_dir;
    t_run_npy = best_of(1, [&] { diffmem::attack::run_blackbox(groups, run_out, ro); }) / kRunGroups;
    c_run_npy = g_cpu / kRunGroups;
    fs::remove_all(run_out);
    fs::remove_all(npy_dir);
    fs::remove_all(dir);
  }
  std::printf("load after: %s\n", loadavg().c_str());
  std::printf("direct loop vs GEMM distances on the %lld-image subset: max |diff| %.2e; streamed vs "
              "search::pairwise_tiled_l2 (off the diagonal): max |diff| %.2e\n\n", (long long)m, max_err, self_vs_search);

  std::printf("| step (one group of %lld at %lldx%lldx3) | wall s | CPU s | GFLOP/s (wall) | %% of SGEMM rate, wall | %% of SGEMM rate, CPU s |\n",
              (long long)n, (long long)a.size, (long long)a.size);
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  const bool cb = t_cblas > 0 && t_cblas < t_mm;
  const double sgemm = cb ? t_cblas : t_mm, sgemm_cpu = cb ? c_cblas : c_mm;
  auto row = [&](const std::string& name, double s, double cpu, bool gemm) {
    if (gemm)
      std::printf("| %s | %.3f | %.3f | %.1f | %.0f%% | %.0f%% |\n", name.c_str(), s, cpu, flops / s / 1e9,
                  100.0 * sgemm / s, 100.0 * sgemm_cpu / cpu);
    else
      std::printf("| %s | %.3f | %.3f | | | |\n", name.c_str(), s, cpu);
  };
  const std::string best = " (best of " + std::to_string(a.reps) + " interleaved rounds)";
  row("u8 -> f32 rows" + best, t_rows, c_rows, false);
  row("u8 -> tiled l2 matrix: attack::self_pairwise_tiled_l2, integer (per tile: u8 gather + pack + 1 exact int32 GEMM + max)" + best, t_self, c_self, true);
  row("u8 -> tiled l2 matrix: attack::self_pairwise_tiled_l2, float (per tile: u8->f32 copy + 1 SGEMM + max)" + best, t_self_f, c_self_f, true);
  row("f32 rows -> tiled l2 matrix: search::pairwise_tiled_l2 (16 GEMMs + norms + max)" + best, t_dist, c_dist, true);
  row("graph + exact maximum clique" + best, t_clique, c_clique, false);
  row("**whole filter per prompt: attack::analyze_group**" + best, t_filter, c_filter, false);
  row("plain SGEMM, same 16 shapes, contiguous: torch::mm" + best, t_mm, c_mm, true);
  if (t_cblas > 0) row("plain SGEMM, same 16 shapes, contiguous: cblas_sgemm" + best, t_cblas, c_cblas, true);
  const double x = pairs / sub_pairs;
  row("direct per-pair C++ loop: " + std::to_string((long long)sub_pairs) + " pairs timed once, x" +
          std::to_string((long long)std::lround(x)) + " (extrapolated)", t_direct_sub * x, c_direct_sub * x, false);
  row("torch per-pair search::tiled_l2, 64 pairs a call: " + std::to_string((long long)sub_pairs) +
          " pairs timed once, x" + std::to_string((long long)std::lround(x)) + " (extrapolated)",
      t_torch_sub * x, c_torch_sub * x, false);
  if (a.png) {
    row("encode + write " + std::to_string((long long)n) + " PNG files once: io::write_png (a generator writing files)",
        t_write, c_write, false);
    row("decode " + std::to_string((long long)n) + " PNG files once: attack::load_image_folder", t_png, c_png, false);
    row("decode + filter in turn, per group (the two rows above)", t_png + t_filter, c_png + c_filter, false);
    const std::string groups_of = " (" + std::to_string((long long)kRunGroups) + " groups of PNG files";
    row("decode + filter per group in attack::run_blackbox" + groups_of +
            ", read_ahead off: decode, then filter; grids and JSON written too; best of 2)",
        t_serial, c_serial, false);
    row("decode + filter per group in attack::run_blackbox" + groups_of +
            ", read_ahead on: the next group decoded while this one is filtered; best of 2)",
        t_run, c_run, false);
    row("read one .npy array of the " + std::to_string((long long)n) + " images: attack::load_image_folder" + best,
        t_npy, c_npy, false);
    row("read + filter per group in attack::run_blackbox (" + std::to_string((long long)kRunGroups) +
            " groups of one .npy array each, read_ahead on)",
        t_run_npy, c_run_npy, false);
  }
  std::printf("\ninteger tile distances over float: %.2fx wall, %.2fx CPU s\n", t_self_f / t_self, c_self_f / c_self);
  if (a.png)
    std::printf("run_blackbox per group: read-ahead over decode-then-filter %.2fx wall (%.3f s vs %.3f s); "
                ".npy groups over PNG groups %.2fx wall (%.3f s)\n",
                t_serial / t_run, t_run, t_serial, t_run / t_run_npy, t_run_npy);
  std::printf("filter speed-up over the direct loop: %.0fx wall, %.0fx CPU; over torch per-pair: %.0fx wall\n",
              t_direct / t_filter, c_direct_sub * x / c_filter, t_torch / t_filter);
  std::printf("per prompt: filter %.3f s wall / %.3f CPU s (+ %.3f s wall PNG decode) -> 350,000 prompts: "
              "%.1f h filter, %.1f h with decode, at this run's wall times (%d threads)\n",
              t_filter, c_filter, t_png, t_filter * 350000 / 3600, (t_filter + t_png) * 350000 / 3600, threads);
  if (a.png)
    std::printf("streamed (native generation, extract-blackbox --model PIPELINE) vs the PNG path, per prompt after "
                "generation: filter %.3f s vs write + decode + filter %.3f s wall -> %.2fx the throughput "
                "(CPU s: %.2fx)\n",
                t_filter, t_write + t_png + t_filter, (t_write + t_png + t_filter) / t_filter,
                (c_write + c_png + c_filter) / c_filter);
  return 0;
}
