#include "diffmem/search/search_options.h"

#include <initializer_list>
#include <optional>
#include <utility>

#include "diffmem/core/error.h"

namespace diffmem::search {
namespace {

// The option names of each enum, in one table, for the name functions and the JSON readers.
template <typename E>
using Names = std::initializer_list<std::pair<E, const char*>>;
const Names<KnnSelect> kSelectNames = {{KnnSelect::kAuto, "auto"}, {KnnSelect::kFused, "fused"}, {KnnSelect::kTopk, "topk"}};
const Names<KnnArithmetic> kArithmeticNames = {
    {KnnArithmetic::kAuto, "auto"}, {KnnArithmetic::kFloat, "float"}, {KnnArithmetic::kInteger, "integer"}};

template <typename E>
std::string name_of(const Names<E>& names, E e) {
  for (const auto& [v, n] : names)
    if (v == e) return n;
  return "auto";
}

template <typename E>
std::string expected_names(const Names<E>& names) {
  std::string out;
  size_t i = 0;
  for (const auto& entry : names) {
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + std::string(entry.second);
    ++i;
  }
  return out;
}

template <typename E>
std::optional<E> value_of(const Names<E>& names, const std::string& name) {
  for (const auto& [v, n] : names)
    if (name == n) return v;
  return std::nullopt;
}

template <typename E>
E from_name(const Names<E>& names, const std::string& name, const std::string& where) {
  const std::optional<E> v = value_of(names, name);
  if (!v) fail(where, expected_names(names), "'" + name + "'");
  return *v;
}

template <typename E>
E from_json_value(const Names<E>& names, const io::Json& j) {
  const std::optional<E> v = j.is_string() ? value_of(names, j.get<std::string>()) : std::nullopt;
  if (!v) throw io::FieldError{"", expected_names(names), j.dump()};
  return *v;
}

}  // namespace

std::string knn_select_name(KnnSelect s) { return name_of(kSelectNames, s); }

KnnSelect knn_select_from_name(const std::string& name, const std::string& where) {
  return from_name(kSelectNames, name, where);
}

void to_json(io::Json& j, KnnSelect s) { j = knn_select_name(s); }

void from_json(const io::Json& j, KnnSelect& s) { s = from_json_value(kSelectNames, j); }

std::string knn_arithmetic_name(KnnArithmetic a) { return name_of(kArithmeticNames, a); }

KnnArithmetic knn_arithmetic_from_name(const std::string& name, const std::string& where) {
  return from_name(kArithmeticNames, name, where);
}

void to_json(io::Json& j, KnnArithmetic a) { j = knn_arithmetic_name(a); }

void from_json(const io::Json& j, KnnArithmetic& a) { a = from_json_value(kArithmeticNames, j); }

}  // namespace diffmem::search
