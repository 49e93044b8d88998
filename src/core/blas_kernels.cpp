#include "diffmem/core/blas_kernels.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>

namespace diffmem::core {

std::string blas_core_name() {
  using CoreNameFn = char* (*)();
  auto fn = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (fn == nullptr) return "";
  const char* name = fn();
  return name ? name : "";
}

std::string best_blas_core_for_cpu() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return "";
}

void use_best_blas_kernels(char** argv) {
  const std::string loaded = blas_core_name();
  if (loaded.empty()) return;  // not OpenBLAS: nothing to choose
  bool changed = false;
  // Only the generic fallbacks are overridden; a core OpenBLAS recognised is left alone.
  const bool generic = loaded == "Prescott" || loaded == "prescott" || loaded == "Core2" ||
                       loaded == "core2";
  if (generic && std::getenv("OPENBLAS_CORETYPE") == nullptr &&
      std::getenv("DIFFMEM_KEEP_BLAS_CORE") == nullptr) {
    const std::string best = best_blas_core_for_cpu();
    if (!best.empty()) {
      ::setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
      changed = true;
    }
  }
  if (std::getenv("OPENBLAS_THREAD_TIMEOUT") == nullptr) {
    ::setenv("OPENBLAS_THREAD_TIMEOUT", kBlasThreadTimeout, 1);
    changed = true;
  }
  if (!changed) return;
  ::execv("/proc/self/exe", argv);
  // exec failed: carry on with what OpenBLAS already chose.
  ::unsetenv("OPENBLAS_CORETYPE");
  ::unsetenv("OPENBLAS_THREAD_TIMEOUT");
}

}  // namespace diffmem::core
