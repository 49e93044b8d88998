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

/// How long, as 2^n cycles, an idle OpenBLAS thread spins before it sleeps (OpenBLAS's default
/// is 2^28, ~0.1 s). OpenBLAS (pthreads) and LibTorch's OpenMP pool are two sets of threads on
/// the same cores: a GEMM's helpers that keep spinning take the cores from the convolutions that
/// follow. Measured on the small U-Net, 2 cores: DDIM sampling 42 → 58 images/s, training 166 →
/// 191 (BENCHMARKS.md).
inline constexpr const char* kBlasThreadTimeout = "4";

/// Call first thing in main(). Sets, where the user has not, the OpenBLAS settings that OpenBLAS
/// reads only when it is loaded, then re-executes /proc/self/exe with the same arguments (it does
/// not return then): OPENBLAS_THREAD_TIMEOUT (kBlasThreadTimeout), and OPENBLAS_CORETYPE when
/// OpenBLAS fell back to Prescott on a CPU that supports better kernels (unless
/// DIFFMEM_KEEP_BLAS_CORE is set). When nothing is to be set, no OpenBLAS is loaded, or exec
/// fails, it returns and nothing changes.
void use_best_blas_kernels(char** argv);

}  // namespace diffmem::core
