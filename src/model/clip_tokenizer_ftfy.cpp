// ftfy.fix_text (ftfy 6.3, default configuration) minus fix_encoding: the cleanup transformers'
// CLIPTokenizer applies when ftfy is installed. Each function names the ftfy fixer it mirrors.
#include <algorithm>
#include <cstring>

#include "clip_tokenizer_internal.h"

namespace diffmem::model::clip_text {
namespace {

bool is_alnum_ascii(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_hex(char32_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

const CodeString* find_code(const CodeString* table, size_t count, char32_t c) {
  const CodeString* end = table + count;
  const CodeString* it =
      std::lower_bound(table, end, c, [](const CodeString& m, char32_t v) { return m.from < v; });
  return (it != end && it->from == c) ? it : nullptr;
}

// html._replace_charref for a number (saturated: anything past U+10FFFF is "too large").
std::u32string charref(uint64_t num) {
  if (num <= 0xFFFFFFFFu)
    if (const CodeString* m = find_code(kInvalidCharrefs, kInvalidCharrefCount, char32_t(num)))
      return m->to;
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return U"\xFFFD";
  if (range_value(kInvalidCodepoints, kInvalidCodepointCount, char32_t(num))) return U"";
  return std::u32string(1, char32_t(num));
}

// ftfy's _unescape_fixup for "&#BODY;": html.unescape decodes it only when BODY is all decimal
// digits or x + all hex digits; anything left over keeps its ';', and ftfy then keeps the text.
bool numeric_entity(std::u32string_view body, std::u32string& out) {
  size_t k = 0;
  int base = 10;
  if (!body.empty() && (body[0] == 'x' || body[0] == 'X')) {
    base = 16;
    k = 1;
  }
  if (k >= body.size()) return false;
  uint64_t num = 0;
  for (size_t i = k; i < body.size(); ++i) {
    const char32_t c = body[i];
    if (base == 10 ? !is_digit(c) : !is_hex(c)) return false;
    const uint64_t digit = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
    num = std::min<uint64_t>(num * base + digit, 0x7FFFFFFFull);
  }
  std::u32string r = charref(num);
  if (r.find(U';') != std::u32string::npos) return false;
  out += r;
  return true;
}

const char* entity_value(const std::string& name) {
  const Entity* end = kHtmlEntities + kHtmlEntityCount;
  const Entity* it = std::lower_bound(
      kHtmlEntities, end, name,
      [](const Entity& e, const std::string& v) { return std::strcmp(e.name, v.c_str()) < 0; });
  return (it != end && name == it->name) ? it->utf8 : nullptr;
}

// fixes.unescape_html: HTML_ENTITY_RE = &#?[0-9A-Za-z]{1,24};
std::u32string unescape_html(std::u32string_view t) {
  if (t.find(U'&') == std::u32string_view::npos) return std::u32string(t);
  std::u32string out;
  out.reserve(t.size());
  size_t i = 0;
  while (i < t.size()) {
    if (t[i] != U'&') {
      out.push_back(t[i++]);
      continue;
    }
    const bool hash = i + 1 < t.size() && t[i + 1] == U'#';
    const size_t b = i + 1 + (hash ? 1 : 0);
    size_t e = b;
    while (e < t.size() && e - b <= 24 && is_alnum_ascii(t[e])) ++e;
    if (e == b || e - b > 24 || e >= t.size() || t[e] != U';') {
      out.push_back(t[i++]);
      continue;
    }
    const std::u32string_view body = t.substr(b, e - b);
    bool replaced = false;
    if (!hash) {
      std::string name(body.begin(), body.end());
      if (const char* v = entity_value(name)) {
        out += decode_utf8(v);
        replaced = true;
      }
    } else {
      replaced = numeric_entity(body, out);
    }
    if (!replaced) out += t.substr(i, e + 1 - i);
    i = e + 1;
  }
  return out;
}

enum class CharFix { kC1Controls, kLatinLigatures, kCharacterWidth, kCurlyQuotes };

// fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes: one pass each.
std::u32string map_chars(std::u32string_view t, CharFix fix) {
  std::u32string out;
  out.reserve(t.size());
  for (char32_t c : t) {
    auto mapped = [&](const CodeString* table, size_t count) {
      if (const CodeString* m = find_code(table, count, c))
        out.append(m->to);
      else
        out.push_back(c);
    };
    if (fix == CharFix::kC1Controls && c >= 0x80 && c <= 0x9F) {
      out.push_back(kC1Windows1252[c - 0x80]);
    } else if (fix == CharFix::kLatinLigatures && c >= 0x132 && c <= 0xFB06) {
      mapped(kLigatures, kLigatureCount);
    } else if (fix == CharFix::kCharacterWidth && (c == 0x3000 || (c >= 0xFF01 && c <= 0xFFEF))) {
      mapped(kWidthMap, kWidthMapCount);
    } else if (fix == CharFix::kCurlyQuotes && (c == 0x2BC || (c >= 0x2018 && c <= 0x201B))) {
      out.push_back(U'\'');
    } else if (fix == CharFix::kCurlyQuotes && c >= 0x201C && c <= 0x201F) {
      out.push_back(U'"');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::u32string fix_line_breaks(std::u32string_view t) {
  std::u32string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    const char32_t c = t[i];
    if (c == U'\r') {
      out.push_back(U'\n');
      if (i + 1 < t.size() && t[i + 1] == U'\n') ++i;
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      out.push_back(U'\n');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::u32string fix_surrogates(std::u32string_view t) {
  std::u32string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    const char32_t c = t[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < t.size() && t[i + 1] >= 0xDC00 &&
        t[i + 1] <= 0xDFFF) {
      out.push_back(0x10000 + (c - 0xD800) * 0x400 + (t[i + 1] - 0xDC00));
      ++i;
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      out.push_back(0xFFFD);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// fixes.remove_terminal_escapes: \033\[((?:\d|;)*)([a-zA-Z]) with re's Unicode \d.
std::u32string remove_terminal_escapes(std::u32string_view t) {
  if (t.find(U'\x1b') == std::u32string_view::npos) return std::u32string(t);
  std::u32string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == 0x1B && i + 1 < t.size() && t[i + 1] == U'[') {
      size_t j = i + 2;
      while (j < t.size() && (t[j] == U';' || has_flag(t[j], kPyDecimal))) ++j;
      if (j < t.size() && t[j] < 128 && ((t[j] | 0x20) >= 'a' && (t[j] | 0x20) <= 'z')) {
        i = j;
        continue;
      }
    }
    out.push_back(t[i]);
  }
  return out;
}

std::u32string remove_control_chars(std::u32string_view t) {
  std::u32string out;
  out.reserve(t.size());
  for (char32_t c : t)
    if (!range_value(kControlChars, kControlCharCount, c)) out.push_back(c);
  return out;
}

// ftfy.fix_and_explain on one segment: all fixers, repeated until nothing changes.
std::u32string fix_segment(std::u32string text, bool unescape) {
  while (true) {
    const std::u32string before = text;
    if (unescape) text = unescape_html(text);
    for (CharFix fix : {CharFix::kC1Controls, CharFix::kLatinLigatures, CharFix::kCharacterWidth,
                        CharFix::kCurlyQuotes})
      text = map_chars(text, fix);
    text = fix_line_breaks(text);
    text = fix_surrogates(text);
    text = remove_terminal_escapes(text);
    text = remove_control_chars(text);
    text = nfc(text);
    if (text == before) return text;
  }
}

}  // namespace

std::u32string fix_text(std::u32string_view text) {
  // fix_text works line by line; unescape_html="auto" turns off for good at the first line
  // holding a '<' (ftfy replaces its config for the remaining lines too).
  constexpr size_t kMaxDecodeLength = 1000000;
  std::u32string out;
  out.reserve(text.size());
  bool unescape = true;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find(U'\n', pos);
    size_t end = nl == std::u32string_view::npos ? text.size() : nl + 1;
    end = std::min(end, pos + kMaxDecodeLength);
    const std::u32string_view segment = text.substr(pos, end - pos);
    if (unescape && segment.find(U'<') != std::u32string_view::npos) unescape = false;
    out += fix_segment(std::u32string(segment), unescape);
    pos = end;
  }
  return out;
}

}  // namespace diffmem::model::clip_text
