// Reading a CLIP tokenizer: vocab.json + merges.txt, tokenizer.json, and the Hugging Face config
// files, checked into the state clip_tokenizer_encode.cpp runs on.
#include "diffmem/model/clip_tokenizer.h"

#include <algorithm>

#include "clip_tokenizer_internal.h"
#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/io/json.h"

namespace diffmem::model {
namespace fs = std::filesystem;
using io::Json;

namespace {

constexpr size_t kMaxMerges = 49152 - 256 - 2;  // CLIPTokenizer reads merges.txt lines 1..48894

std::string shown(const std::string& s) {
  return "'" + (s.size() > 60 ? s.substr(0, 60) + "..." : s) + "'";
}

std::string strip_ascii(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) + 1 - b);
}

bool flag(const Json& obj, const char* key, const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return false;
  check(obj[key].is_boolean(), where, std::string("a true/false \"") + key + "\"", obj[key].dump());
  return obj[key].get<bool>();
}

/// A special or added token: "text" or {"content": "text", "lstrip": false, ...}.
ClipAddedToken added_token(const Json& v, const std::string& where) {
  ClipAddedToken t;
  if (v.is_string()) {
    t.content = v.get<std::string>();
    return t;
  }
  check(v.is_object() && v.contains("content") && v["content"].is_string(), where,
        "a token string or an object with a \"content\" string", v.dump());
  t.content = v["content"].get<std::string>();
  t.lstrip = flag(v, "lstrip", where);
  t.rstrip = flag(v, "rstrip", where);
  t.single_word = flag(v, "single_word", where);
  t.special = !v.contains("special") || flag(v, "special", where);
  if (v.contains("id")) {
    check(v["id"].is_number_integer() && v["id"].get<int64_t>() >= 0, where,
          "a non-negative integer \"id\"", v["id"].dump());
    t.id = v["id"].get<int64_t>();
  }
  return t;
}

std::vector<std::pair<std::string, int64_t>> parse_vocab(const Json& j, const std::string& where) {
  check(j.is_object(), where, "a JSON object mapping tokens to integer ids", j.type_name());
  std::vector<std::pair<std::string, int64_t>> vocab;
  vocab.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    check(it.value().is_number_integer(), where, "an integer id for token " + shown(it.key()),
          it.value().dump());
    vocab.emplace_back(it.key(), it.value().get<int64_t>());
  }
  check(!vocab.empty(), where, "a non-empty vocabulary", "{}");
  return vocab;
}

bool split_merge(const std::string& line, ClipMerge& m) {
  const char* ws = " \t\r";
  const size_t a0 = line.find_first_not_of(ws);
  if (a0 == std::string::npos) return false;
  const size_t a1 = line.find_first_of(ws, a0);
  if (a1 == std::string::npos) return false;
  const size_t b0 = line.find_first_not_of(ws, a1);
  if (b0 == std::string::npos) return false;
  const size_t b1 = line.find_first_of(ws, b0);
  if (b1 != std::string::npos && line.find_first_not_of(ws, b1) != std::string::npos) return false;
  m.first = line.substr(a0, a1 - a0);
  m.second = line.substr(b0, b1 == std::string::npos ? std::string::npos : b1 - b0);
  return true;
}

std::vector<ClipMerge> read_merges_txt(const fs::path& path) {
  const std::string where = path.string();
  const std::string text = strip_ascii(core::read_file(path));
  std::vector<std::string> lines;
  for (size_t pos = 0; pos <= text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  check(lines[0].rfind("#version", 0) == 0, where, "a first line \"#version: 0.2\"",
        lines[0].empty() ? "an empty file" : shown(lines[0]));
  std::vector<ClipMerge> merges;
  for (size_t i = 1; i < lines.size() && merges.size() < kMaxMerges; ++i) {
    ClipMerge m;
    m.where = where + ":" + std::to_string(i + 1);
    if (!split_merge(lines[i], m))
      fail(m.where, "a merge: two space-separated symbols", shown(lines[i]));
    merges.push_back(std::move(m));
  }
  check(!merges.empty(), where, "merge lines after the \"#version\" line", "none");
  return merges;
}

void add_unique(std::vector<ClipAddedToken>& list, const ClipAddedToken& t) {
  for (const auto& o : list)
    if (o.content == t.content) return;
  list.push_back(t);
}

}  // namespace

/// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others for 256+n.
std::string clip_byte_symbol(int b) {
  auto printable = [](int v) {
    return (v >= 0x21 && v <= 0x7E) || (v >= 0xA1 && v <= 0xAC) || v >= 0xAE;
  };
  int cp = b;
  if (!printable(b)) {
    int n = 0;
    for (int v = 0; v < b; ++v) n += !printable(v);
    cp = 256 + n;
  }
  std::string s;
  clip_text::append_utf8(s, static_cast<char32_t>(cp));
  return s;
}


ClipTokenizerOptions ClipTokenizerOptions::read_folder(const fs::path& dir) {
  ClipTokenizerOptions o;
  Json config = Json::object();
  const fs::path config_path = dir / "tokenizer_config.json";
  const std::string cw = config_path.string();
  if (fs::exists(config_path)) config = io::read_json(config_path);
  check(config.is_object(), cw, "a JSON object", config.type_name());
  std::string source_of[4] = {cw, cw, cw, cw};
  const char* keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
  if (config.contains("added_tokens_decoder")) {
    const Json& dec = config["added_tokens_decoder"];
    check(dec.is_object(), cw, "\"added_tokens_decoder\" as an object of id -> token",
          dec.type_name());
    for (auto it = dec.begin(); it != dec.end(); ++it) {
      ClipAddedToken t = added_token(it.value(), cw + " added_tokens_decoder." + it.key());
      try {
        size_t used = 0;
        t.id = std::stoll(it.key(), &used);
        if (used != it.key().size() || t.id < 0) throw std::invalid_argument(it.key());
      } catch (const std::exception&) {
        fail(cw, "added_tokens_decoder keys that are token ids", shown(it.key()));
      }
      add_unique(o.added_tokens, t);
    }
  } else if (fs::exists(dir / "special_tokens_map.json")) {
    // transformers' legacy path: special_tokens_map.json overrides tokenizer_config.json
    const fs::path map_path = dir / "special_tokens_map.json";
    const Json map = io::read_json(map_path);
    check(map.is_object(), map_path.string(), "a JSON object", map.type_name());
    for (auto it = map.begin(); it != map.end(); ++it) {
      config[it.key()] = it.value();
      for (int k = 0; k < 4; ++k)
        if (it.key() == keys[k]) source_of[k] = map_path.string();
    }
  }
  std::string* fields[4] = {&o.bos_token, &o.eos_token, &o.unk_token, &o.pad_token};
  for (int k = 0; k < 4; ++k) {
    if (!config.contains(keys[k]) || config[keys[k]].is_null()) continue;
    const ClipAddedToken t = added_token(config[keys[k]], source_of[k] + " " + keys[k]);
    *fields[k] = t.content;
    if (config[keys[k]].is_object()) add_unique(o.added_tokens, t);
  }
  if (config.contains("additional_special_tokens") &&
      !config["additional_special_tokens"].is_null()) {
    const Json& list = config["additional_special_tokens"];
    check(list.is_array(), cw, "\"additional_special_tokens\" as a list", list.type_name());
    for (const Json& v : list)
      add_unique(o.added_tokens, added_token(v, cw + " additional_special_tokens"));
  }
  if (config.contains("model_max_length") && !config["model_max_length"].is_null()) {
    const Json& m = config["model_max_length"];
    check(m.is_number(), cw, "a number \"model_max_length\"", m.dump());
    const double v = m.get<double>();
    check(v >= 2, cw, "\"model_max_length\" of at least 2", m.dump());
    if (v < 2147483648.0) o.model_max_length = static_cast<int64_t>(v);
  }
  return o;
}

ClipTokenizer ClipTokenizer::from_files(const fs::path& vocab_json, const fs::path& merges_txt,
                                        const ClipTokenizerOptions& options) {
  const auto vocab = parse_vocab(io::read_json(vocab_json), vocab_json.string());
  return ClipTokenizer(
      build_clip_state(vocab, read_merges_txt(merges_txt), options, vocab_json.string()));
}

ClipTokenizer ClipTokenizer::from_tokenizer_json(const fs::path& tokenizer_json,
                                                 const ClipTokenizerOptions& options) {
  const std::string where = tokenizer_json.string();
  const Json j = io::read_json(tokenizer_json);
  check(j.is_object() && j.contains("model") && j["model"].is_object(), where,
        "a tokenizers file with a \"model\" object",
        j.is_object() ? "no \"model\"" : j.type_name());
  const Json& model = j["model"];
  if (model.contains("type"))
    check(model["type"] == "BPE", where, "model.type \"BPE\"", model["type"].dump());
  check(model.contains("end_of_word_suffix") && model["end_of_word_suffix"] == "</w>", where,
        "model.end_of_word_suffix \"</w>\" (a CLIP tokenizer)",
        model.contains("end_of_word_suffix") ? model["end_of_word_suffix"].dump() : "none");
  check(model.contains("vocab"), where, "a model.vocab object", "none");
  const auto vocab = parse_vocab(model["vocab"], where + " model.vocab");
  check(model.contains("merges") && model["merges"].is_array(), where, "a model.merges list",
        model.contains("merges") ? model["merges"].type_name() : "none");
  std::vector<ClipMerge> merges;
  for (const Json& m : model["merges"]) {
    if (merges.size() == kMaxMerges) break;
    ClipMerge merge;
    merge.where = where + " model.merges[" + std::to_string(merges.size()) + "]";
    bool ok = false;
    if (m.is_string()) {
      ok = split_merge(m.get<std::string>(), merge);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merge.first = m[0].get<std::string>();
      merge.second = m[1].get<std::string>();
      ok = !merge.first.empty() && !merge.second.empty();
    }
    if (!ok) fail(merge.where, "a merge \"a b\" or [\"a\", \"b\"]", m.dump());
    merges.push_back(std::move(merge));
  }
  check(!merges.empty(), where, "at least one merge in model.merges", "none");
  ClipTokenizerOptions o = options;
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    check(j["added_tokens"].is_array(), where, "an \"added_tokens\" list",
          j["added_tokens"].type_name());
    for (const Json& t : j["added_tokens"])
      add_unique(o.added_tokens, added_token(t, where + " added_tokens"));
  }
  return ClipTokenizer(build_clip_state(vocab, merges, o, where + " model.vocab"));
}

ClipTokenizer ClipTokenizer::from_folder(const fs::path& dir) {
  check(fs::is_directory(dir), dir.string(), "a tokenizer folder", "no such directory");
  ClipTokenizerOptions o = ClipTokenizerOptions::read_folder(dir);
  if (fs::exists(dir / "vocab.json")) {
    check(fs::exists(dir / "merges.txt"), (dir / "merges.txt").string(),
          "merges.txt beside vocab.json", "no such file");
    return from_files(dir / "vocab.json", dir / "merges.txt", o);
  }
  const fs::path tj = dir / "tokenizer.json";
  check(fs::exists(tj), dir.string(), "vocab.json and merges.txt, or tokenizer.json", "neither");
  if (!fs::exists(dir / "tokenizer_config.json") && !fs::exists(dir / "special_tokens_map.json")) {
    const Json j = io::read_json(tj);
    if (j.is_object() && j.contains("padding") && j["padding"].is_object() &&
        j["padding"].contains("pad_token") && j["padding"]["pad_token"].is_string())
      o.pad_token = j["padding"]["pad_token"].get<std::string>();
    if (j.is_object() && j.contains("truncation") && j["truncation"].is_object() &&
        j["truncation"].contains("max_length") && j["truncation"]["max_length"].is_number_integer())
      o.model_max_length = j["truncation"]["max_length"].get<int64_t>();
  }
  return from_tokenizer_json(tj, o);
}

std::shared_ptr<ClipTokenizer::State> build_clip_state(
    const std::vector<std::pair<std::string, int64_t>>& vocab, const std::vector<ClipMerge>& merges,
    const ClipTokenizerOptions& options, const std::string& vocab_where) {
  check(options.model_max_length >= 2, "ClipTokenizerOptions.model_max_length", "at least 2",
        std::to_string(options.model_max_length));
  auto st = std::make_shared<ClipTokenizer::State>();
  st->options = options;
  // Ids index a table, so they must be near the vocabulary's size: one id of 315,215,096 in a
  // 9-token vocab.json made a 10 GB table (found by scripts/fuzz.sh).
  const int64_t max_id = static_cast<int64_t>(vocab.size()) + (int64_t(1) << 20);
  auto set_token = [&](int64_t id, const std::string& token, const std::string& where) {
    check(id >= 0 && id < max_id, where,
          "token ids in [0, " + std::to_string(max_id) + ") (the vocabulary's size + 2^20)",
          std::to_string(id) + " for " + shown(token));
    if (static_cast<size_t>(id) >= st->tokens.size()) {
      st->tokens.resize(id + 1);
      st->special.resize(id + 1);
    }
    st->tokens[id] = token;
  };
  for (const auto& [token, id] : vocab) {
    if (id >= 0 && static_cast<size_t>(id) < st->tokens.size() && !st->tokens[id].empty())
      fail(vocab_where, "one token per id",
           "id " + std::to_string(id) + " for both " + shown(st->tokens[id]) + " and " +
               shown(token));
    set_token(id, token, vocab_where);
    st->ids[token] = static_cast<int32_t>(id);
  }
  for (int b = 0; b < 256; ++b) {
    const std::string s = clip_byte_symbol(b);
    for (const std::string& sym : {s, s + "</w>"}) {
      auto it = st->ids.find(sym);
      check(it != st->ids.end(), vocab_where,
            "all 512 byte symbols (GPT-2 bytes_to_unicode, with and without </w>)",
            "no " + shown(sym) + " (byte " + std::to_string(b) + ")");
      (sym.size() == s.size() ? st->byte_id : st->byte_end_id)[b] = it->second;
    }
  }
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const ClipMerge& m = merges[rank];
    auto a = st->ids.find(m.first), b = st->ids.find(m.second),
         r = st->ids.find(m.first + m.second);
    if (a == st->ids.end() || b == st->ids.end())
      fail(m.where, "merge symbols that " + vocab_where + " has",
           shown(a == st->ids.end() ? m.first : m.second) + ", which it lacks");
    if (r == st->ids.end())
      fail(vocab_where, "a token for every merge result",
           "none for " + shown(m.first + m.second) + " (" + m.where + ")");
    const uint64_t key = (uint64_t(uint32_t(a->second)) << 32) | uint32_t(b->second);
    st->merges[key] = {static_cast<int32_t>(rank),
                       r->second};  // a repeated pair keeps its last rank
  }
  std::vector<ClipAddedToken> added = options.added_tokens;
  for (const std::string* s :
       {&options.bos_token, &options.eos_token, &options.unk_token, &options.pad_token}) {
    ClipAddedToken t;
    t.content = *s;
    add_unique(added, t);
  }
  for (const ClipAddedToken& t : added) {
    if (t.content.empty()) continue;
    auto known = st->ids.find(t.content);
    int64_t id = t.id >= 0                ? t.id
                 : known != st->ids.end() ? known->second
                                          : int64_t(st->tokens.size());
    if (known != st->ids.end() && known->second != id)
      st->remap[known->second] = static_cast<int32_t>(id);
    set_token(id, t.content, "ClipTokenizerOptions.added_tokens");
    st->ids[t.content] = static_cast<int32_t>(id);
    st->special[id] = t.special;
    st->added.push_back({clip_text::decode_utf8(t.content), static_cast<int32_t>(id), t.lstrip,
                         t.rstrip, t.single_word});
  }
  std::stable_sort(st->added.begin(), st->added.end(), [](const auto& x, const auto& y) {
    return x.content.size() > y.content.size();
  });
  st->bos = st->ids.at(options.bos_token);
  st->eos = st->ids.at(options.eos_token);
  st->unk = st->ids.at(options.unk_token);
  st->pad = st->ids.at(options.pad_token);
  st->size = static_cast<int64_t>(std::count_if(st->tokens.begin(), st->tokens.end(),
                                                [](const std::string& s) { return !s.empty(); }));
  return st;
}

}  // namespace diffmem::model
