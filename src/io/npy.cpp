#include "diffmem/io/npy.h"

#include <cctype>
#include <cstring>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "io_util.h"

namespace diffmem::io {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;  // numpy >= 1.x aligns data to 64 bytes

// The header is a Python dict literal written by numpy's repr; a tiny tokenizer copes with any key
// order and spacing without trusting the file to be exactly what numpy writes today.
class DictParser {
 public:
  DictParser(const std::string& text, const std::string& where) : s_(text), where_(where) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    skip_ws();
    while (peek() != '}') {
      std::string key = string_literal();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          bad("a simple dtype string for 'descr'", "a structured dtype (" + rest() + ")");
        h.dtype = parse_descr(string_literal());
        have_descr = true;
      } else if (key == "fortran_order") {
        std::string word = identifier();
        if (word == "True") bad("fortran_order False (C order)", "True");
        if (word != "False") bad("fortran_order True or False", "'" + word + "'");
        have_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        have_shape = true;
      } else {
        bad("only the keys 'descr', 'fortran_order' and 'shape'", "key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (peek() != '}') {
        bad("',' or '}' in the header dict", rest());
      }
    }
    ++pos_;
    skip_ws();
    if (pos_ != s_.size()) bad("only padding after the header dict", rest());
    if (!have_descr || !have_order || !have_shape)
      bad("the keys 'descr', 'fortran_order' and 'shape'", "a header missing one: " + s_);
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& expected, const std::string& found) {
    fail(where_, "an .npy header with " + expected, found);
  }
  std::string rest() const {
    std::string r = s_.substr(pos_, 40);
    return r.empty() ? "the end of the header" : "'" + r + "'";
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) bad(std::string("'") + c + "'", rest());
    ++pos_;
  }
  std::string string_literal() {
    skip_ws();
    char q = peek();
    if (q != '\'' && q != '"') bad("a quoted string", rest());
    size_t end = s_.find(q, pos_ + 1);
    if (end == std::string::npos) bad("a closing quote", rest());
    std::string v = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return v;
  }
  std::string identifier() {
    size_t start = pos_;
    while (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '_') ++pos_;
    return s_.substr(start, pos_ - start);
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    if (peek() != '(') bad("a tuple for 'shape'", rest());
    ++pos_;
    skip_ws();
    while (peek() != ')') {
      size_t start = pos_;
      while (std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
      if (start == pos_) bad("a non-negative integer in 'shape'", rest());
      std::string digits = s_.substr(start, pos_ - start);
      if (digits.size() > 18) bad("a dimension below 10^18", digits);
      dims.push_back(std::stoll(digits));
      if (peek() == 'L') ++pos_;  // Python 2 longs
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (peek() != ')') {
        bad("',' or ')' in 'shape'", rest());
      }
    }
    ++pos_;
    return dims;
  }
  DType parse_descr(const std::string& d) {
    if (d.size() < 2) bad("a dtype like '<f4'", "'" + d + "'");
    char order = d[0];
    std::string code = d.substr(1);
    if (order != '<' && order != '|' && order != '>' && order != '=')
      bad("a dtype like '<f4'", "'" + d + "'");
    static const std::pair<const char*, DType> kCodes[] = {
        {"u1", DType::kU8},  {"i1", DType::kI8},  {"i2", DType::kI16},
        {"i4", DType::kI32}, {"i8", DType::kI64}, {"f2", DType::kF16},
        {"f4", DType::kF32}, {"f8", DType::kF64}, {"b1", DType::kBool}};
    for (const auto& [c, t] : kCodes) {
      if (code != c) continue;
      // Byte order is meaningless for one-byte types; for the others only little-endian is read.
      if (dtype_size(t) > 1 && (order == '>' || order == '='))
        bad("a little-endian dtype ('<')", "'" + d + "' (big-endian or native order)");
      return t;
    }
    if (code[0] == 'O') bad("a numeric dtype", "'" + d + "' (Python objects)");
    bad("one of the dtypes u1 i1 i2 i4 i8 f2 f4 f8 b1", "'" + d + "'");
  }

  const std::string& s_;
  const std::string& where_;
  size_t pos_ = 0;
};

uint32_t le_u32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

std::string npy_descr(DType dtype) {
  switch (dtype) {
    case DType::kU8: return "|u1";
    case DType::kI8: return "|i1";
    case DType::kBool: return "|b1";
    case DType::kI16: return "<i2";
    case DType::kI32: return "<i4";
    case DType::kI64: return "<i8";
    case DType::kF16: return "<f2";
    case DType::kF32: return "<f4";
    case DType::kF64: return "<f8";
    case DType::kBF16: break;
  }
  fail("npy", "a dtype numpy has", dtype_name(dtype));
}

NpyHeader read_npy_header(const fs::path& path) {
  detail::InFile f(path);
  const std::string& where = f.name();
  unsigned char pre[12];
  f.read_at(0, pre, 10, "the .npy preamble");
  if (std::memcmp(pre, kMagic, kMagicLen) != 0)
    fail(where, "the .npy magic \\x93NUMPY", "other bytes (not an .npy file)");
  int major = pre[6], minor = pre[7];
  uint64_t header_len = 0, preamble = 0;
  if (major == 1) {
    header_len = uint64_t{pre[8]} | uint64_t{pre[9]} << 8;
    preamble = 10;
  } else if (major == 2 || major == 3) {
    f.read_at(10, pre + 10, 2, "the .npy preamble");
    header_len = le_u32(pre + 8);
    preamble = 12;
  } else {
    fail(where, ".npy format version 1.x, 2.x or 3.x",
         "version " + std::to_string(major) + "." + std::to_string(minor));
  }
  if (preamble + header_len > f.size())
    fail(where, "a header of " + std::to_string(header_len) + " bytes",
         "a file of " + std::to_string(f.size()) + " bytes");
  std::string text(header_len, '\0');
  f.read_at(preamble, text.data(), header_len, "the .npy header");
  NpyHeader h = DictParser(text, where).parse();
  h.data_offset = preamble + header_len;
  uint64_t nbytes = detail::checked_nbytes(h.shape, dtype_size(h.dtype), where);
  if (f.size() != h.data_offset + nbytes)
    fail(where,
         std::to_string(h.data_offset + nbytes) + " bytes (" + std::to_string(h.data_offset) +
             " header + " + std::to_string(nbytes) + " data for " + dtype_name(h.dtype) + " " +
             shape_str(h.shape) + ")",
         std::to_string(f.size()) + " bytes" + (f.size() < h.data_offset + nbytes ? " (truncated)" : ""));
  return h;
}

HostArray read_npy(const fs::path& path) {
  NpyHeader h = read_npy_header(path);
  HostArray a = HostArray::zeros(h.dtype, h.shape);
  detail::InFile f(path);
  f.read_at(h.data_offset, a.bytes.data(), a.bytes.size(), "array data");
  return a;
}

namespace {
// Bytes per row of the leading axis; the header checked for having one.
size_t row_bytes(const NpyHeader& h, const fs::path& path) {
  if (h.shape.empty()) fail(path.string(), "an array with a leading axis", "a 0-d array");
  size_t n = dtype_size(h.dtype);
  for (size_t i = 1; i < h.shape.size(); ++i) n *= static_cast<size_t>(h.shape[i]);
  return n;
}

std::vector<int64_t> with_rows(std::vector<int64_t> shape, int64_t rows) {
  shape[0] = rows;
  return shape;
}
}  // namespace

HostArray read_npy_rows(const fs::path& path, int64_t first, int64_t count) {
  const NpyHeader h = read_npy_header(path);
  const size_t per = row_bytes(h, path);
  if (first < 0 || count < 0 || first + count > h.shape[0])
    fail(path.string(), "rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                            ") within " + std::to_string(h.shape[0]) + " rows",
         "a range past the end");
  HostArray a = HostArray::zeros(h.dtype, with_rows(h.shape, count));
  if (count == 0 || per == 0) return a;
  detail::InFile f(path);
  f.read_at(h.data_offset + static_cast<uint64_t>(first) * per, a.bytes.data(), a.bytes.size(),
            "rows " + std::to_string(first) + ".." + std::to_string(first + count - 1));
  return a;
}

HostArray read_npy_rows(const fs::path& path, const std::vector<int64_t>& rows) {
  const NpyHeader h = read_npy_header(path);
  const size_t per = row_bytes(h, path);
  HostArray a = HostArray::zeros(h.dtype, with_rows(h.shape, static_cast<int64_t>(rows.size())));
  if (per == 0) return a;
  detail::InFile f(path);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= h.shape[0])
      fail(path.string(), "a row below " + std::to_string(h.shape[0]), std::to_string(rows[i]));
    f.read_at(h.data_offset + static_cast<uint64_t>(rows[i]) * per, a.bytes.data() + i * per, per,
              "row " + std::to_string(rows[i]));
  }
  return a;
}

void write_npy(const fs::path& path, const HostArray& array, int min_major) {
  const std::string where = path.string();
  uint64_t nbytes = detail::checked_nbytes(array.shape, dtype_size(array.dtype), where);
  if (nbytes != array.bytes.size())
    fail(where, std::to_string(nbytes) + " bytes for " + dtype_name(array.dtype) + " " +
                    shape_str(array.shape),
         "an array holding " + std::to_string(array.bytes.size()) + " bytes");
  if (array.dtype == DType::kBF16) fail(where, "a dtype numpy has", "BF16");

  std::string dict = "{'descr': '" + npy_descr(array.dtype) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < array.shape.size(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(array.shape[i]);
  }
  if (array.shape.size() == 1) dict += ",";
  dict += "), }";

  // Pad with spaces and a final newline so the data starts on a 64-byte boundary.
  auto padded = [&](size_t preamble) {
    size_t total = preamble + dict.size() + 1;
    return dict.size() + 1 + (kAlign - total % kAlign) % kAlign;
  };
  int major = min_major >= 2 || padded(10) > 65535 ? 2 : 1;
  size_t preamble = major == 1 ? 10 : 12;
  size_t header_len = padded(preamble);
  if (header_len > 0xFFFFFFFFu) fail(where, "an .npy header below 4 GiB", "a larger one");

  std::string head(kMagic, kMagicLen);
  head += static_cast<char>(major);
  head += '\0';
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i)
    head += static_cast<char>((header_len >> (8 * i)) & 0xFF);
  head += dict;
  head.append(header_len - dict.size() - 1, ' ');
  head += '\n';

  core::AtomicFile out(path);
  out.write(head);
  out.write(array.bytes.data(), array.bytes.size());
  out.commit();
}

void write_npy(const fs::path& path, const HostArray& array) { write_npy(path, array, 1); }

}  // namespace diffmem::io
