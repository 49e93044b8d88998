#include "diffmem/io/safetensors.h"

#include <algorithm>
#include <cstring>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/io/json.h"
#include "io_util.h"

namespace diffmem::io {
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // the bound the reference reader uses

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& where, const std::string& name, const Json& v) {
  const std::string at = where + ": tensor '" + name + "'";
  if (!v.is_object()) fail(at, "an object with dtype, shape and data_offsets", v.dump());
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) fail(at, std::string("a '") + key + "' field", v.dump());
  Entry e;
  e.name = name;
  const Json& dt = v["dtype"];
  if (!dt.is_string()) fail(at, "a dtype string", dt.dump());
  auto d = dtype_from_name(dt.get<std::string>());
  if (!d) fail(at, "a dtype among F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL", dt.dump());
  e.dtype = *d;
  const Json& sh = v["shape"];
  if (!sh.is_array()) fail(at, "a shape array", sh.dump());
  for (const Json& x : sh) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0)
      fail(at, "non-negative integer dimensions", sh.dump());
    e.shape.push_back(x.get<int64_t>());
  }
  const Json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    fail(at, "data_offsets [begin, end] of non-negative integers", off.dump());
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  uint64_t nbytes = detail::checked_nbytes(e.shape, dtype_size(e.dtype), at);
  if (e.end < e.begin || e.end - e.begin != nbytes)
    fail(at,
         std::to_string(nbytes) + " bytes for " + dtype_name(e.dtype) + " " + shape_str(e.shape),
         "data_offsets " + off.dump() + (e.end < e.begin ? " (end before begin)"
                                                          : " (" + std::to_string(e.end - e.begin) + " bytes)"));
  return e;
}

}  // namespace

namespace {

// The header of an open file; `f` stays open for the data reads of read_safetensors.
SafetensorsHeader parse_header(detail::InFile& f) {
  const std::string& where = f.name();
  unsigned char len_bytes[8];
  f.read_at(0, len_bytes, 8, "the safetensors header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | len_bytes[i];
  if (n > kMaxHeader) fail(where, "a header of at most 100 MB", std::to_string(n) + " bytes");
  if (n > f.size() - 8)
    fail(where, "a header of " + std::to_string(n) + " bytes within the file",
         "a file of " + std::to_string(f.size()) + " bytes");
  std::string text(n, '\0');
  f.read_at(8, text.data(), n, "the safetensors header");

  Json header;
  try {
    header = Json::parse(text);
  } catch (const Json::parse_error& e) {
    fail(where, "a JSON header", std::string("a parse error (") + e.what() + ")");
  } catch (const Json::exception& e) {  // a number past double's range (found by scripts/fuzz.sh)
    fail(where, "a JSON header with numbers a double holds", e.what());
  }
  if (!header.is_object()) fail(where, "a JSON object header", header.type_name());

  SafetensorsHeader out;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) fail(where, "__metadata__ as an object", it.value().dump());
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string())
          fail(where, "__metadata__ values that are strings", "'" + m.key() + "': " + m.value().dump());
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(where, it.key(), it.value()));
  }

  // The data section must be tiled exactly: sorted by offset, each tensor starts where the last ended.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  out.data_start = 8 + n;
  const uint64_t data_size = f.size() - out.data_start;
  uint64_t cursor = 0;
  for (const Entry& e : entries) {
    if (e.begin != cursor)
      fail(where + ": tensor '" + e.name + "'",
           "data starting at byte " + std::to_string(cursor) + " (contiguous offsets)",
           "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] (" +
               (e.begin > cursor ? "a gap" : "an overlap") + ")");
    cursor = e.end;
  }
  if (cursor != data_size)
    fail(where, std::to_string(cursor) + " data bytes after the header (the last data_offsets end)",
         std::to_string(data_size) + (data_size < cursor ? " (truncated)" : " (trailing bytes)"));
  for (Entry& e : entries) out.tensors[e.name] = {e.dtype, std::move(e.shape), e.begin, e.end};
  return out;
}

}  // namespace

int64_t SafetensorsHeader::parameters() const {
  int64_t total = 0;
  for (const auto& [name, e] : tensors) {
    int64_t n = 1;
    for (int64_t d : e.shape) n *= d;
    total += n;
  }
  return total;
}

SafetensorsHeader read_safetensors_header(const fs::path& path) {
  detail::InFile f(path);
  return parse_header(f);
}

Safetensors read_safetensors(const fs::path& path) {
  detail::InFile f(path);
  SafetensorsHeader h = parse_header(f);
  Safetensors out;
  out.metadata = std::move(h.metadata);
  for (auto& [name, e] : h.tensors) {
    HostArray a;
    a.dtype = e.dtype;
    a.shape = std::move(e.shape);
    a.bytes.resize(e.end - e.begin);
    f.read_at(h.data_start + e.begin, a.bytes.data(), a.bytes.size(), "tensor '" + name + "'");
    out.tensors.emplace(name, std::move(a));
  }
  return out;
}

void write_safetensors(const fs::path& path, const Safetensors& file) {
  const std::string where = path.string();
  // Written by hand (not Json::dump of the whole object) to keep __metadata__ first and the
  // tensors in name order, with offsets increasing in that same order.
  std::string header = "{";
  bool first = true;
  if (!file.metadata.empty()) {
    header += "\"__metadata__\":" + Json(file.metadata).dump();
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& [name, a] : file.tensors) {
    if (name == "__metadata__") fail(where, "tensor names other than __metadata__", name);
    uint64_t nbytes = detail::checked_nbytes(a.shape, dtype_size(a.dtype), where + ": tensor '" + name + "'");
    if (nbytes != a.bytes.size())
      fail(where + ": tensor '" + name + "'",
           std::to_string(nbytes) + " bytes for " + dtype_name(a.dtype) + " " + shape_str(a.shape),
           std::to_string(a.bytes.size()) + " bytes");
    if (!first) header += ",";
    first = false;
    Json entry = {{"dtype", dtype_name(a.dtype)},
                  {"shape", a.shape},
                  {"data_offsets", {offset, offset + nbytes}}};
    header += Json(name).dump() + ":" + entry.dump();
    offset += nbytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');

  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(uint64_t{header.size()} >> (8 * i));
  core::AtomicFile out(path);
  out.write(len_bytes, 8);
  out.write(header);
  for (const auto& [name, a] : file.tensors) out.write(a.bytes.data(), a.bytes.size());
  out.commit();
}

}  // namespace diffmem::io
