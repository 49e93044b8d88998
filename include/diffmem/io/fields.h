#pragma once
// One field list per options struct. A struct declares its fields once, next to it:
//
//   DIFFMEM_FIELDS(TiledOptions, grid)                  // key = member name, the common case
//
//   DIFFMEM_VISIT_FIELDS(ExtractOptions) {              // the general form
//     v("delta", o.delta);
//     v("knn", o.knn);                                  // a struct with fields nests
//     v.note("distance", "normalized l2 ...");          // written out, accepted back, never read
//   }
//
// and from that one list come:
//   - JSON: `io::Json j = options;` and `j.get<T>()` (nlohmann's conversions, for any such T);
//   - the strict reader `read_options<T>(j, where)`: defaults, overlaid with `j`; a key not in the
//     list is an error naming the key and `where`; a value of the wrong JSON type (1.5 for an
//     integer, "8" for a number, -1 for an unsigned seed) is an error naming the key; null keeps
//     the default (or empties an optional); then `validate(options, where)` when T has one;
//   - field_keys<T>(): every key path ("knn.k"), for the CLI's --set KEY=VALUE binding.
// Nested structs are read in place, so defaults an enclosing struct sets in its constructor hold.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "diffmem/core/error.h"
#include "diffmem/io/json.h"

/// The field list of `Type`: the body that follows sees the options as `o`, the visitor as `v`.
#define DIFFMEM_VISIT_FIELDS(Type)                                                     \
  template <class O, class V, ::diffmem::io::detail::if_fields_of<O, Type> = 0>        \
  void visit_fields(O& o, V& v)

#define DIFFMEM_FIELD_ONE(name) v(#name, o.name);
/// A field list whose keys are the member names.
#define DIFFMEM_FIELDS(Type, ...) \
  DIFFMEM_VISIT_FIELDS(Type) { NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(DIFFMEM_FIELD_ONE, __VA_ARGS__)) }

namespace diffmem::io {
namespace detail {

template <class O, class T>
using if_fields_of = std::enable_if_t<std::is_same_v<std::remove_const_t<O>, T>, int>;

struct Probe {
  template <class F> void operator()(const char*, F&) {}
  void note(const char*, const std::string&) {}
};

template <class T, class = void>
struct HasFields : std::false_type {};
template <class T>
struct HasFields<T, std::void_t<decltype(visit_fields(std::declval<T&>(), std::declval<Probe&>()))>>
    : std::true_type {};

template <class T> struct IsOptional : std::false_type {};
template <class T> struct IsOptional<std::optional<T>> : std::true_type {};
template <class T> struct IsVector : std::false_type {};
template <class T> struct IsVector<std::vector<T>> : std::true_type {};

template <class T, class = void>
struct HasValidate : std::false_type {};
template <class T>
struct HasValidate<T, std::void_t<decltype(validate(std::declval<const T&>(), std::declval<const std::string&>()))>>
    : std::true_type {};

}  // namespace detail

template <class T>
inline constexpr bool has_fields_v = detail::HasFields<T>::value;

/// A field that could not be read: its key path below the struct read and why.
struct FieldError {
  std::string key;       // "knn.k"; empty for the struct itself
  std::string expected;
  std::string found;
};

namespace detail {

inline std::string join_key(const std::string& at, const std::string& key) {
  return at.empty() ? key : at + "." + key;
}

template <class T>
Json to_value(const T& f);

template <class T>
struct Writer {
  Json& j;
  template <class F> void operator()(const char* key, const F& f) { j[key] = to_value(f); }
  void note(const char* key, const std::string& text) { j[key] = text; }
};

template <class T>
Json to_value(const T& f) {
  if constexpr (IsOptional<T>::value) {
    return f ? to_value(*f) : Json(nullptr);
  } else if constexpr (IsVector<T>::value) {
    Json a = Json::array();
    for (const auto& e : f) a.push_back(to_value(e));
    return a;
  } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
    return Json(f.string());
  } else if constexpr (HasFields<T>::value) {
    Json j = Json::object();
    Writer<T> w{j};
    visit_fields(f, w);
    return j;
  } else {
    return Json(f);
  }
}

[[noreturn]] void type_error(const std::string& key, const char* expected, const Json& found);

template <class T>
void read_value(const Json& v, T& f, const std::string& key, bool strict);

template <class T>
void read_object(const Json& j, T& o, const std::string& at, bool strict);

template <class T>
struct Reader {
  const Json& j;
  const std::string& at;
  bool strict;
  template <class F> void operator()(const char* key, F& f) {
    if (j.contains(key)) read_value(j.at(key), f, join_key(at, key), strict);
  }
  void note(const char*, const std::string&) {}
};

struct KeyCollector {
  std::set<std::string>& keys;
  template <class F> void operator()(const char* key, F&) { keys.insert(key); }
  void note(const char* key, const std::string&) { keys.insert(key); }
};

template <class T>
void read_object(const Json& j, T& o, const std::string& at, bool strict) {
  if (!j.is_object()) type_error(at, "an object of options", j);
  if (strict) {
    std::set<std::string> keys;
    KeyCollector c{keys};
    visit_fields(o, c);
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!keys.count(it.key()))
        throw FieldError{"", "a known option", "unknown key '" + join_key(at, it.key()) + "'"};
  }
  Reader<T> r{j, at, strict};
  visit_fields(o, r);
}

template <class T>
void read_value(const Json& v, T& f, const std::string& key, bool strict) {
  if constexpr (IsOptional<T>::value) {
    if (v.is_null()) { f.reset(); return; }
    typename T::value_type x = f ? *f : typename T::value_type{};
    read_value(v, x, key, strict);
    f = std::move(x);
  } else if (v.is_null()) {
    return;  // null keeps the default
  } else if constexpr (HasFields<T>::value) {
    read_object(v, f, key, strict);
  } else if constexpr (IsVector<T>::value) {
    if (!v.is_array()) type_error(key, "a list", v);
    T out;
    for (size_t i = 0; i < v.size(); ++i) {
      typename T::value_type x{};
      if (v[i].is_null()) type_error(key + "[" + std::to_string(i) + "]", "a value", v[i]);
      read_value(v[i], x, key + "[" + std::to_string(i) + "]", strict);
      out.push_back(std::move(x));
    }
    f = std::move(out);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) type_error(key, "true or false", v);
    f = v.get<bool>();
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
      type_error(key, "a non-negative integer", v);
    f = static_cast<T>(v.get<uint64_t>());
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer() ||
        (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)))
      type_error(key, "an integer", v);
    f = static_cast<T>(v.get<int64_t>());
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) type_error(key, "a number", v);
    f = v.get<T>();
  } else if constexpr (std::is_same_v<T, std::string> ||
                       std::is_same_v<T, std::filesystem::path>) {
    if (!v.is_string()) type_error(key, "a string", v);
    f = T(v.get<std::string>());
  } else {
    try {
      f = v.get<T>();  // enums and other types with their own from_json
    } catch (FieldError& e) {  // thrown by such a from_json for the value itself
      if (e.key.empty()) e.key = key;
      throw;
    } catch (const Error& e) {
      throw FieldError{key, "a valid value", e.what()};
    } catch (const Json::exception& e) {
      throw FieldError{key, "a valid value", e.what()};
    }
  }
}

template <class T>
struct KeyLister {
  std::vector<std::string>& out;
  const std::string& at;
  template <class F> void operator()(const char* key, F& f) {
    const std::string k = join_key(at, key);
    if constexpr (HasFields<F>::value) {
      KeyLister<F> inner{out, k};
      visit_fields(f, inner);
    } else {
      out.push_back(k);
    }
  }
  void note(const char*, const std::string&) {}
};

}  // namespace detail

/// The JSON object of `o`'s fields.
template <class T>
Json fields_json(const T& o) {
  static_assert(has_fields_v<T>, "T declares no field list (DIFFMEM_FIELDS)");
  return detail::to_value(o);
}

/// `o` overlaid with `j`, strictly (see the top of this file); throws FieldError.
template <class T>
void read_fields(const Json& j, T& o) {
  detail::read_object(j, o, "", /*strict=*/true);
}

/// FieldError as diffmem's one-line error: "WHERE: KEY: expected …, found …".
[[noreturn]] void fail_field(const std::string& where, const FieldError& e);

/// `defaults` overlaid with `j`, strictly; throws diffmem::Error naming `where` and the key. Then
/// `validate(options, where)` when T has one.
template <class T>
T read_options(const Json& j, const std::string& where, T defaults = T{}) {
  try {
    read_fields(j, defaults);
  } catch (const FieldError& e) {
    fail_field(where, e);
  }
  if constexpr (detail::HasValidate<T>::value) validate(defaults, where);
  return defaults;
}

/// As read_options, but keys not in the field list are ignored: for configs that other tools
/// write (a transformers or diffusers config.json holds keys diffmem has no use for). The values
/// of known keys are still checked.
template <class T>
T read_known_options(const Json& j, const std::string& where, T defaults = T{}) {
  try {
    detail::read_object(j, defaults, "", /*strict=*/false);
  } catch (const FieldError& e) {
    fail_field(where, e);
  }
  if constexpr (detail::HasValidate<T>::value) validate(defaults, where);
  return defaults;
}

/// Every field's key path, nested structs flattened with dots ("knn.k"), in list order.
template <class T>
std::vector<std::string> field_keys(const T& o = T{}) {
  std::vector<std::string> out;
  const std::string at;
  detail::KeyLister<const T> l{out, at};
  visit_fields(o, l);
  return out;
}

}  // namespace diffmem::io

namespace nlohmann {
/// Every struct with a field list converts to and from JSON through it (strictly, as
/// read_fields; nested in nlohmann's own conversions, e.g. a std::vector of them).
template <class T>
struct adl_serializer<T, std::enable_if_t<::diffmem::io::has_fields_v<T>>> {
  static void to_json(json& j, const T& o) { j = ::diffmem::io::fields_json(o); }
  static void from_json(const json& j, T& o) {
    try {
      ::diffmem::io::read_fields(j, o);
    } catch (const ::diffmem::io::FieldError& e) {
      ::diffmem::io::fail_field("options", e);
    }
  }
};
}  // namespace nlohmann
