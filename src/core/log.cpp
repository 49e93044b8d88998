#include "diffmem/core/log.h"

#include <cstdio>
#include <mutex>

namespace diffmem::log {
namespace {
std::mutex g_mutex;
Sink g_sink;
Level g_level = Level::kInfo;

const char* name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warning";
    case Level::kError: return "error";
  }
  return "?";
}
}  // namespace

void set_sink(Sink sink) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sink = std::move(sink);
}
void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

void write(Level level, const std::string& message) {
  if (level < g_level) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sink) {
    g_sink(level, message);
  } else {
    std::fprintf(stderr, "[%s] %s\n", name(level), message.c_str());
  }
}

}  // namespace diffmem::log
