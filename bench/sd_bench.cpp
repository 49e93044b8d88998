// Stable Diffusion on CPU: diffmem's text-to-image parts vs diffusers eager (bench/sd_baseline.py)
// on the same small SD-1.x-shaped random-weight folder, batch and thread count, in one run.
//
//   sd_bench [--folder /tmp/diffmem_sd_bench] [--python python3] [--threads 2] [--batch 1]
//            [--steps 20] [--rounds 3] [--no-python]
//
// Parts (each in a fresh process, so that each peak RSS is its own; see sd_baseline.py):
//   unet_step  one guided U-Net forward as the pipeline makes it: latents [2B,4,32,32],
//              timestep 500, text embeddings [2B,77,256] of B x "" and B x PROMPT. Tokenizer,
//              text encoder and U-Net loaded, nothing else. 1 warm-up call, --rounds timed.
//   pipeline   SdPipeline::generate of B prompts, --steps PNDM steps, guidance 7.5, 256x256, one
//              generator per image (seeds 0..B-1), VAE decode. 1 warm-up run of 2 steps.
// The folder (model: bench/sd_baseline.py --make-folder) is made when missing. Both sides' images
// of the last pipeline run are compared (share within one uint8 level).
// Internal: --part unet_step|pipeline --json OUT [--images OUT.npy] runs one part of diffmem.
#include <sys/resource.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_util.h"
#include "diffmem/core/blas_kernels.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/io/json.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/clip_text.h"
#include "diffmem/model/clip_tokenizer.h"
#include "diffmem/model/unet2d_condition.h"

namespace fs = std::filesystem;
using namespace diffmem;

namespace {

const char* kPrompt = "a photo of an astronaut riding a horse";

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

io::Json timings(std::vector<double> s) {
  std::sort(s.begin(), s.end());
  const double median = s.size() % 2 ? s[s.size() / 2] : (s[s.size() / 2 - 1] + s[s.size() / 2]) / 2;
  return {{"seconds_best", s.front()}, {"seconds_median", median}};
}

io::Json unet_step(const fs::path& folder, int64_t batch, int rounds) {
  torch::NoGradGuard no_grad;
  const auto tok = model::ClipTokenizer::from_folder(folder / "tokenizer");
  auto text = model::load_clip_text_model(folder / "text_encoder");
  auto unet = model::load_unet2d_condition(folder / "unet");
  std::vector<std::string> prompts(static_cast<size_t>(batch), "");
  prompts.insert(prompts.end(), static_cast<size_t>(batch), kPrompt);
  const torch::Tensor ids = torch::tensor(tok.encode_padded_batch(prompts), torch::kLong).view({2 * batch, -1});
  const torch::Tensor context = text->forward(ids).hidden;
  const torch::Tensor half = torch::randn({batch, 4, 32, 32}, diffusion::make_cpu_generator(0));
  const torch::Tensor latents = torch::cat({half, half});
  const torch::Tensor t = torch::full({2 * batch}, 500, torch::kLong);
  unet->forward(latents, t, context);  // warm-up
  std::vector<double> s;
  for (int r = 0; r < rounds; ++r) {
    const double t0 = bench::now_s();
    unet->forward(latents, t, context);
    s.push_back(bench::now_s() - t0);
  }
  io::Json j = timings(s);
  j["steps"] = 1;
  return j;
}

io::Json pipeline(const fs::path& folder, int64_t batch, int64_t steps, int rounds, const std::string& images) {
  const diffusion::SdPipeline pipe = diffusion::SdPipeline::load(folder);
  const std::vector<std::string> prompts(static_cast<size_t>(batch), kPrompt);
  std::vector<uint64_t> seeds;
  for (int64_t i = 0; i < batch; ++i) seeds.push_back(static_cast<uint64_t>(i));
  diffusion::SdPipelineOptions o;
  o.guidance_scale = 7.5;
  o.height = o.width = 256;
  o.batch = batch;
  o.steps = 2;
  pipe.generate(prompts, seeds, o);  // warm-up
  o.steps = steps;
  std::vector<double> s;
  torch::Tensor img;
  for (int r = 0; r < rounds; ++r) {
    const double t0 = bench::now_s();
    img = pipe.generate(prompts, seeds, o);
    s.push_back(bench::now_s() - t0);
  }
  if (!images.empty()) io::write_npy(images, io::from_tensor(img));
  io::Json j = timings(s);
  j["steps"] = steps;
  return j;
}

const io::Json& part_of(const io::Json& list, const std::string& part) {
  for (const auto& j : list)
    if (j.at("part") == part) return j;
  std::fprintf(stderr, "no part %s in the baseline's JSON\n", part.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  core::use_best_blas_kernels(argv);  // the kernels and thread settings the diffmem CLI uses
  bench::Flags f(argc, argv,
                 {"--folder", "--python", "--threads", "--batch", "--steps", "--rounds", "--part", "--json", "--images"},
                 {"--no-python"}, "see the comment at the top of bench/sd_bench.cpp");
  const fs::path folder = f.str("--folder", "/tmp/diffmem_sd_bench");
  const std::string python = f.str("--python", "python3");
  const int threads = static_cast<int>(f.num("--threads", 2));
  const int64_t batch = f.num("--batch", 1), steps = f.num("--steps", 20);
  const int rounds = static_cast<int>(f.num("--rounds", 3));
  const std::string part = f.str("--part", "");
  if (!part.empty()) {  // one part, in this process
    core::set_threads(threads);
    io::Json j = part == "unet_step" ? unet_step(folder, batch, rounds)
                                     : pipeline(folder, batch, steps, rounds, f.str("--images", ""));
    j["part"] = part;
    j["batch"] = batch;
    j["threads"] = threads;
    j["peak_rss_mib"] = peak_rss_mib();
    j["torch"] = TORCH_VERSION;
    io::write_json(f.str("--json", "/dev/stdout"), j);
    return 0;
  }

  const std::string script = std::string(DIFFMEM_SOURCE_DIR) + "/bench/sd_baseline.py";
  if (!fs::is_regular_file(folder / "model_index.json"))
    bench::run_or_die(python + " " + script + " --make-folder " + folder.string() + " --threads " +
                      std::to_string(threads));
  const fs::path tmp = fs::temp_directory_path() / ("sd_bench." + std::to_string(getpid()));
  fs::create_directories(tmp);
  const std::string common = " --threads " + std::to_string(threads) + " --batch " + std::to_string(batch) +
                             " --steps " + std::to_string(steps) + " --rounds " + std::to_string(rounds);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  io::Json ours = io::Json::array();
  for (const char* p : {"unet_step", "pipeline"}) {
    const fs::path out = tmp / (std::string("diffmem_") + p + ".json");
    bench::run_or_die(self + " --part " + p + " --folder " + folder.string() + common + " --json " + out.string() +
                      (std::string(p) == "pipeline" ? " --images " + (tmp / "diffmem_images.npy").string() : ""));
    ours.push_back(io::read_json(out));
  }
  io::Json theirs = io::Json::array();
  if (!f.on("--no-python")) {
    bench::run_or_die(python + " " + script + " --model " + folder.string() + common + " --json " +
                      (tmp / "diffusers.json").string() + " --images " + (tmp / "diffusers_images.npy").string());
    theirs = io::read_json(tmp / "diffusers.json");
  }
  std::printf("sd_bench: %s, batch %lld, %lld steps, %d threads, best of %d\n", folder.c_str(),
              static_cast<long long>(batch), static_cast<long long>(steps), threads, rounds);
  std::printf("| part | diffmem best s | diffmem median s | diffusers best s | diffusers median s | speed-up (best) "
              "| diffmem peak RSS MiB | diffusers peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const char* p : {"unet_step", "pipeline"}) {
    const io::Json& a = part_of(ours, p);
    if (theirs.empty()) {
      std::printf("| %s | %.3f | %.3f | - | - | - | %.0f | - |\n", p, a.at("seconds_best").get<double>(),
                  a.at("seconds_median").get<double>(), a.at("peak_rss_mib").get<double>());
      continue;
    }
    const io::Json& b = part_of(theirs, p);
    std::printf("| %s | %.3f | %.3f | %.3f | %.3f | %.2fx | %.0f | %.0f |\n", p, a.at("seconds_best").get<double>(),
                a.at("seconds_median").get<double>(), b.at("seconds_best").get<double>(),
                b.at("seconds_median").get<double>(),
                b.at("seconds_best").get<double>() / a.at("seconds_best").get<double>(),
                a.at("peak_rss_mib").get<double>(), b.at("peak_rss_mib").get<double>());
  }
  if (!theirs.empty()) {
    const torch::Tensor x = io::to_tensor(io::read_npy(tmp / "diffmem_images.npy")).to(torch::kInt32);
    const torch::Tensor y = io::to_tensor(io::read_npy(tmp / "diffusers_images.npy")).to(torch::kInt32);
    const torch::Tensor d = (x - y).abs();
    std::printf("images: %.4f%% of values within one uint8 level of diffusers' (largest difference %lld); "
                "diffusers' attention: %s, torch %s\n",
                100 * d.le(1).to(torch::kFloat64).mean().item<double>(), static_cast<long long>(d.max().item<int>()),
                part_of(theirs, "pipeline").value("attn_processor", "?").c_str(),
                part_of(theirs, "pipeline").value("torch", "?").c_str());
  }
  fs::remove_all(tmp);
  return 0;
}
