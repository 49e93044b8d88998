#include "diffmem/core/ranges.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "diffmem/core/error.h"
#include "diffmem/core/format.h"

namespace diffmem::core {
namespace {

std::string at(const std::string& where, const std::string& key) {
  if (key.empty()) return where;
  return where.empty() ? key : where + ": " + key;
}

}  // namespace

void check_at_least(const std::string& where, const std::string& key, int64_t value, int64_t lo) {
  if (value < lo) fail(at(where, key), "an integer >= " + std::to_string(lo), std::to_string(value));
}

void check_between(const std::string& where, const std::string& key, int64_t value, int64_t lo,
                   int64_t hi) {
  if (value < lo || value > hi)
    fail(at(where, key), "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
         std::to_string(value));
}

std::string Interval::str() const {
  const double inf = std::numeric_limits<double>::infinity();
  if (hi == inf) return std::string(lo_open ? "> " : ">= ") + core::exact_number(lo) + " (finite)";
  return std::string(lo_open ? "in (" : "in [") + core::exact_number(lo) + ", " + core::exact_number(hi) + (hi_open ? ")" : "]");
}

void check_in(const std::string& where, const std::string& key, double v, const Interval& in) {
  const bool ok = std::isfinite(v) && (in.lo_open ? v > in.lo : v >= in.lo) &&
                  (in.hi_open ? v < in.hi : v <= in.hi);
  if (!ok) fail(at(where, key), "a number " + in.str(), core::exact_number(v));
}

namespace {
double g_model_memory_limit_gib = 64;
}  // namespace

void set_model_memory_limit_gib(double gib) {
  check_in("--max-memory", "", gib, positive());
  g_model_memory_limit_gib = gib;
}

double model_memory_limit_gib() { return g_model_memory_limit_gib; }

void check_model_memory(const std::string& where, double parameter_bytes, double activation_bytes) {
  const double gib = 1024.0 * 1024.0 * 1024.0;
  if ((parameter_bytes + activation_bytes) / gib <= g_model_memory_limit_gib) return;
  char limit[32], found[160];
  std::snprintf(limit, sizeof limit, "%g", g_model_memory_limit_gib);
  std::snprintf(found, sizeof found, "%.3g GiB of parameters and %.3g GiB of activations per image",
                parameter_bytes / gib, activation_bytes / gib);
  fail(where, std::string("a network under ") + limit +
                  " GiB (--max-memory; estimated from block_out_channels, layers_per_block and sample_size)",
       found);
}

Interval positive() { return {0, std::numeric_limits<double>::infinity(), true, true}; }
Interval non_negative() { return {0, std::numeric_limits<double>::infinity(), false, true}; }
Interval unit_closed() { return {0, 1}; }
Interval unit_half_open() { return {0, 1, false, true}; }

}  // namespace diffmem::core
