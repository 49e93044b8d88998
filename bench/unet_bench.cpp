// Training and DDIM sampling throughput of diffmem's U-Net vs PyTorch eager running diffusers'
// UNet2DModel with the same config, batch and thread count (bench/unet_baseline.py), in one run.
//
//   unet_bench [--preset small] [--train-batch 64] [--warm 3] [--train-steps 20]
//              [--sample-n 64] [--sample-batch 64] [--ddim-steps 10] [--threads 0]
//              [--python python3] [--no-python] [--rounds 3] [--device cpu] [--json out.json]
//
// --device cuda[:N] runs both sides on the GPU (scripts/gpu-check.sh); --json writes the best
// figures of both sides for a script to collect.
// The machine is shared and noisy, so each round runs diffmem's training, diffmem's sampling and
// the PyTorch baseline once, one after the other, and the best of --rounds rounds is kept for
// each: a burst of load from the neighbours hits both sides alike.
// Training: `train::train_model` itself (random batch, flips, noise, loss, backward, Adam with
// clipping, EMA) on random images of the preset's size. The clock runs from the end of step --warm
// to the end of the last step (read from the trainer's progress events), so neither the first
// steps nor the final checkpoint are counted. The baseline times the same loop the same way.
// Sampling: `diffusion::sample` with DDIM, after a one-step warm-up; images per second.
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench_data.h"
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

int main(int argc, char** argv) {
  core::use_best_blas_kernels(argv);  // the kernels the diffmem CLI would use
  const bench::Flags f(argc, argv,
                       {"--preset", "--train-batch", "--warm", "--train-steps", "--sample-n",
                        "--sample-batch", "--ddim-steps", "--threads", "--python", "--rounds", "--device",
                        "--json"},
                       {"--no-python"}, "see the comment at the top of bench/unet_bench.cpp");
  const std::string preset = f.str("--preset", "small"), python = f.str("--python", "python3");
  const int64_t batch = f.num("--train-batch", 64), warm = f.num("--warm", 3),
                steps = f.num("--train-steps", 20), sample_n = f.num("--sample-n", 64),
                sample_batch = f.num("--sample-batch", 64), ddim_steps = f.num("--ddim-steps", 10),
                rounds = std::max<int64_t>(1, f.num("--rounds", 3));
  const int threads = core::set_threads(static_cast<int>(f.num("--threads", 0)));
  const std::string device = core::resolve_device(f.str("--device", "cpu"));
  const fs::path tmp = fs::temp_directory_path() / ("unet_bench." + std::to_string(::getpid()));
  fs::create_directories(tmp);

  const model::UNet2DConfig config = model::UNet2DConfig::preset(preset);
  torch::manual_seed(0);
  model::UNet2D unet(config);
  int64_t params = 0;
  for (const auto& p : unet->parameters()) params += p.numel();
  model::save_unet2d(*unet, tmp / "model");
  std::printf("unet_bench: preset %s (%lld parameters, %lldx%lldx%lld) on %s, %d threads, BLAS %s\n",
              preset.c_str(), static_cast<long long>(params),
              static_cast<long long>(config.sample_size), static_cast<long long>(config.sample_size),
              static_cast<long long>(config.in_channels), device.c_str(), threads, core::blas_core_name().c_str());

  // --- training -------------------------------------------------------------------------------
  const data::Dataset ds = bench::random_u8_dataset(std::max<int64_t>(batch * 2, 128),
                                                    config.sample_size, config.in_channels);
  train::TrainOptions to;
  to.preset = preset;
  to.steps = warm + steps;
  to.batch = batch;
  to.checkpoint_every = 0;
  to.device = device;
  auto train_once = [&](int64_t round) {
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
    train::train_model(ds, {}, {}, tmp / ("train" + std::to_string(round)), to, clock);
    const double ips = (t_end - t_warm) > 0 ? (to.steps - done_warm) * batch / (t_end - t_warm) : 0;
    std::printf("  train  diffmem        %8.2f images/s (batch %lld, steps %lld..%lld)\n", ips,
                static_cast<long long>(batch), static_cast<long long>(done_warm),
                static_cast<long long>(to.steps));
    return ips;
  };

  // --- DDIM sampling --------------------------------------------------------------------------
  model::LoadDenoiserOptions lo;
  lo.device = device;
  auto denoiser = model::load_denoiser(tmp / "model", lo);
  diffusion::NoiseSchedule schedule;
  auto sample_once = [&] {
    diffusion::SampleOptions so;
    so.sampler = "ddim";
    so.steps = 1;
    so.batch = sample_batch;
    diffusion::sample(*denoiser, schedule, diffusion::image_seeds(0, 0, std::min<int64_t>(4, sample_n)), so);
    so.steps = ddim_steps;
    const double t0 = bench::now_s();
    diffusion::sample(*denoiser, schedule, diffusion::image_seeds(0, 0, sample_n), so);
    const double ips = sample_n / (bench::now_s() - t0);
    std::printf("  sample diffmem        %8.2f images/s (%lld images, DDIM %lld steps, batch %lld)\n",
                ips, static_cast<long long>(sample_n), static_cast<long long>(ddim_steps),
                static_cast<long long>(sample_batch));
    return ips;
  };

  // --- the PyTorch baseline -------------------------------------------------------------------
  std::string versions;
  auto python_once = [&] {
    bench::run_or_die(python + " " + std::string(DIFFMEM_SOURCE_DIR) + "/bench/unet_baseline.py" +
                      " --model " + (tmp / "model").string() + " --train-batch " +
                      std::to_string(batch) + " --warm " + std::to_string(warm) +
                      " --train-steps " + std::to_string(steps) + " --sample-n " +
                      std::to_string(sample_n) + " --sample-batch " + std::to_string(sample_batch) +
                      " --ddim-steps " + std::to_string(ddim_steps) + " --threads " +
                      std::to_string(threads) + " --device " + device + " --json " +
                      (tmp / "py.json").string());
    const io::Json j = io::read_json(tmp / "py.json");
    versions = "torch " + j.at("torch").get<std::string>() + ", diffusers " + j.at("diffusers").get<std::string>();
    return std::make_pair(j.at("train_images_per_s").get<double>(), j.at("sample_images_per_s").get<double>());
  };

  const bool python_on = !f.on("--no-python");
  double ours_train = 0, ours_sample = 0, py_train = 0, py_sample = 0;
  for (int64_t r = 0; r < rounds; ++r) {
    std::printf("round %lld of %lld\n", static_cast<long long>(r + 1), static_cast<long long>(rounds));
    std::fflush(stdout);
    ours_train = std::max(ours_train, train_once(r));
    ours_sample = std::max(ours_sample, sample_once());
    std::fflush(stdout);
    if (python_on) {
      const auto [t, s] = python_once();
      py_train = std::max(py_train, t);
      py_sample = std::max(py_sample, s);
    }
  }
  std::printf("best of %lld rounds:\n", static_cast<long long>(rounds));
  std::printf("  train  diffmem        %8.2f images/s\n  sample diffmem        %8.2f images/s\n", ours_train,
              ours_sample);
  if (python_on) {
    std::printf("  train  pytorch eager  %8.2f images/s (%s)\n", py_train, versions.c_str());
    std::printf("  sample pytorch eager  %8.2f images/s\n", py_sample);
    std::printf("ratio diffmem/pytorch: train %.2fx, sample %.2fx\n", ours_train / py_train,
                ours_sample / py_sample);
  }
  if (f.on("--json")) {
    io::Json j = {{"bench", "unet"}, {"preset", preset}, {"device", device}, {"parameters", params},
                  {"train_batch", batch}, {"sample_batch", sample_batch}, {"ddim_steps", ddim_steps},
                  {"rounds", rounds}, {"train_images_per_s", ours_train}, {"sample_images_per_s", ours_sample}};
    if (python_on) {
      j["baseline"] = {{"name", "pytorch eager + diffusers UNet2DModel"}, {"versions", versions},
                       {"train_images_per_s", py_train}, {"sample_images_per_s", py_sample}};
      j["ratio_train"] = ours_train / py_train;
      j["ratio_sample"] = ours_sample / py_sample;
    }
    io::write_json(f.str("--json", ""), j);
  }
  fs::remove_all(tmp);
  return 0;
}
