// ClipTokenizer::train and write_folder: a CLIP-style BPE vocabulary learned from captions, and the
// files transformers' CLIPTokenizer reads.
#include <algorithm>
#include <map>
#include <set>

#include "clip_tokenizer_internal.h"
#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/io/json.h"

namespace diffmem::model {
namespace fs = std::filesystem;
namespace {

const char* kBos = "<|startoftext|>";
const char* kEos = "<|endoftext|>";

// The 512 byte symbols, in CLIP's order (bytes, then bytes with "</w>").
std::vector<std::pair<std::string, int64_t>> byte_vocab() {
  std::vector<std::pair<std::string, int64_t>> v;
  for (int b = 0; b < 256; ++b) v.emplace_back(clip_byte_symbol(b), b);
  for (int b = 0; b < 256; ++b) v.emplace_back(clip_byte_symbol(b) + "</w>", 256 + b);
  return v;
}

}  // namespace

ClipTokenizer ClipTokenizer::train(const std::vector<std::string>& texts, int64_t max_merges,
                                   int64_t model_max_length) {
  check(max_merges >= 0, "tokenizer max_merges", "0 or more", std::to_string(max_merges));
  ClipTokenizerOptions options;
  options.model_max_length = model_max_length;
  auto vocab = byte_vocab();
  vocab.emplace_back(kBos, 512);
  vocab.emplace_back(kEos, 513);
  // Words as the real pre-tokenizer cuts them: a byte-level tokenizer without merges gives one
  // symbol per byte, and "</w>" closes each word.
  const ClipTokenizer bytes(build_clip_state(vocab, {}, options, "byte vocabulary"));
  std::map<std::vector<std::string>, int64_t> words;
  for (const std::string& t : texts) {
    std::vector<std::string> word;
    for (const std::string& sym : bytes.tokenize(t)) {
      word.push_back(sym);
      if (sym.size() >= 4 && sym.compare(sym.size() - 4, 4, "</w>") == 0) {
        ++words[word];
        word.clear();
      }
    }
  }
  std::vector<std::pair<std::vector<std::string>, int64_t>> work(words.begin(), words.end());
  std::vector<ClipMerge> merges;
  std::set<std::string> known;
  for (const auto& [token, id] : vocab) known.insert(token);
  while (static_cast<int64_t>(merges.size()) < max_merges) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (const auto& [w, n] : work)
      for (size_t i = 0; i + 1 < w.size(); ++i) pairs[{w[i], w[i + 1]}] += n;
    if (pairs.empty()) break;  // every word is one token
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;  // ties: the first in text order
    const auto [a, b] = best->first;
    merges.push_back({a, b, "learned merge " + std::to_string(merges.size())});
    if (known.insert(a + b).second) vocab.emplace_back(a + b, static_cast<int64_t>(vocab.size()));
    for (auto& [w, n] : work) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == a && w[i + 1] == b) {
          merged.push_back(a + b);
          ++i;
        } else {
          merged.push_back(w[i]);
        }
      }
      w = std::move(merged);
    }
  }
  // CLIP's order: bytes, merge results, then the special tokens last.
  std::vector<std::pair<std::string, int64_t>> ordered;
  for (const auto& [token, id] : vocab)
    if (token != kBos && token != kEos) ordered.emplace_back(token, static_cast<int64_t>(ordered.size()));
  ordered.emplace_back(kBos, static_cast<int64_t>(ordered.size()));
  ordered.emplace_back(kEos, static_cast<int64_t>(ordered.size()));
  return ClipTokenizer(build_clip_state(ordered, merges, options, "learned vocabulary"));
}

void ClipTokenizer::write_folder(const fs::path& dir) const {
  const State& st = *state_;
  fs::create_directories(dir);
  io::Json vocab = io::Json::object();
  for (size_t id = 0; id < st.tokens.size(); ++id)
    if (!st.tokens[id].empty()) vocab[st.tokens[id]] = id;
  core::write_file_atomic(dir / "vocab.json", vocab.dump() + "\n");
  std::vector<std::pair<int32_t, std::string>> ranked;
  for (const auto& [key, rank_result] : st.merges) {
    const auto first = static_cast<int32_t>(key >> 32), second = static_cast<int32_t>(key & 0xFFFFFFFFu);
    ranked.emplace_back(rank_result.first, st.tokens[static_cast<size_t>(first)] + " " +
                                               st.tokens[static_cast<size_t>(second)]);
  }
  std::sort(ranked.begin(), ranked.end());
  std::string merges = "#version: 0.2\n";
  for (const auto& [rank, line] : ranked) merges += line + "\n";
  core::write_file_atomic(dir / "merges.txt", merges);
  const ClipTokenizerOptions& o = st.options;
  const io::Json special = {{"bos_token", o.bos_token}, {"eos_token", o.eos_token},
                            {"unk_token", o.unk_token}, {"pad_token", o.pad_token}};
  io::Json config = special;
  config["model_max_length"] = o.model_max_length;
  config["tokenizer_class"] = "CLIPTokenizer";
  config["clean_up_tokenization_spaces"] = false;
  io::write_json(dir / "tokenizer_config.json", config);
  io::write_json(dir / "special_tokens_map.json", special);
}

}  // namespace diffmem::model
