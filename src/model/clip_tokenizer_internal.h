#pragma once
// Internal to the CLIP tokenizer (torch-free): the tokenizer's state, and the text side of
// transformers' slow CLIPTokenizer (UTF-8, the ftfy subset, whitespace_clean, str.lower, NFC, the
// pre-tokenizer pattern) on code points. The tables live in clip_tokenizer_tables_{unicode,ftfy}.cpp,
// generated from the reference Python by tests/reference/make_clip_tokenizer_tables.py.
#include <array>
#include <cstddef>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "diffmem/model/clip_tokenizer.h"

namespace diffmem::model {

struct ClipTokenizer::State {
  struct Added {
    std::u32string content;
    int32_t id = 0;
    bool lstrip = false, rstrip = false, single_word = false;
  };
  ClipTokenizerOptions options;
  std::unordered_map<std::string, int32_t> ids;       // vocabulary and added tokens
  std::vector<std::string> tokens;                    // by id ("" where an id is unused)
  std::vector<uint8_t> special;                       // by id
  std::array<int32_t, 256> byte_id{}, byte_end_id{};  // byte symbol, and with "</w>"
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (a, b) -> (rank, a+b)
  std::vector<Added> added;                                          // longest first
  std::unordered_map<int32_t, int32_t> remap;  // vocabulary id -> added token's other id
  int64_t bos = 0, eos = 0, pad = 0, unk = 0, size = 0;
  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;  // piece bytes -> ids
};

/// One merges line: its symbols and where it came from (for errors).
struct ClipMerge {
  std::string first, second;
  std::string where;
};

/// GPT-2's bytes_to_unicode: the symbol (UTF-8) that stands for byte b in the vocabulary.
std::string clip_byte_symbol(int b);

/// Validates and indexes a vocabulary and merges; errors name `vocab_where`/merge.where.
std::shared_ptr<ClipTokenizer::State> build_clip_state(
    const std::vector<std::pair<std::string, int64_t>>& vocab, const std::vector<ClipMerge>& merges,
    const ClipTokenizerOptions& options, const std::string& vocab_where);

}  // namespace diffmem::model

namespace diffmem::model::clip_text {

struct CharRange {
  char32_t first, last;
  uint8_t value;
};
struct CodeMap {
  char32_t from, to;
};
struct CodeString {
  char32_t from;
  const char32_t* to;
};
struct Composition {
  char32_t first, second, composite;
};
struct Entity {
  const char* name;  // without '&' and ';'
  const char* utf8;
};

enum CharFlag : uint8_t {
  kLetterRun = 1,   // [\p{L}]+ (as the IGNORECASE pattern matches it)
  kNumber = 2,      // [\p{N}]
  kOtherRun = 4,    // [^\s\p{L}\p{N}]+
  kRegexSpace = 8,  // regex's \s (whitespace_clean)
  kPySpace = 16,    // str.isspace (str.strip)
  kPyDecimal = 32,  // str.isdecimal (re's \d)
  kCased = 64,      // cased and not case-ignorable (final sigma)
  kCaseIgnorable = 128,
};

extern const CharRange kCharRanges[];
extern const size_t kCharRangeCount;
extern const CodeMap kLower[];
extern const size_t kLowerCount;
extern const CodeString kLowerMulti[];
extern const size_t kLowerMultiCount;
extern const CharRange kCombiningClass[];
extern const size_t kCombiningClassCount;
extern const CodeString kDecomposition[];
extern const size_t kDecompositionCount;
extern const Composition kComposition[];
extern const size_t kCompositionCount;
extern const Entity kHtmlEntities[];
extern const size_t kHtmlEntityCount;
extern const CodeString kInvalidCharrefs[];
extern const size_t kInvalidCharrefCount;
extern const CharRange kInvalidCodepoints[];
extern const size_t kInvalidCodepointCount;
extern const CodeString kWidthMap[];
extern const size_t kWidthMapCount;
extern const CodeString kLigatures[];
extern const size_t kLigatureCount;
extern const CharRange kControlChars[];
extern const size_t kControlCharCount;
extern const char32_t kC1Windows1252[32];

/// The value of the range holding `c` (0 when none does); ranges sorted and disjoint.
uint8_t range_value(const CharRange* ranges, size_t count, char32_t c);
uint8_t char_flags(char32_t c);
inline bool has_flag(char32_t c, CharFlag f) { return (char_flags(c) & f) != 0; }

/// UTF-8 to code points. Invalid input never throws: a 3-byte encoding of a surrogate (CESU-8)
/// gives that surrogate (ftfy later pairs or replaces it, as for a Python str holding one);
/// any other invalid sequence gives one U+FFFD per maximal invalid subpart (Python's "replace").
std::u32string decode_utf8(std::string_view bytes);
void append_utf8(std::string& out, char32_t c);
std::string encode_utf8(std::u32string_view text);

/// ftfy.fix_text with its defaults except fix_encoding (mojibake repair), which is not done.
std::u32string fix_text(std::u32string_view text);
/// transformers' whitespace_clean: regex "\s+" -> " ", then str.strip().
std::u32string whitespace_clean(std::u32string_view text);
/// Python's str.lower() (full mappings, final sigma).
std::u32string lower(std::u32string_view text);
/// unicodedata.normalize("NFC", text).
std::u32string nfc(std::u32string_view text);
/// str.strip() on one side (or both).
std::u32string_view lstrip(std::u32string_view text);
std::u32string_view rstrip(std::u32string_view text);

/// regex.findall(CLIP's pattern, text, IGNORECASE): [begin, end) of each piece.
struct Span {
  size_t begin, end;
};
std::vector<Span> pre_tokenize(std::u32string_view text);

}  // namespace diffmem::model::clip_text
