// Membership-inference scoring throughput: diffmem's batched loss statistic (attack/mia_scores.h)
// vs the same computation in PyTorch eager with diffusers' UNet2DModel (bench/mia_baseline.py),
// on the same model, images and seeds, in one run, alternating, best of --repeat each.
//
//   mia_bench [--model DIR] [--preset small] [--n 256] [--draws 20] [--flip] [--t 100]
//             [--batch 256] [--threads 0] [--repeat 2] [--python python3] [--no-python]
//
// Without --model a randomly initialized network of the preset (28×28×1) is saved to a temporary
// folder; the cost of a forward pass does not depend on the weights. Throughput is reported as
// examples × draws (× 2 with --flip) per second — model inputs evaluated per second.
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_data.h"
#include "bench_util.h"
#include "diffmem/attack/mia_scores.h"
#include "diffmem/core/blas_kernels.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/json.h"
#include "diffmem/io/npy.h"
#include "diffmem/model/checkpoint.h"
#include "diffmem/model/unet2d.h"

namespace {
namespace fs = std::filesystem;
using namespace diffmem;

struct Args {
  std::string model, preset = "small", python = "python3";
  int64_t n = 256, draws = 20, t = 100, batch = 256, repeat = 2;
  int threads = 0;
  bool flip = false, run_python = true;
};

Args parse(int argc, char** argv) {
  const bench::Flags f(argc, argv,
                       {"--model", "--preset", "--n", "--draws", "--t", "--batch", "--threads",
                        "--repeat", "--python"},
                       {"--flip", "--no-python"},
                       "see the comment at the top of bench/mia_bench.cpp");
  Args a;
  a.model = f.str("--model", a.model);
  a.preset = f.str("--preset", a.preset);
  a.n = f.num("--n", a.n);
  a.draws = f.num("--draws", a.draws);
  a.t = f.num("--t", a.t);
  a.batch = f.num("--batch", a.batch);
  a.threads = static_cast<int>(f.num("--threads", a.threads));
  a.repeat = f.num("--repeat", a.repeat);
  a.python = f.str("--python", a.python);
  a.flip = f.on("--flip");
  a.run_python = !f.on("--no-python");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  core::use_best_blas_kernels(argv);  // the kernels the diffmem CLI would use
  Args a = parse(argc, argv);
  const int threads = core::set_threads(a.threads);
  const fs::path tmp = fs::temp_directory_path() / ("mia_bench." + std::to_string(::getpid()));
  fs::create_directories(tmp);
  fs::path model_dir = a.model;
  if (model_dir.empty()) {
    model_dir = tmp / "model";
    torch::manual_seed(0);
    model::UNet2D unet(model::UNet2DConfig::preset(a.preset));
    model::save_unet2d(*unet, model_dir);
  }
  auto denoiser = model::load_denoiser(model_dir);
  const int64_t S = denoiser->sample_size(), C = denoiser->in_channels();

  const data::Dataset ds = bench::random_u8_dataset(a.n, S, C);
  io::HostArray ids = io::HostArray::zeros(io::DType::kI64, {a.n});
  for (int64_t i = 0; i < a.n; ++i) ids.data<int64_t>()[i] = ds.ids[i];
  io::write_npy(tmp / "images.npy", ds.images);
  io::write_npy(tmp / "ids.npy", ids);

  diffusion::NoiseSchedule schedule;
  attack::LossScoreOptions o;
  o.t = a.t;
  o.draws = a.draws;
  o.flip = a.flip;
  o.batch = a.batch;
  const double forwards = static_cast<double>(a.n * a.draws * (a.flip ? 2 : 1));
  std::printf("mia_bench: %s, %lld examples x %lld draws%s, t %lld, batch %lld, %d threads\n",
              denoiser->describe().c_str(), static_cast<long long>(a.n),
              static_cast<long long>(a.draws), a.flip ? " x 2 flips" : "",
              static_cast<long long>(a.t), static_cast<long long>(a.batch), threads);

  {  // warm-up, as the baseline does
    data::Dataset few = ds;
    few.images.shape[0] = std::min<int64_t>(4, a.n);
    few.images.bytes.resize(static_cast<size_t>(few.images.shape[0] * S * S * C));
    few.ids.resize(static_cast<size_t>(few.images.shape[0]));
    few.labels.resize(few.ids.size());
    attack::loss_errors(*denoiser, schedule, few, o);
  }
  double best_ours = 0, best_py = 0, max_rel = -1;
  std::vector<double> ours;
  for (int64_t r = 0; r < a.repeat; ++r) {
    double t0 = bench::now_s();
    ours = attack::loss_errors(*denoiser, schedule, ds, o);
    double s = bench::now_s() - t0;
    best_ours = std::max(best_ours, forwards / s);
    std::printf("  diffmem        %8.1f inputs/s (%.2f s)\n", forwards / s, s);
    if (!a.run_python) continue;
    std::string cmd = a.python + " " + std::string(DIFFMEM_SOURCE_DIR) + "/bench/mia_baseline.py" +
                      " --model " + model_dir.string() + " --images " + (tmp / "images.npy").string() +
                      " --ids " + (tmp / "ids.npy").string() + " --t " + std::to_string(a.t) +
                      " --draws " + std::to_string(a.draws) + (a.flip ? " --flip" : "") +
                      " --batch " + std::to_string(a.batch) + " --threads " + std::to_string(threads) +
                      " --out " + (tmp / "py.npy").string() + " --json " + (tmp / "py.json").string();
    bench::run_or_die(cmd);
    io::Json j = io::read_json(tmp / "py.json");
    double py = j.at("forwards_per_s").get<double>();
    best_py = std::max(best_py, py);
    std::printf("  pytorch eager  %8.1f inputs/s (%.2f s, torch %s)\n", py,
                j.at("seconds").get<double>(), j.at("torch").get<std::string>().c_str());
    io::HostArray theirs = io::read_npy(tmp / "py.npy");
    for (int64_t i = 0; i < a.n; ++i)
      max_rel = std::max(max_rel, std::abs(ours[i] - theirs.data<double>()[i]) / std::abs(ours[i]));
  }
  std::printf("best: diffmem %.1f inputs/s", best_ours);
  if (a.run_python)
    std::printf(", pytorch eager %.1f inputs/s, ratio %.2fx; scores agree to %.1e (max relative)",
                best_py, best_ours / best_py, max_rel);
  std::printf("\n");
  fs::remove_all(tmp);
  return 0;
}
