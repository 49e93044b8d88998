// `diffmem info`, and the OpenBLAS kernel choice every diffmem process makes before its work.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "diffmem/core/blas_kernels.h"
#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem {
namespace {

// The "blas ..." line of `diffmem info`, run with `env` before the binary.
std::string blas_line(const std::string& env) {
  auto r = test::run_shell(env + " " + test::diffmem_command() + " info");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto at = r.output.find("\nblas ");
  if (at == std::string::npos) return "missing: " + r.output;
  return r.output.substr(at + 1, r.output.find('\n', at + 1) - at - 1);
}

TEST(InfoCli, UsesTheBestOpenBlasKernelsTheCpuSupports) {
  const std::string best = core::best_blas_core_for_cpu();
  const std::string kept = blas_line("env -u OPENBLAS_CORETYPE DIFFMEM_KEEP_BLAS_CORE=1");
  if (kept.find("openblas") == std::string::npos) GTEST_SKIP() << "not OpenBLAS: " << kept;
  const std::string chosen = blas_line("env -u OPENBLAS_CORETYPE -u DIFFMEM_KEEP_BLAS_CORE");
  if (kept.find("Prescott") != std::string::npos && !best.empty()) {
    // OpenBLAS fell back to its generic kernels on its own; diffmem must have switched.
    EXPECT_EQ(chosen, "blas openblas, " + best + " kernels");
  } else {
    // OpenBLAS recognised the CPU (or there is nothing better): diffmem leaves its choice alone.
    EXPECT_EQ(chosen, kept);
  }
  // A user's own OPENBLAS_CORETYPE always wins.
  EXPECT_EQ(blas_line("env OPENBLAS_CORETYPE=Prescott"), "blas openblas, Prescott kernels");
}

TEST(InfoCli, DescribesAPipelineFolderFromItsHeaders) {
  const std::string dir = test::source_dir() + "/tests/reference/model/sd_tiny_v1";
  auto r = test::run_diffmem("info --model " + test::shell_quote(dir) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const io::Json j = io::Json::parse(r.output);
  EXPECT_EQ(j["class"], "StableDiffusionPipeline");
  std::map<std::string, io::Json> by_name;
  for (const auto& c : j["components"]) by_name[c["name"].get<std::string>()] = c;
  ASSERT_EQ(by_name.size(), 5u) << r.output;  // tokenizer, text_encoder, unet, vae, scheduler
  EXPECT_EQ(by_name["unet"]["class"], "UNet2DConditionModel");
  EXPECT_EQ(by_name["unet"]["weights"], "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(by_name["unet"]["dtypes"], io::Json::array({"F32"}));
  EXPECT_GT(by_name["unet"]["parameters"].get<int64_t>(), 1000);
  EXPECT_TRUE(by_name["tokenizer"].contains("files"));
  auto text = test::run_diffmem("info --model " + test::shell_quote(dir));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("AutoencoderKL"), std::string::npos) << text.output;
  auto bad = test::run_diffmem("info --model " + test::shell_quote(test::source_dir()));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("neither"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace diffmem
