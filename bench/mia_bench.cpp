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

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

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
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", f.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (f == "--model") a.model = next();
    else if (f == "--preset") a.preset = next();
    else if (f == "--n") a.n = std::stoll(next());
    else if (f == "--draws") a.draws = std::stoll(next());
    else if (f == "--t") a.t = std::stoll(next());
    else if (f == "--batch") a.batch = std::stoll(next());
    else if (f == "--threads") a.threads = std::stoi(next());
    else if (f == "--repeat") a.repeat = std::stoll(next());
    else if (f == "--python") a.python = next();
    else if (f == "--flip") a.flip = true;
    else if (f == "--no-python") a.run_python = false;
    else {
      std::fprintf(stderr, "unknown flag %s (see the comment at the top of bench/mia_bench.cpp)\n",
                   f.c_str());
      std::exit(2);
    }
  }
  return a;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
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

  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {a.n, S, S, C});
  std::mt19937 rng(1);
  for (auto& b : ds.images.bytes) b = static_cast<uint8_t>(rng() % 256);
  io::HostArray ids = io::HostArray::zeros(io::DType::kI64, {a.n});
  for (int64_t i = 0; i < a.n; ++i) {
    ds.ids.push_back(i);
    ds.labels.push_back(0);
    ids.data<int64_t>()[i] = i;
  }
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
    double t0 = now_s();
    ours = attack::loss_errors(*denoiser, schedule, ds, o);
    double s = now_s() - t0;
    best_ours = std::max(best_ours, forwards / s);
    std::printf("  diffmem        %8.1f inputs/s (%.2f s)\n", forwards / s, s);
    if (!a.run_python) continue;
    std::string cmd = a.python + " " + std::string(DIFFMEM_SOURCE_DIR) + "/bench/mia_baseline.py" +
                      " --model " + model_dir.string() + " --images " + (tmp / "images.npy").string() +
                      " --ids " + (tmp / "ids.npy").string() + " --t " + std::to_string(a.t) +
                      " --draws " + std::to_string(a.draws) + (a.flip ? " --flip" : "") +
                      " --batch " + std::to_string(a.batch) + " --threads " + std::to_string(threads) +
                      " --out " + (tmp / "py.npy").string() + " --json " + (tmp / "py.json").string();
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "baseline failed: %s\n", cmd.c_str());
      return 1;
    }
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
