#pragma once
// OpenBLAS (pthreads build, what Debian's libtorch links) runs every GEMM on its own thread pool.
// The CPU k-NN instead splits each query block across torch's threads, each running a
// single-threaded GEMM on its rows and folding them while they are still in its cache; this
// asks OpenBLAS for one thread while it lives. The functions are looked up at run time, so with
// another BLAS it does nothing and the search keeps BLAS-threaded GEMMs. Internal to search.
namespace diffmem::search::detail {

class SerialBlas {
 public:
  SerialBlas();
  ~SerialBlas();
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;
  /// True when the BLAS was found and now runs single-threaded.
  bool active() const { return previous_ > 0; }

 private:
  int previous_ = 0;
};

}  // namespace diffmem::search::detail
