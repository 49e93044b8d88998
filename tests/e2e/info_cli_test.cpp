// `diffmem info`, and the OpenBLAS kernel choice every diffmem process makes before its work.
#include <gtest/gtest.h>

#include <string>

#include "diffmem/core/blas_kernels.h"
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

}  // namespace
}  // namespace diffmem
