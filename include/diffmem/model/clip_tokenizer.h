#pragma once
// CLIP's byte-level BPE tokenizer (the text side of Stable Diffusion), torch-free, giving the ids
// of transformers' slow, pure-Python `CLIPTokenizer` (4.x) with ftfy installed. Per text:
//   1. UTF-8 -> code points. Invalid UTF-8 never throws: a 3-byte encoding of a surrogate gives
//      that surrogate (what a Python str may hold), any other invalid sequence one U+FFFD per
//      maximal invalid subpart (Python's bytes.decode(errors="replace")).
//   2. Added tokens (bos/eos/unk/pad and any others) are split out first, leftmost-longest,
//      case-sensitive, honouring their lstrip/rstrip/single_word (transformers' Trie.split).
//      With SD 2.x's pad token "!" this makes every "!" its own token, as in transformers.
//   3. Each remaining piece: ftfy.fix_text — HTML entities (off from the first line holding '<'),
//      C1 controls as Windows-1252, Latin ligatures, full/half width, curly quotes, line breaks,
//      surrogates, terminal escapes, control characters, NFC, repeated until stable; NOT its
//      fix_encoding (mojibake repair such as "CafÃ©" -> "Café"): text that ftfy's badness
//      heuristic flags as mojibake tokenizes as transformers does with fix_encoding=False. Then
//      whitespace_clean (\s+ -> " ", strip) and str.lower (full mappings, final sigma).
//   4. The pattern <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
//      [^\s\p{L}\p{N}]+ (IGNORECASE), its pieces as UTF-8 bytes through GPT-2's bytes_to_unicode,
//      "</w>" on the last symbol, merged by rank; "<|startoftext|>"/"<|endoftext|>" pieces map
//      to their tokens directly.
// Unicode data (letters, numbers, case, NFC) is that of the generating Python (Unicode 14.0).
// Where ids can differ from transformers: text ftfy's fix_encoding would repair (mojibake, and
// its false positives such as some runs of "×“’÷" punctuation: 35 of the 2,634 reference strings,
// 94 of 100,000 fuzzed ones); added tokens that overlap one another (Trie.split's lookahead is not
// reproduced; CLIP's do not overlap). tests/reference/make_clip_tokenizer_vectors.py makes the
// reference ids. An encode is const and safe from several threads; BPE results are cached.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace diffmem::model {

/// A token split out of the text before cleanup and BPE (transformers' AddedToken).
struct ClipAddedToken {
  std::string content;
  int64_t id = -1;           ///< -1: the vocabulary's id of `content`, else the next free id
  bool lstrip = false;       ///< swallows the whitespace on its left
  bool rstrip = false;       ///< swallows the whitespace on its right
  bool single_word = false;  ///< only matches when not glued to a preceding/following word
  bool special = true;       ///< dropped by decode(skip_special_tokens)
};

struct ClipTokenizerOptions {
  /// Sequence length of encode_padded, bos and eos included (SD: 77). At least 2.
  int64_t model_max_length = 77;
  std::string bos_token = "<|startoftext|>";
  std::string eos_token = "<|endoftext|>";
  std::string unk_token = "<|endoftext|>";
  /// SD 1.x pads with "<|endoftext|>" (id 49407), SD 2.x and SDXL's second encoder with "!" (0).
  std::string pad_token = "<|endoftext|>";
  /// Tokens split out before BPE besides the four above (which are always added tokens); an
  /// entry with the same content as one of them sets its flags and id.
  std::vector<ClipAddedToken> added_tokens;

  /// The options a Hugging Face tokenizer folder records: tokenizer_config.json (its
  /// added_tokens_decoder, special tokens, model_max_length) and, when that has no
  /// added_tokens_decoder, special_tokens_map.json over it, as transformers reads them. Either
  /// file may be absent (defaults above). A model_max_length over 2^31 (transformers' "no
  /// limit", 1e30) keeps 77. Other keys are ignored.
  static ClipTokenizerOptions read_folder(const std::filesystem::path& dir);
};

class ClipTokenizer {
 public:
  /// A Hugging Face tokenizer folder (e.g. an SD pipeline's tokenizer/): vocab.json + merges.txt,
  /// or tokenizer.json alone, with the options of read_folder(dir). Without either config file,
  /// tokenizer.json's padding.pad_token and truncation.max_length apply when set.
  static ClipTokenizer from_folder(const std::filesystem::path& dir);
  /// vocab.json (token -> id) and merges.txt ("#version" line, then one "a b" merge per line;
  /// like transformers, at most the first 48,894 merges are read).
  static ClipTokenizer from_files(const std::filesystem::path& vocab_json,
                                  const std::filesystem::path& merges_txt,
                                  const ClipTokenizerOptions& options = {});
  /// A tokenizers-library tokenizer.json (model.type BPE, end_of_word_suffix "</w>"); its
  /// added_tokens join options.added_tokens (those in options win). The slow tokenizer's rules
  /// above apply, not the fast tokenizer's normalizer (which skips ftfy).
  static ClipTokenizer from_tokenizer_json(const std::filesystem::path& tokenizer_json,
                                           const ClipTokenizerOptions& options = {});

  /// A small CLIP-style BPE vocabulary learned from `texts`, for text-to-image models trained from
  /// scratch on a captioned data set: the 512 byte symbols; then merges learned as BPE learns them
  /// (the most frequent adjacent pair over the words the CLIP pre-tokenizer cuts from the texts,
  /// ties by the pair's text), until every word is one token or max_merges are made; then
  /// "<|startoftext|>" and "<|endoftext|>" (SD 1.x's special tokens, padded with the latter).
  /// The same texts give the same vocabulary. model_max_length: the padded length (CLIP's 77).
  static ClipTokenizer train(const std::vector<std::string>& texts, int64_t max_merges = 4096,
                             int64_t model_max_length = 77);
  /// Writes a Hugging Face tokenizer folder transformers' CLIPTokenizer opens: vocab.json,
  /// merges.txt, tokenizer_config.json, special_tokens_map.json (each atomically).
  void write_folder(const std::filesystem::path& dir) const;

  /// BPE tokens as transformers' tokenize() gives them (byte-level symbols, "</w>" word ends).
  std::vector<std::string> tokenize(const std::string& text) const;
  /// bos + tokens + eos; no truncation, no padding.
  std::vector<int64_t> encode(const std::string& text) const;
  /// What SD's pipelines feed the text encoder: padding="max_length", truncation=True —
  /// bos + at most model_max_length-2 tokens + eos, then pad ids up to model_max_length.
  std::vector<int64_t> encode_padded(const std::string& text) const;
  /// encode_padded of each text: [texts.size()][model_max_length], row-major.
  std::vector<int64_t> encode_padded_batch(const std::vector<std::string>& texts) const;
  /// Text of ids: byte symbols back to UTF-8 (invalid -> U+FFFD), "</w>" -> " ", stripped;
  /// special tokens dropped or written as their content.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true) const;

  /// Id of a token string (vocabulary or added token); -1 when there is none.
  int64_t token_to_id(const std::string& token) const;
  /// Token string of an id; throws diffmem::Error for an id the tokenizer does not have.
  const std::string& id_to_token(int64_t id) const;
  int64_t vocab_size() const;  ///< distinct tokens, added ones included (49,408 for CLIP)
  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t pad_id() const;
  int64_t unk_id() const;
  int64_t model_max_length() const;
  const ClipTokenizerOptions& options() const;

  struct State;

 private:
  explicit ClipTokenizer(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  void run(const std::string& text, std::vector<int64_t>* ids,
           std::vector<std::string>* tokens) const;
  std::shared_ptr<const State> state_;
};

}  // namespace diffmem::model
