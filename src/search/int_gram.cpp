#include "diffmem/search/int_gram.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "diffmem/core/error.h"

#ifdef DIFFMEM_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace diffmem::search {
namespace {
constexpr const char* kIntGramWhere = "search::PackedU8Rows";

// b − 128 as a signed byte is b with its top bit flipped.
void shift_rows(const uint8_t* src, int64_t n, int64_t ld, int64_t k0, int64_t kc, int8_t* dst) {
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* s = src + i * ld + k0;
    int8_t* d = dst + i * kc;
    for (int64_t j = 0; j < kc; ++j) d[j] = static_cast<int8_t>(s[j] ^ 0x80u);
  }
}
}  // namespace

RowSums row_sums(const uint8_t* a, int64_t k) {
  // 32-bit partial sums of at most 2^15 values cannot overflow (255² · 2^15 < 2^31).
  RowSums r;
  for (int64_t j0 = 0; j0 < k; j0 += 32768) {
    const int64_t j1 = std::min(k, j0 + 32768);
    uint32_t s = 0, q = 0;
    for (int64_t j = j0; j < j1; ++j) {
      const uint32_t v = a[j];
      s += v;
      q += v * v;
    }
    r.sum += s;
    r.squares += q;
  }
  return r;
}

#ifdef DIFFMEM_HAVE_ONEDNN
namespace {
using dt = dnnl::memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::matmul::primitive_desc make_pd(int64_t m, int64_t k, int64_t n, int64_t lda, int64_t ldo,
                                     const dnnl::memory::desc& weights) {
  const dnnl::memory::desc src({m, k}, dt::u8, dnnl::memory::dims{lda, 1});
  const dnnl::memory::desc dst({m, n}, dt::s32, dnnl::memory::dims{ldo, 1});
  dnnl::primitive_attr attr;
  // Each call brings its own scratchpad, so concurrent products never share oneDNN's.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
#if DNNL_VERSION_MAJOR >= 3
  return dnnl::matmul::primitive_desc(engine(), src, weights, dst, attr);
#else
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), attr, engine());
#endif
}

dnnl::memory::desc any_weights(int64_t k, int64_t n) {
  return dnnl::memory::desc({k, n}, dt::s8, dnnl::memory::format_tag::any);
}

std::string version_string() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}
}  // namespace

struct PackedU8Rows::Impl {
  int64_t n = 0;
  int64_t k = 0;
  struct Chunk {
    int64_t k0 = 0;
    int64_t kc = 0;
    dnnl::memory::desc desc;
    std::vector<uint8_t> data;
  };
  std::vector<Chunk> chunks;

  void pack(const uint8_t* rows, int64_t rows_n, int64_t dim, int64_t ld);
  void gram(const uint8_t* a, int64_t m, int64_t lda, int64_t* out, int64_t ldo) const;
  void run(const Chunk& c, const uint8_t* a, int64_t m, int64_t lda, int32_t* out,
           int64_t ldo) const {
    // Every brgemm kernel of oneDNN 2.6 (AMX, and VNNI for a handful of rows) takes the layout
    // packed for 1,024 rows; a build without one fails here, by name.
    dnnl::matmul::primitive_desc pd;
    try {
      pd = make_pd(m, c.kc, n, lda, ldo, c.desc);
    } catch (const dnnl::error& e) {
      fail(kIntGramWhere, "a kernel for " + std::to_string(m) + " x " + std::to_string(c.kc) + " x " +
                       std::to_string(n) + " on the packed rows",
           e.what());
    }
    thread_local std::vector<uint8_t> scratch;
    scratch.resize(std::max<size_t>(1, pd.scratchpad_desc().get_size()));
    dnnl::stream stream(engine());
    dnnl::matmul(pd).execute(
        stream,
        {{DNNL_ARG_SRC, dnnl::memory(pd.src_desc(), engine(), const_cast<uint8_t*>(a + c.k0))},
         {DNNL_ARG_WEIGHTS,
          dnnl::memory(c.desc, engine(), const_cast<uint8_t*>(c.data.data()))},
         {DNNL_ARG_DST, dnnl::memory(pd.dst_desc(), engine(), out)},
         {DNNL_ARG_SCRATCHPAD, dnnl::memory(pd.scratchpad_desc(), engine(), scratch.data())}});
    stream.wait();
  }
};

void PackedU8Rows::Impl::pack(const uint8_t* rows, int64_t rows_n, int64_t dim, int64_t ld) {
  n = rows_n;
  k = dim;
  std::vector<int8_t> shifted;
  for (int64_t k0 = 0; k0 < k; k0 += kIntGramMaxK) {
    Impl::Chunk c;
    c.k0 = k0;
    c.kc = std::min(kIntGramMaxK, k - k0);
    shifted.resize(static_cast<size_t>(n * c.kc));
    shift_rows(rows, n, ld, k0, c.kc, shifted.data());
    // The layout oneDNN picks for a large product (AMX where the CPU has it); smaller products
    // are run on it too (see run()).
    c.desc = make_pd(1024, c.kc, n, c.kc, n, any_weights(c.kc, n)).weights_desc();
    c.data.resize(c.desc.get_size());
    const dnnl::memory::desc plain({c.kc, n}, dt::s8, dnnl::memory::format_tag::ba);
    dnnl::memory src(plain, engine(), shifted.data());
    dnnl::memory dst(c.desc, engine(), c.data.data());
    dnnl::stream stream(engine());
    dnnl::reorder(src, dst).execute(stream, src, dst);
    stream.wait();
    chunks.push_back(std::move(c));
  }
}

PackedU8Rows::PackedU8Rows(const uint8_t* rows, int64_t n, int64_t k, int64_t ld)
    : impl_(std::make_unique<Impl>()) {
  check(int_gram_kernel().available, kIntGramWhere, "an integer GEMM kernel", int_gram_kernel().reason);
  check(n >= 1 && k >= 1 && ld >= k, kIntGramWhere, "n >= 1 rows of k >= 1 bytes, ld >= k",
        "n " + std::to_string(n) + ", k " + std::to_string(k) + ", ld " + std::to_string(ld));
  impl_->pack(rows, n, k, ld);
}

int64_t PackedU8Rows::bytes() const {
  int64_t b = 0;
  for (const auto& c : impl_->chunks) b += static_cast<int64_t>(c.data.size());
  return b;
}

void PackedU8Rows::gram_shifted(const uint8_t* a, int64_t m, int64_t lda, int32_t* out,
                                int64_t ldo) const {
  check(impl_->chunks.size() == 1, kIntGramWhere, "rows of at most " + std::to_string(kIntGramMaxK) +
        " bytes for an int32 product", std::to_string(impl_->k));
  if (m == 0) return;
  impl_->run(impl_->chunks[0], a, m, lda, out, ldo);
}

void PackedU8Rows::Impl::gram(const uint8_t* a, int64_t m, int64_t lda, int64_t* out,
                               int64_t ldo) const {
  std::vector<int32_t> part(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t shift = 128 * row_sums(a + i * lda, k).sum;
    std::fill(out + i * ldo, out + i * ldo + n, shift);
  }
  for (const auto& c : chunks) {
    run(c, a, m, lda, part.data(), n);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) out[i * ldo + j] += part[size_t(i * n + j)];
    }
  }
}

void PackedU8Rows::gram(const uint8_t* a, int64_t m, int64_t lda, int64_t* out,
                        int64_t ldo) const {
  if (m > 0) impl_->gram(a, m, lda, out, ldo);
}

namespace {
IntGramKernel probe() {
  IntGramKernel k;
  const std::string version = "oneDNN " + version_string();
  try {
    k.name = version + " " + make_pd(1024, 784, 4096, 784, 4096, any_weights(784, 4096)).impl_info_str();
    if (k.name.find("vnni") == std::string::npos && k.name.find("amx") == std::string::npos) {
      k.reason = k.name + " is neither VNNI nor AMX (its int8 sums may saturate)";
      return k;
    }
    // 255 × (0 − 128) everywhere saturates a 16-bit pair sum at once; kernels that survive it and
    // a mixed pattern are exact. Two shapes: oneDNN runs few rows on other kernels than many.
    const int64_t kk = 4096;
    for (int64_t rows : {16, 96}) {
      std::vector<uint8_t> a(size_t(rows * kk), 255), b(size_t(rows * kk), 0);
      for (int64_t i = 0; i < kk; ++i) {
        a[size_t(kk + i)] = static_cast<uint8_t>((i * 37) & 255);
        b[size_t(kk + i)] = static_cast<uint8_t>((i * 91 + 7) & 255);
      }
      // Impl directly: the public constructor asks for this very probe's verdict.
      PackedU8Rows::Impl packed;
      packed.pack(b.data(), rows, kk, kk);
      std::vector<int64_t> got(size_t(rows * rows));
      packed.gram(a.data(), rows, kk, got.data(), rows);
      for (int64_t i = 0; i < 2; ++i) {
        for (int64_t j = 0; j < rows; ++j) {
          int64_t want = 0;
          for (int64_t t = 0; t < kk; ++t) {
            want += int64_t(a[size_t(i * kk + t)]) * int64_t(b[size_t(j * kk + t)]);
          }
          if (got[size_t(i * rows + j)] != want) {
            k.reason = k.name + " gave " + std::to_string(got[size_t(i * rows + j)]) +
                       " for an exact product of " + std::to_string(want);
            return k;
          }
        }
      }
    }
  } catch (const dnnl::error& e) {
    k.reason = version + ": " + e.what();
    return k;
  } catch (const Error& e) {
    k.reason = e.what();
    return k;
  }
  k.available = true;
  return k;
}
}  // namespace

const IntGramKernel& int_gram_kernel() {
  static const IntGramKernel k = probe();
  return k;
}

#else  // no oneDNN headers at build time

struct PackedU8Rows::Impl {
  int64_t n = 0;
  int64_t k = 0;
};

PackedU8Rows::PackedU8Rows(const uint8_t*, int64_t, int64_t, int64_t) {
  fail(kIntGramWhere, "an integer GEMM kernel", int_gram_kernel().reason);
}
int64_t PackedU8Rows::bytes() const { return 0; }
void PackedU8Rows::gram_shifted(const uint8_t*, int64_t, int64_t, int32_t*, int64_t) const {}
void PackedU8Rows::gram(const uint8_t*, int64_t, int64_t, int64_t*, int64_t) const {}

const IntGramKernel& int_gram_kernel() {
  static const IntGramKernel k{false, "", "built without oneDNN (install libdnnl-dev)"};
  return k;
}
#endif

PackedU8Rows::~PackedU8Rows() = default;
PackedU8Rows::PackedU8Rows(PackedU8Rows&&) noexcept = default;
PackedU8Rows& PackedU8Rows::operator=(PackedU8Rows&&) noexcept = default;

int64_t PackedU8Rows::rows() const { return impl_ ? impl_->n : 0; }
int64_t PackedU8Rows::dim() const { return impl_ ? impl_->k : 0; }

}  // namespace diffmem::search
