#pragma once
// The range of a numeric option, checked where the options are validated (each options struct's
// validate(), which io::read_options runs on every config file and flag), with one message shape:
// "WHERE: KEY: expected RANGE, found VALUE". NaN and infinities are outside every range.
#include <cstdint>
#include <string>

namespace diffmem::core {

/// KEY >= lo.
void check_at_least(const std::string& where, const std::string& key, int64_t value, int64_t lo);
/// lo <= KEY <= hi.
void check_between(const std::string& where, const std::string& key, int64_t value, int64_t lo,
                   int64_t hi);

/// A real interval; open ends exclude their bound.
struct Interval {
  double lo, hi;
  bool lo_open = false, hi_open = false;
  std::string str() const;  // "in [0, 1)", or "> 0 (finite)" when hi is +inf
};
/// A finite KEY inside `in`.
void check_in(const std::string& where, const std::string& key, double value, const Interval& in);

/// "> 0" (finite), ">= 0" (finite), "[0, 1]", "[0, 1)".
Interval positive();
Interval non_negative();
Interval unit_closed();
Interval unit_half_open();

/// The most memory one model may need, in GiB: its parameters and one image's activations,
/// estimated from its config before anything is allocated (a config.json with
/// block_out_channels [8192, 8192] is refused with the numbers, not by the allocator). The CLI's
/// --max-memory sets it; default 64.
void set_model_memory_limit_gib(double gib);
double model_memory_limit_gib();
/// Throws "WHERE: expected a network under LIMIT GiB (--max-memory; ...), found P GiB of
/// parameters and A GiB of activations per image" when the two estimates exceed the limit.
void check_model_memory(const std::string& where, double parameter_bytes, double activation_bytes);

}  // namespace diffmem::core
