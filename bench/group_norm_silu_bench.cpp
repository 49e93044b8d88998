// silu(group_norm(x)): diffmem's fused kernel against ATen's two operations (torch::group_norm
// then torch::silu), on the shapes the U-Net presets run, no-grad forward and forward + backward,
// best of interleaved rounds.
//
//   build/bench/group_norm_silu_bench [--rounds 5] [--reps 20] [--threads N (default: all cores)]
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

#include "../src/model/group_norm_silu.h"
#include "bench_util.h"
#include "diffmem/core/runtime.h"

namespace {

struct Shape {
  const char* where;
  std::vector<int64_t> sizes;
  int64_t groups;
};

double best_time(const std::function<void()>& fn, int reps) {
  const double t0 = bench::now_s();
  for (int r = 0; r < reps; ++r) fn();
  return (bench::now_s() - t0) / reps;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Flags flags(argc, argv, {"--rounds", "--reps", "--threads"}, {},
                           "group_norm_silu_bench [--rounds R] [--reps N] [--threads T]");
  const int rounds = static_cast<int>(flags.num("--rounds", 5));
  const int reps = static_cast<int>(flags.num("--reps", 20));
  const int threads = static_cast<int>(flags.num("--threads", 0));
  std::printf("threads %d, best of %d rounds of %d calls\n", diffmem::core::set_threads(threads),
              rounds, reps);

  const std::vector<Shape> shapes = {
      {"small, 28x28 level, batch 64", {64, 24, 28, 28}, 8},
      {"small, 7x7 level, batch 64", {64, 48, 7, 7}, 8},
      {"ddpm-cifar10, 32x32 level, batch 8", {8, 128, 32, 32}, 32},
      {"ddpm-cifar10, 16x16 level, batch 8", {8, 256, 16, 16}, 32},
  };
  namespace D = diffmem::model::detail;
  std::printf("%-38s %12s %12s %7s %12s %12s %7s\n", "shape", "ATen fwd", "fused fwd", "ratio",
              "ATen f+b", "fused f+b", "ratio");
  for (const auto& s : shapes) {
    torch::manual_seed(0);
    const torch::Tensor x = torch::randn(s.sizes) * 2 + 1;
    const int64_t c = s.sizes[1];
    const torch::Tensor w = (1 + 0.1 * torch::randn({c})).requires_grad_(true);
    const torch::Tensor b = (0.1 * torch::randn({c})).requires_grad_(true);
    const torch::Tensor up = torch::randn(s.sizes);
    const torch::Tensor xg = x.clone().requires_grad_(true);
    auto aten_fwd = [&] {
      torch::NoGradGuard ng;
      torch::silu(torch::group_norm(x, s.groups, w, b, 1e-6));
    };
    auto fused_fwd = [&] {
      torch::NoGradGuard ng;
      D::group_norm_silu(x, s.groups, w, b, 1e-6);
    };
    auto aten_fb = [&] {
      torch::silu(torch::group_norm(xg, s.groups, w, b, 1e-6)).backward(up);
    };
    auto fused_fb = [&] { D::group_norm_silu(xg, s.groups, w, b, 1e-6).backward(up); };
    double t[4] = {1e30, 1e30, 1e30, 1e30};
    const std::function<void()> fns[4] = {aten_fwd, fused_fwd, aten_fb, fused_fb};
    for (auto& f : fns) f();  // warm-up
    for (int r = 0; r < rounds; ++r)
      for (int k = 0; k < 4; ++k) t[k] = std::min(t[k], best_time(fns[k], reps));
    std::printf("%-38s %9.3f ms %9.3f ms %6.2fx %9.3f ms %9.3f ms %6.2fx\n", s.where, t[0] * 1e3,
                t[1] * 1e3, t[0] / t[1], t[2] * 1e3, t[3] * 1e3, t[2] / t[3]);
  }
  std::printf("ratio = ATen time / fused time (above 1: the fused kernel is faster)\n");
  return 0;
}
