// Training and DDIM sampling throughput of diffmem's U-Net vs PyTorch eager running diffusers'
// UNet2DModel with the same config, batch and thread count (bench/unet_baseline.py), in one run.
//
//   unet_bench [--preset small] [--train-batch 64] [--warm 3] [--train-steps 20]
//              [--sample-n 64] [--sample-batch 64] [--ddim-steps 10] [--threads 0]
//              [--python python3] [--no-python]
//
// Training: `train::train_model` itself (random batch, flips, noise, loss, backward, Adam with
// clipping, EMA) on random images of the preset's size. The clock runs from the end of step --warm
// to the end of the last step (read from the trainer's progress events), so neither the first
// steps nor the final checkpoint are counted. The baseline times the same loop the same way.
// Sampling: `diffusion::sample` with DDIM, after a one-step warm-up; images per second.
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "bench_util.h"
#include "diffmem/core/blas_kernels.h"
#include "diffmem/core/runtime.h"
#include "diffmem/data/dataset.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/json.h"
#include "diffmem/model/checkpoint.h"
#include "diffmem/model/unet2d.h"
#include "diffmem/train/trainer.h"

namespace fs = std::filesystem;
using namespace diffmem;

namespace {

data::Dataset random_images(int64_t n, const model::UNet2DConfig& c) {
  data::Dataset ds;
  const int64_t S = c.sample_size, C = c.in_channels;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, S, S, C});
  std::mt19937 rng(1);
  for (auto& b : ds.images.bytes) b = static_cast<uint8_t>(rng() % 256);
  for (int64_t i = 0; i < n; ++i) {
    ds.ids.push_back(i);
    ds.labels.push_back(0);
  }
  return ds;
}

}  // namespace

int main(int argc, char** argv) {
  core::use_best_blas_kernels(argv);  // the kernels the diffmem CLI would use
  const bench::Flags f(argc, argv,
                       {"--preset", "--train-batch", "--warm", "--train-steps", "--sample-n",
                        "--sample-batch", "--ddim-steps", "--threads", "--python"},
                       {"--no-python"}, "see the comment at the top of bench/unet_bench.cpp");
  const std::string preset = f.str("--preset", "small"), python = f.str("--python", "python3");
  const int64_t batch = f.num("--train-batch", 64), warm = f.num("--warm", 3),
                steps = f.num("--train-steps", 20), sample_n = f.num("--sample-n", 64),
                sample_batch = f.num("--sample-batch", 64), ddim_steps = f.num("--ddim-steps", 10);
  const int threads = core::set_threads(static_cast<int>(f.num("--threads", 0)));
  const fs::path tmp = fs::temp_directory_path() / ("unet_bench." + std::to_string(::getpid()));
  fs::create_directories(tmp);

  const model::UNet2DConfig config = model::UNet2DConfig::preset(preset);
  torch::manual_seed(0);
  model::UNet2D unet(config);
  int64_t params = 0;
  for (const auto& p : unet->parameters()) params += p.numel();
  model::save_unet2d(*unet, tmp / "model");
  std::printf("unet_bench: preset %s (%lld parameters, %lldx%lldx%lld), %d threads, BLAS %s\n",
              preset.c_str(), static_cast<long long>(params),
              static_cast<long long>(config.sample_size), static_cast<long long>(config.sample_size),
              static_cast<long long>(config.in_channels), threads, core::blas_core_name().c_str());

  // --- training -------------------------------------------------------------------------------
  const data::Dataset ds = random_images(std::max<int64_t>(batch * 2, 128), config);
  train::TrainOptions to;
  to.preset = preset;
  to.steps = warm + steps;
  to.batch = batch;
  to.checkpoint_every = 0;
  double t_warm = -1, t_end = -1;
  int64_t done_warm = 0;
  auto clock = [&](const ProgressEvent& e) {
    if (e.finished) return;
    if (t_warm < 0 && e.done >= warm) {
      t_warm = bench::now_s();
      done_warm = e.done;
    }
    if (e.done == e.total) t_end = bench::now_s();
  };
  train::train_model(ds, {}, {}, tmp / "train", to, clock);
  const double ours_train = (t_end - t_warm) > 0 ? (to.steps - done_warm) * batch / (t_end - t_warm) : 0;
  std::printf("  train  diffmem        %8.2f images/s (batch %lld, steps %lld..%lld)\n", ours_train,
              static_cast<long long>(batch), static_cast<long long>(done_warm),
              static_cast<long long>(to.steps));

  // --- DDIM sampling --------------------------------------------------------------------------
  auto denoiser = model::load_denoiser(tmp / "model");
  diffusion::NoiseSchedule schedule;
  diffusion::SampleOptions so;
  so.sampler = "ddim";
  so.steps = 1;
  so.batch = sample_batch;
  diffusion::sample(*denoiser, schedule, diffusion::image_seeds(0, 0, std::min<int64_t>(4, sample_n)), so);
  so.steps = ddim_steps;
  double t0 = bench::now_s();
  diffusion::sample(*denoiser, schedule, diffusion::image_seeds(0, 0, sample_n), so);
  const double ours_sample = sample_n / (bench::now_s() - t0);
  std::printf("  sample diffmem        %8.2f images/s (%lld images, DDIM %lld steps, batch %lld)\n",
              ours_sample, static_cast<long long>(sample_n), static_cast<long long>(ddim_steps),
              static_cast<long long>(sample_batch));

  if (!f.on("--no-python")) {
    bench::run_or_die(python + " " + std::string(DIFFMEM_SOURCE_DIR) + "/bench/unet_baseline.py" +
                      " --model " + (tmp / "model").string() + " --train-batch " +
                      std::to_string(batch) + " --warm " + std::to_string(warm) +
                      " --train-steps " + std::to_string(steps) + " --sample-n " +
                      std::to_string(sample_n) + " --sample-batch " + std::to_string(sample_batch) +
                      " --ddim-steps " + std::to_string(ddim_steps) + " --threads " +
                      std::to_string(threads) + " --json " + (tmp / "py.json").string());
    const io::Json j = io::read_json(tmp / "py.json");
    const double py_train = j.at("train_images_per_s").get<double>();
    const double py_sample = j.at("sample_images_per_s").get<double>();
    std::printf("  train  pytorch eager  %8.2f images/s (torch %s, diffusers %s)\n", py_train,
                j.at("torch").get<std::string>().c_str(), j.at("diffusers").get<std::string>().c_str());
    std::printf("  sample pytorch eager  %8.2f images/s\n", py_sample);
    std::printf("ratio diffmem/pytorch: train %.2fx, sample %.2fx\n", ours_train / py_train,
                ours_sample / py_sample);
  }
  fs::remove_all(tmp);
  return 0;
}
