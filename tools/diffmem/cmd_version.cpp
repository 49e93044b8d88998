// `diffmem info`: what this build can do (threads, devices, torch version).
#include <torch/torch.h>

#include <cstdio>

#include "command.h"
#include "diffmem/core/blas_kernels.h"
#include "diffmem/core/runtime.h"

DIFFMEM_COMMAND(900) {
  auto* sub = app.add_subcommand("info", "Print build and runtime information");
  sub->callback([] {
    diffmem::cli::start();
    std::printf("diffmem 0.1.0\n");
    std::printf("libtorch %s\n", TORCH_VERSION);
    std::printf("threads %d\n", torch::get_num_threads());
    const std::string blas = diffmem::core::blas_core_name();
    std::printf("blas %s\n", blas.empty() ? "not openblas" : ("openblas, " + blas + " kernels").c_str());
    std::printf("cuda %s\n", diffmem::core::cuda_available() ? "available" : "not available");
  });
}
