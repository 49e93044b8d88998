#include "diffmem/core/runtime.h"

#include <torch/torch.h>

#include <dlfcn.h>

#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "diffmem/core/error.h"

namespace diffmem::core {

int set_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
#ifdef _OPENMP
  // diffmem's own parallel loops run on the OpenMP runtime this binary links. With Debian's
  // LibTorch that is LibTorch's too, and this repeats what set_num_threads did; with a wheel's
  // LibTorch, which bundles its own copy, it is a second runtime that must hear the count too.
  omp_set_num_threads(n);
#endif
  // OpenBLAS (Debian's libopenblas0-pthread, under LibTorch's matmul and the k-NN's GEMMs) keeps a
  // thread pool of its own that neither setting reaches: without this, --threads 1 still ran every
  // GEMM on all cores, and two MPI ranks of one thread each fought over them.
  using SetFn = void (*)(int);
  static const auto openblas_set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (openblas_set != nullptr) openblas_set(n);
  return n;
}

bool cuda_available() { return torch::cuda::is_available(); }

int cuda_device_count() { return static_cast<int>(torch::cuda::device_count()); }

std::string resolve_device(const std::string& requested) {
  if (requested == "auto" || requested.empty()) return cuda_available() ? "cuda" : "cpu";
  if (requested == "cpu") return "cpu";
  if (requested.rfind("cuda", 0) == 0) {
    if (!cuda_available()) fail("--device", "a CUDA device", "none (this build or machine has no GPU)");
    return requested;
  }
  fail("--device", "cpu, cuda, cuda:N, cuda:local (an MPI rank's GPU on its machine) or auto", "'" + requested + "'");
}

}  // namespace diffmem::core
