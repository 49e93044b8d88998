// The first-step screen against generate-and-filter on one text-to-image pipeline folder, in one
// run: what each spends per prompt in U-Net evaluations and in seconds.
//   screen             attack::run_screen on --prompts prompts, --per-prompt seeds each (Wen et
//                      al.'s first-step norm + the low-noise pass of Asthana & Belagiannis)
//   generate-and-filter attack::run_blackbox_text_to_image on --gen-prompts of the same prompts with
//                      --gen-per-prompt generations each, streamed into the clique filter; its
//                      cost per generation is scaled to the paper's 500 per prompt (stated so)
//
//   screen_bench --model FOLDER [--prompts 32] [--per-prompt 4] [--gen-prompts 2]
//                [--gen-per-prompt 32] [--steps 20] [--guidance 3] [--threads 0]
// Default model: the tiny SD-1.x pipeline of tests/reference (random weights; the cost ratio does
// not depend on what the model learned).
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "bench_util.h"
#include "diffmem/attack/blackbox_text_to_image.h"
#include "diffmem/attack/screen.h"
#include "diffmem/core/atomic_file.h"
#include "diffmem/core/blas_kernels.h"
#include "diffmem/core/runtime.h"

namespace fs = std::filesystem;
using namespace diffmem;

int main(int argc, char** argv) {
  core::use_best_blas_kernels(argv);
  const bench::Flags f(argc, argv,
                       {"--model", "--prompts", "--per-prompt", "--gen-prompts", "--gen-per-prompt", "--steps",
                        "--guidance", "--threads"},
                       {}, "see the comment at the top of bench/screen_bench.cpp");
  const std::string model = f.str("--model", std::string(DIFFMEM_SOURCE_DIR) + "/tests/reference/model/sd_tiny_v1");
  const int64_t prompts = f.num("--prompts", 32), per_prompt = f.num("--per-prompt", 4);
  const int64_t gen_prompts = f.num("--gen-prompts", 2), gen_per_prompt = f.num("--gen-per-prompt", 32);
  const int threads = core::set_threads(static_cast<int>(f.num("--threads", 0)));
  const fs::path dir = fs::temp_directory_path() / ("screen-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string csv = "prompt\n";
  for (int64_t i = 0; i < prompts; ++i) csv += "\"a photo of thing number " + std::to_string(i) + ", studio light\"\n";
  core::write_file_atomic(dir / "prompts.csv", csv);
  std::string gen_csv = "prompt\n";
  for (int64_t i = 0; i < gen_prompts; ++i) gen_csv += "\"a photo of thing number " + std::to_string(i) + ", studio light\"\n";
  core::write_file_atomic(dir / "gen.csv", gen_csv);

  attack::ScreenOptions so;
  so.model = model;
  so.prompts = (dir / "prompts.csv").string();
  so.per_prompt = per_prompt;
  so.pipeline.steps = f.num("--steps", 20);
  so.pipeline.guidance_scale = f.real("--guidance", 3);
  so.pipeline.batch = 16;
  const double s0 = bench::now_s();
  const attack::ScreenResult screen = attack::run_screen(so, dir / "screen");
  const double screen_s = bench::now_s() - s0;  // model load included, as a user's run has it

  attack::TextToImageBlackboxOptions bo;
  bo.model = model;
  bo.prompts = (dir / "gen.csv").string();
  bo.per_prompt = gen_per_prompt;
  bo.pipeline = so.pipeline;
  const double g0 = bench::now_s();
  const attack::TextToImageBlackboxResult gen = attack::run_blackbox_text_to_image(bo, dir / "bb");
  const double gen_s = bench::now_s() - g0;
  fs::remove_all(dir);

  const double screen_evals = static_cast<double>(screen.unet_images) / static_cast<double>(prompts);
  const double screen_sec = screen_s / static_cast<double>(prompts);
  const double images = static_cast<double>(gen_prompts * gen_per_prompt);
  const double gen_evals = 500.0 * static_cast<double>(gen.generation_unet_images) / images;
  const double gen_sec = 500.0 * gen_s / images;
  std::printf("model %s, %d threads, %lld sampling steps, guidance %.1f\n", model.c_str(), threads,
              static_cast<long long>(so.pipeline.steps), so.pipeline.guidance_scale);
  std::printf("| per prompt | U-Net evaluations | seconds |\n|---|---:|---:|\n");
  std::printf("| screen: %lld seeds x (1 first step + 1 low-noise pass), %lld prompts timed | %.0f | %.3f |\n",
              static_cast<long long>(per_prompt), static_cast<long long>(prompts), screen_evals, screen_sec);
  std::printf("| generate-and-filter: 500 generations (%lld prompts x %lld timed, scaled to 500) | %.0f | %.1f |\n",
              static_cast<long long>(gen_prompts), static_cast<long long>(gen_per_prompt), gen_evals, gen_sec);
  std::printf("| **ratio** | **%.0fx** | **%.0fx** |\n", gen_evals / screen_evals, gen_sec / screen_sec);
  return 0;
}
