#pragma once
// OpenBLAS kernel choice. Debian 12's OpenBLAS (0.3.21) does not recognise recent Xeons, which a
// VM reports as a generic "Intel(R) Xeon(R) Processor", and falls back to its Prescott (SSE3)
// kernels: GEMMs — and with them convolutions, linear layers and the k-NN search — run 3-5x
// slower than the CPU allows. OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded, so the
// remedy from inside a program is to set it and exec the program again before any work is done.
#include <string>

namespace diffmem::core {

/// The kernel set the loaded OpenBLAS uses ("SkylakeX", "Haswell", "Prescott", ...), or "" when no
/// OpenBLAS is loaded.
std::string blas_core_name();

/// The OPENBLAS_CORETYPE this CPU supports best: "SkylakeX" (AVX-512 F/BW/VL/DQ), "Haswell"
/// (AVX2 + FMA), or "" (nothing better than OpenBLAS's own choice).
std::string best_blas_core_for_cpu();

/// Call first thing in main(). When OpenBLAS fell back to Prescott on a CPU that supports better
/// kernels, and neither OPENBLAS_CORETYPE nor DIFFMEM_KEEP_BLAS_CORE is set, sets
/// OPENBLAS_CORETYPE and re-executes /proc/self/exe with the same arguments (it does not return
/// then). Otherwise, or when exec fails, it returns and nothing changes.
void use_best_blas_kernels(char** argv);

}  // namespace diffmem::core
