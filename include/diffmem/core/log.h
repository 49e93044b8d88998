#pragma once
// The library never prints: it logs through here. The CLI installs the sink (stderr by default).
#include <functional>
#include <string>

namespace diffmem::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using Sink = std::function<void(Level, const std::string&)>;

/// Replaces the sink; an empty function restores the default (stderr, level prefix).
void set_sink(Sink sink);
void set_level(Level level);
Level level();

void write(Level level, const std::string& message);
inline void debug(const std::string& m) { write(Level::kDebug, m); }
inline void info(const std::string& m) { write(Level::kInfo, m); }
inline void warn(const std::string& m) { write(Level::kWarn, m); }

}  // namespace diffmem::log
