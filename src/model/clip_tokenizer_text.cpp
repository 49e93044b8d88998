// UTF-8, str.lower, NFC, whitespace_clean and the pre-tokenizer pattern of CLIPTokenizer, each
// reproducing the Python function it names (the tables come from that very Python).
#include <algorithm>

#include "clip_tokenizer_internal.h"

namespace diffmem::model::clip_text {

uint8_t range_value(const CharRange* ranges, size_t count, char32_t c) {
  const CharRange* end = ranges + count;
  const CharRange* it =
      std::upper_bound(ranges, end, c, [](char32_t v, const CharRange& r) { return v < r.first; });
  if (it == ranges) return 0;
  --it;
  return c <= it->last ? it->value : 0;
}

uint8_t char_flags(char32_t c) {
  static const auto ascii = [] {
    std::vector<uint8_t> t(128);
    for (char32_t i = 0; i < 128; ++i) t[i] = range_value(kCharRanges, kCharRangeCount, i);
    return t;
  }();
  return c < 128 ? ascii[c] : range_value(kCharRanges, kCharRangeCount, c);
}

// ---- UTF-8 ----------------------------------------------------------------------------------

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const size_t n = s.size();
  auto at = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return i < n && at(i) >= lo && at(i) <= hi;
  };
  size_t i = 0;
  while (i < n) {
    const unsigned b = at(i);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
    } else if (b >= 0xC2 && b <= 0xDF) {
      if (cont(i + 1)) {
        out.push_back(((b & 0x1F) << 6) | (at(i + 1) & 0x3F));
        i += 2;
      } else {
        out.push_back(0xFFFD);
        i += 1;
      }
    } else if (b >= 0xE0 && b <= 0xEF) {
      if (b == 0xED && cont(i + 1, 0xA0, 0xBF) && cont(i + 2)) {  // a surrogate, as Python holds it
        out.push_back(0xD000 | ((at(i + 1) & 0x3F) << 6) | (at(i + 2) & 0x3F));
        i += 3;
        continue;
      }
      const unsigned lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
      if (!cont(i + 1, lo, hi)) {
        out.push_back(0xFFFD);
        i += 1;
      } else if (!cont(i + 2)) {
        out.push_back(0xFFFD);
        i += 2;
      } else {
        out.push_back(((b & 0x0F) << 12) | ((at(i + 1) & 0x3F) << 6) | (at(i + 2) & 0x3F));
        i += 3;
      }
    } else if (b >= 0xF0 && b <= 0xF4) {
      const unsigned lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
      if (!cont(i + 1, lo, hi)) {
        out.push_back(0xFFFD);
        i += 1;
      } else if (!cont(i + 2)) {
        out.push_back(0xFFFD);
        i += 2;
      } else if (!cont(i + 3)) {
        out.push_back(0xFFFD);
        i += 3;
      } else {
        out.push_back(((b & 0x07) << 18) | ((at(i + 1) & 0x3F) << 12) | ((at(i + 2) & 0x3F) << 6) |
                      (at(i + 3) & 0x3F));
        i += 4;
      }
    } else {
      out.push_back(0xFFFD);
      i += 1;
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

// ---- str.lower, str.strip, whitespace_clean -------------------------------------------------

namespace {

const char32_t* lower_multi(char32_t c) {
  for (size_t i = 0; i < kLowerMultiCount; ++i)
    if (kLowerMulti[i].from == c) return kLowerMulti[i].to;
  return nullptr;
}

char32_t lower_one(char32_t c) {
  if (c < 128) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  const CodeMap* end = kLower + kLowerCount;
  const CodeMap* it =
      std::lower_bound(kLower, end, c, [](const CodeMap& m, char32_t v) { return m.from < v; });
  return (it != end && it->from == c) ? it->to : c;
}

// CPython's handle_capital_sigma: final when a cased letter precedes (past case-ignorables) and
// none follows.
bool final_sigma(std::u32string_view s, size_t i) {
  size_t j = i;
  while (j > 0 && has_flag(s[j - 1], kCaseIgnorable)) --j;
  if (j == 0 || !has_flag(s[j - 1], kCased)) return false;
  j = i + 1;
  while (j < s.size() && has_flag(s[j], kCaseIgnorable)) ++j;
  return j == s.size() || !has_flag(s[j], kCased);
}

}  // namespace

std::u32string lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == 0x3A3) {
      out.push_back(final_sigma(text, i) ? 0x3C2 : 0x3C3);
    } else if (const char32_t* m = c >= 128 ? lower_multi(c) : nullptr) {
      out += m;
    } else {
      out.push_back(lower_one(c));
    }
  }
  return out;
}

std::u32string_view lstrip(std::u32string_view t) {
  size_t b = 0;
  while (b < t.size() && has_flag(t[b], kPySpace)) ++b;
  return t.substr(b);
}

std::u32string_view rstrip(std::u32string_view t) {
  size_t e = t.size();
  while (e > 0 && has_flag(t[e - 1], kPySpace)) --e;
  return t.substr(0, e);
}

std::u32string whitespace_clean(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  bool in_space = false;
  for (char32_t c : text) {
    if (has_flag(c, kRegexSpace)) {
      if (!in_space) out.push_back(U' ');
      in_space = true;
    } else {
      out.push_back(c);
      in_space = false;
    }
  }
  return std::u32string(lstrip(rstrip(out)));
}

// ---- NFC ------------------------------------------------------------------------------------

namespace {

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

uint8_t ccc(char32_t c) {
  return c < 0x300 ? 0 : range_value(kCombiningClass, kCombiningClassCount, c);
}

void decompose(char32_t c, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const char32_t s = c - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (c >= 0xC0) {
    const CodeString* end = kDecomposition + kDecompositionCount;
    const CodeString* it = std::lower_bound(
        kDecomposition, end, c, [](const CodeString& m, char32_t v) { return m.from < v; });
    if (it != end && it->from == c) {
      out += it->to;
      return;
    }
  }
  out.push_back(c);
}

char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  const Composition* end = kComposition + kCompositionCount;
  const Composition* it =
      std::lower_bound(kComposition, end, std::make_pair(a, b), [](const Composition& m, auto v) {
        return m.first < v.first || (m.first == v.first && m.second < v.second);
      });
  return (it != end && it->first == a && it->second == b) ? it->composite : 0;
}

}  // namespace

std::u32string nfc(std::u32string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; }))
    return std::u32string(text);
  std::u32string d;
  d.reserve(text.size() + 8);
  for (char32_t c : text) decompose(c, d);
  // canonical ordering: a stable sort of each run of non-starters by combining class
  for (size_t i = 0; i < d.size();) {
    size_t j = i;
    while (j < d.size() && ccc(d[j]) != 0) ++j;
    if (j > i + 1)
      std::stable_sort(d.begin() + i, d.begin() + j,
                       [](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
    i = j > i ? j : i + 1;
  }
  if (d.empty()) return d;
  std::u32string out;
  out.reserve(d.size());
  out.push_back(d[0]);
  size_t starter = 0;
  int last = ccc(d[0]) ? 256 : 0;
  for (size_t i = 1; i < d.size(); ++i) {
    const char32_t c = d[i];
    const int cc = ccc(c);
    const char32_t composite = compose(out[starter], c);
    if (composite && (last < cc || last == 0)) {
      out[starter] = composite;
      continue;
    }
    if (cc == 0) starter = out.size();
    last = cc;
    out.push_back(c);
  }
  return out;
}

// ---- the pre-tokenizer pattern --------------------------------------------------------------

namespace {

// One character of a literal alternative under IGNORECASE: the generator checked that only
// U+017F (long s) joins an ASCII letter's two cases.
bool same_ignoring_case(char32_t c, char lit) {
  if (c == static_cast<char32_t>(lit)) return true;
  if (lit >= 'a' && lit <= 'z')
    return c == static_cast<char32_t>(lit - 32) || (lit == 's' && c == 0x17F);
  return false;
}

size_t literal_at(std::u32string_view t, size_t i, const char* lit) {
  size_t k = 0;
  for (; lit[k]; ++k)
    if (i + k >= t.size() || !same_ignoring_case(t[i + k], lit[k])) return 0;
  return k;
}

}  // namespace

std::vector<Span> pre_tokenize(std::u32string_view t) {
  static const char* const kLiterals[] = {
      "<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  std::vector<Span> out;
  size_t i = 0;
  while (i < t.size()) {
    size_t len = 0;
    if (t[i] == U'<' || t[i] == U'\'') {
      for (const char* lit : kLiterals)
        if ((len = literal_at(t, i, lit))) break;
    }
    if (!len) {
      const uint8_t f = char_flags(t[i]);
      CharFlag run = f & kLetterRun  ? kLetterRun
                     : f & kNumber   ? kNumber
                     : f & kOtherRun ? kOtherRun
                                     : CharFlag(0);
      if (run == kNumber) {
        len = 1;
      } else if (run) {
        len = 1;
        while (i + len < t.size() && has_flag(t[i + len], run)) ++len;
      }
    }
    if (len) {
      out.push_back({i, i + len});
      i += len;
    } else {
      ++i;
    }
  }
  return out;
}

}  // namespace diffmem::model::clip_text
