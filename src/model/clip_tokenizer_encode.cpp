// Encoding with a loaded CLIP tokenizer: added-token split, cleanup, pattern, byte-level BPE.
#include <algorithm>
#include <climits>
#include <mutex>

#include "clip_tokenizer_internal.h"
#include "diffmem/core/error.h"
#include "diffmem/model/clip_tokenizer.h"

namespace diffmem::model {
namespace {

using State = ClipTokenizer::State;
constexpr size_t kCacheLimit = size_t(1) << 17;  // pieces; cleared when full

const State::Added* find_added(const State& st, const std::u32string& s) {
  for (const auto& a : st.added)
    if (a.content == s) return &a;
  return nullptr;
}

// transformers' Trie.split (leftmost, longest first) and the lstrip/rstrip/single_word loop
// of PreTrainedTokenizer.tokenize; a piece equal to an added token's content is that token.
std::vector<std::u32string> split_added(const State& st, const std::u32string& t) {
  std::vector<std::u32string> pieces;
  size_t start = 0, i = 0;
  while (i < t.size()) {
    const State::Added* hit = nullptr;
    for (const auto& a : st.added)
      if (t.compare(i, a.content.size(), a.content) == 0) {
        hit = &a;
        break;
      }
    if (!hit) {
      ++i;
      continue;
    }
    if (i > start) pieces.push_back(t.substr(start, i - start));
    pieces.push_back(hit->content);
    i += hit->content.size();
    start = i;
  }
  if (start < t.size()) pieces.push_back(t.substr(start));
  for (size_t k = 0; k < pieces.size(); ++k) {
    const State::Added* a = find_added(st, pieces[k]);
    if (!a) continue;
    const std::u32string left = k > 0 ? pieces[k - 1] : U"",
                         right = k + 1 < pieces.size() ? pieces[k + 1] : U"";
    if (a->rstrip && !right.empty()) pieces[k + 1] = std::u32string(clip_text::lstrip(right));
    if (a->lstrip && !left.empty()) pieces[k - 1] = std::u32string(clip_text::rstrip(left));
    if (a->single_word && !left.empty() && left.back() != U' ') {
      pieces[k - 1] += pieces[k];
      pieces[k].clear();
    } else if (a->single_word && !right.empty() && right.front() != U' ') {
      pieces[k + 1] = pieces[k] + pieces[k + 1];
      pieces[k].clear();
    }
  }
  return pieces;
}

int32_t token_id(const State& st, const std::string& token) {
  auto it = st.ids.find(token);
  return it != st.ids.end() ? it->second : static_cast<int32_t>(st.unk);
}

// CLIPTokenizer.bpe on one piece's UTF-8 bytes, as vocabulary ids.
std::vector<int32_t> bpe(const State& st, const std::string& bytes) {
  {
    std::shared_lock<std::shared_mutex> lock(st.cache_mutex);
    auto it = st.cache.find(bytes);
    if (it != st.cache.end()) return it->second;
  }
  std::vector<int32_t> w;
  if (bytes == "<|startoftext|>" || bytes == "<|endoftext|>") {  // CLIPTokenizer's seeded cache
    w.push_back(token_id(st, bytes));
  } else {
    w.reserve(bytes.size());
    for (size_t i = 0; i < bytes.size(); ++i) {
      const auto b = static_cast<unsigned char>(bytes[i]);
      w.push_back(i + 1 < bytes.size() ? st.byte_id[b] : st.byte_end_id[b]);
    }
    while (w.size() > 1) {
      int32_t best = INT32_MAX, merged = 0;
      size_t at = 0;
      for (size_t i = 0; i + 1 < w.size(); ++i) {
        auto it = st.merges.find((uint64_t(uint32_t(w[i])) << 32) | uint32_t(w[i + 1]));
        if (it != st.merges.end() && it->second.first < best) {
          best = it->second.first;
          merged = it->second.second;
          at = i;
        }
      }
      if (best == INT32_MAX) break;
      const int32_t first = w[at], second = w[at + 1];
      size_t o = 0;
      for (size_t i = 0; i < w.size();) {
        if (i + 1 < w.size() && w[i] == first && w[i + 1] == second) {
          w[o++] = merged;
          i += 2;
        } else {
          w[o++] = w[i++];
        }
      }
      w.resize(o);
    }
    if (!st.remap.empty())
      for (int32_t& id : w)
        if (auto it = st.remap.find(id); it != st.remap.end()) id = it->second;
  }
  std::unique_lock<std::shared_mutex> lock(st.cache_mutex);
  if (st.cache.size() >= kCacheLimit) st.cache.clear();
  st.cache.emplace(bytes, w);
  return w;
}

}  // namespace

void ClipTokenizer::run(const std::string& text, std::vector<int64_t>* ids,
                        std::vector<std::string>* tokens) const {
  const State& st = *state_;
  for (const std::u32string& piece : split_added(st, clip_text::decode_utf8(text))) {
    if (piece.empty()) continue;
    if (const State::Added* a = find_added(st, piece)) {
      if (ids) ids->push_back(a->id);
      if (tokens) tokens->push_back(st.tokens[a->id]);
      continue;
    }
    // CLIPTokenizer._tokenize: whitespace_clean(ftfy.fix_text(text)).lower(), then the pattern
    const std::u32string clean =
        clip_text::lower(clip_text::whitespace_clean(clip_text::fix_text(piece)));
    for (const clip_text::Span& span : clip_text::pre_tokenize(clean)) {
      const std::u32string_view word(clean.data() + span.begin, span.end - span.begin);
      for (int32_t id : bpe(st, clip_text::encode_utf8(word))) {
        if (ids) ids->push_back(id);
        if (tokens) tokens->push_back(st.tokens[id]);
      }
    }
  }
}

std::vector<std::string> ClipTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> tokens;
  run(text, nullptr, &tokens);
  return tokens;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids{state_->bos};
  run(text, &ids, nullptr);
  ids.push_back(state_->eos);
  return ids;
}

std::vector<int64_t> ClipTokenizer::encode_padded(const std::string& text) const {
  const size_t n = static_cast<size_t>(state_->options.model_max_length);
  std::vector<int64_t> ids{state_->bos};
  run(text, &ids, nullptr);
  if (ids.size() > n - 1) ids.resize(n - 1);
  ids.push_back(state_->eos);
  ids.resize(n, state_->pad);
  return ids;
}

std::vector<int64_t> ClipTokenizer::encode_padded_batch(
    const std::vector<std::string>& texts) const {
  std::vector<int64_t> out;
  out.reserve(texts.size() * static_cast<size_t>(state_->options.model_max_length));
  for (const std::string& t : texts) {
    const std::vector<int64_t> row = encode_padded(t);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

std::string ClipTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const State& st = *state_;
  static const auto byte_of = [] {  // bytes_to_unicode inverted, by symbol code point
    std::vector<int> inv(324, -1);
    auto printable = [](int v) {
      return (v >= 0x21 && v <= 0x7E) || (v >= 0xA1 && v <= 0xAC) || v >= 0xAE;
    };
    for (int b = 0, n = 0; b < 256; ++b) inv[printable(b) ? b : 256 + n++] = b;
    return inv;
  }();
  std::string bytes;
  for (int64_t id : ids) {
    const std::string& token = id_to_token(id);
    if (find_added(st, clip_text::decode_utf8(token))) {
      if (!(skip_special_tokens && st.special[id])) bytes += token;
      continue;
    }
    for (char32_t c : clip_text::decode_utf8(token)) {
      if (c < byte_of.size() && byte_of[c] >= 0)
        bytes.push_back(static_cast<char>(byte_of[c]));
      else
        clip_text::append_utf8(bytes, c);
    }
  }
  std::string text = clip_text::encode_utf8(clip_text::decode_utf8(bytes));
  for (size_t p; (p = text.find("</w>")) != std::string::npos;) text.replace(p, 4, " ");
  return clip_text::encode_utf8(clip_text::lstrip(clip_text::rstrip(clip_text::decode_utf8(text))));
}

int64_t ClipTokenizer::token_to_id(const std::string& token) const {
  auto it = state_->ids.find(token);
  return it == state_->ids.end() ? -1 : it->second;
}

const std::string& ClipTokenizer::id_to_token(int64_t id) const {
  const auto& tokens = state_->tokens;
  check(id >= 0 && static_cast<size_t>(id) < tokens.size() && !tokens[id].empty(), "ClipTokenizer",
        "a token id in [0, " + std::to_string(tokens.size()) + ")", std::to_string(id));
  return tokens[id];
}

int64_t ClipTokenizer::vocab_size() const { return state_->size; }
int64_t ClipTokenizer::bos_id() const { return state_->bos; }
int64_t ClipTokenizer::eos_id() const { return state_->eos; }
int64_t ClipTokenizer::pad_id() const { return state_->pad; }
int64_t ClipTokenizer::unk_id() const { return state_->unk; }
int64_t ClipTokenizer::model_max_length() const { return state_->options.model_max_length; }
const ClipTokenizerOptions& ClipTokenizer::options() const { return state_->options; }

}  // namespace diffmem::model
