#include "blas_threads.h"

#include <dlfcn.h>

#include <mutex>

namespace diffmem::search::detail {
namespace {

using SetFn = void (*)(int);
using GetFn = int (*)();

struct OpenBlasControl {
  SetFn set = nullptr;
  GetFn get = nullptr;
};

const OpenBlasControl& control() {
  static const OpenBlasControl c = [] {
    OpenBlasControl o;
    o.set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    o.get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (o.set == nullptr || o.get == nullptr) o = OpenBlasControl{};
    return o;
  }();
  return c;
}

// Concurrent searches share one setting: the first in sets it, the last out restores it.
std::mutex g_mutex;
int g_users = 0;
int g_saved = 0;

}  // namespace

SerialBlas::SerialBlas() {
  const OpenBlasControl& c = control();
  if (c.set == nullptr) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_users++ == 0) {
    g_saved = c.get();
    c.set(1);
  }
  previous_ = g_saved > 0 ? g_saved : 1;
}

SerialBlas::~SerialBlas() {
  if (previous_ == 0) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (--g_users == 0) control().set(g_saved);
}

}  // namespace diffmem::search::detail
