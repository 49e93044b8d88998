#pragma once
// The flags the commands share, each defined once here with one help text (a command adds what
// the value holds for it after a colon), and the one "config file, then flags" merge that every
// command with --config uses.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "diffmem/io/fields.h"
#include "diffmem/io/json.h"

namespace diffmem::cli {

struct Flag {
  const char* name;
  const char* help;
};

namespace flags {
extern const Flag kOut, kSeed, kSteps, kBatch, kData, kModel, kSampler, kDelta, kDevice, kThreads;
}  // namespace flags

/// The help of `f`, then ": " and what it holds for this command when `what` is not empty.
std::string help_text(const Flag& f, const std::string& what = "");

/// An unsigned flag refuses a leading '-' (CLI11 would wrap "-1" to 2^64 - 1).
template <typename T>
CLI::Option* checked(CLI::Option* opt) {
  if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) opt->check(CLI::NonNegativeNumber);
  return opt;
}

/// --bootstrap N, --confidence L and --stats-seed S bound to a metrics::BootstrapOptions-shaped
/// struct (resamples, level, seed): the intervals every attack reports.
template <typename B>
void add_bootstrap_flags(CLI::App* app, B& b) {
  app->add_option("--bootstrap", b.resamples,
                  "Bootstrap resamples for the confidence intervals of AUC, TPR@FPR and rates (0 = none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_option("--confidence", b.level, "Confidence level of the intervals")
      ->check(CLI::Range(0.5, 0.9999))
      ->capture_default_str();
  checked<decltype(b.seed)>(app->add_option("--stats-seed", b.seed, "Seed of the bootstrap resamples and the calibration split"))
      ->capture_default_str();
}

/// Adds the shared flag `f` bound to `value`.
template <typename T>
CLI::Option* add_shared(CLI::App* app, const Flag& f, T& value, const std::string& what = "") {
  return checked<T>(app->add_option(f.name, value, help_text(f, what)));
}

/// --set KEY=VALUE, repeatable: any field of a command's options struct (io/fields.h) by its
/// dotted key path, e.g. `--set knn.query_block=512`; VALUE is JSON (a bare word is a string).
/// Applied over what the command's own flags set, through the options' strict reader, so an
/// unknown key or a value of the wrong type is an error naming --set.
class SetFlag {
 public:
  /// `keys` are listed in --help (io::field_keys of the options).
  SetFlag(CLI::App* app, const std::vector<std::string>& keys);
  /// The assignments as an object of the options' shape ({} when none).
  io::Json json() const;
  template <typename T>
  void apply(T& options) const {
    if (assignments_.empty()) return;
    io::Json j = io::fields_json(options);
    io::overlay_json(j, json());
    options = io::read_options<T>(j, "--set", options);
  }

 private:
  std::vector<std::string> assignments_;
};

/// Flags that set JSON pointers of an options object: a command reads its --config file (or
/// starts from {}), and the flags given on the command line go over it.
class ConfigFlags {
 public:
  explicit ConfigFlags(CLI::App* app) : app_(app) {}

  /// A flag of this command alone, writing `pointers`; `initial` is the default --help shows.
  template <typename T>
  CLI::Option* add(const std::string& name, const std::string& help,
                   std::vector<std::string> pointers, T initial = T{}) {
    auto v = std::make_shared<T>(std::move(initial));
    CLI::Option* opt = checked<T>(app_->add_option(name, *v, help));
    if constexpr (std::is_same_v<T, std::vector<int64_t>>) opt->delimiter(',');
    set_.emplace_back(name, [v, pointers](io::Json& j) {
      for (const auto& p : pointers) j[io::Json::json_pointer(p)] = *v;
    });
    return opt;
  }
  /// A shared flag writing `pointers`.
  template <typename T>
  CLI::Option* add(const Flag& f, const std::string& what, std::vector<std::string> pointers,
                   T initial = T{}) {
    return add<T>(f.name, help_text(f, what), std::move(pointers), std::move(initial));
  }

  /// --set (SetFlag) for every key of the options; given() puts its assignments last.
  void add_set(const std::vector<std::string>& keys);

  /// The flags given on the command line, as an object of the options' shape (--set last).
  io::Json given() const;
  /// `base` with given() over it (objects merge key by key).
  io::Json over(io::Json base) const;

 private:
  CLI::App* app_;
  std::vector<std::pair<std::string, std::function<void(io::Json&)>>> set_;
  std::unique_ptr<SetFlag> set_flag_;
};

/// A --config file: a JSON object, or an error naming the file.
io::Json read_config(const std::filesystem::path& path);

}  // namespace diffmem::cli
