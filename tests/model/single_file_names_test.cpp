// The single-file name mapping (CompVis checkpoint names -> diffusers component names) against the
// lists diffusers verified (tests/reference/model/make_single_file_reference.py writes
// <tag>_single_names.txt: a "# layout" line from the diffusers configs, then one
// "compvis_name component diffusers_name transform" line per mapped name, or
// "compvis_name ignore - -" for a key no component uses). The module is torch-free, and so is
// this test: names only, no weights.
#include "diffmem/model/single_file_names.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "diffmem/io/safetensors.h"
#include "test_support.h"

namespace diffmem::model {
namespace {

namespace fs = std::filesystem;

// compvis_name, component, diffusers_name, transform: the reference file's columns.
using Line = std::tuple<std::string, std::string, std::string, std::string>;
using Mapping = std::vector<std::pair<std::string, SingleFileName>>;

fs::path reference_dir() {
  return fs::path(test::source_dir()) / "tests" / "reference" / "model";
}

struct Reference {
  std::map<std::string, int64_t> layout;
  std::vector<std::string> keys;  // every compvis key once, in file order
  std::vector<Line> mapped;       // sorted
  std::vector<std::string> ignored;
};

// Failures land on the calling test through ADD_FAILURE; the callers then assert the parts they
// rely on are non-empty, so an unreadable or truncated list can never pass vacuously.
Reference read_reference(const std::string& tag) {
  const fs::path path = reference_dir() / (tag + "_single_names.txt");
  std::ifstream in(path);
  if (!in.good()) ADD_FAILURE() << "cannot open " << path;
  Reference r;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream ss(line);
    if (line.rfind("# layout ", 0) == 0) {
      std::string word, tok;
      ss >> word >> word;
      while (ss >> tok) {
        const size_t eq = tok.find('=');
        r.layout[tok.substr(0, eq)] = std::stoll(tok.substr(eq + 1));
      }
      continue;
    }
    if (line[0] == '#') continue;
    Line l;
    ss >> std::get<0>(l) >> std::get<1>(l) >> std::get<2>(l) >> std::get<3>(l);
    if (std::get<3>(l).empty()) ADD_FAILURE() << path << ": short line: " << line;
    // A key's lines are adjacent (an OpenCLIP in_proj has three), so it is listed once.
    if (r.keys.empty() || r.keys.back() != std::get<0>(l)) r.keys.push_back(std::get<0>(l));
    if (std::get<1>(l) == "ignore")
      r.ignored.push_back(std::get<0>(l));
    else
      r.mapped.push_back(l);
  }
  std::sort(r.mapped.begin(), r.mapped.end());
  return r;
}

std::string component(SingleFileComponent c) {
  return c == SingleFileComponent::unet  ? "unet"
         : c == SingleFileComponent::vae ? "vae"
                                         : "text_encoder";
}

std::string transform(const SingleFileName& n) {
  switch (n.transform) {
    case SingleFileName::Transform::none:
      return "none";
    case SingleFileName::Transform::squeeze_1x1:
      return "squeeze_1x1";
    case SingleFileName::Transform::split_qkv:
      // A part outside 0..2 must not read past "qkv"; it then matches no reference line.
      return n.part >= 0 && n.part < 3 ? std::string("split:") + "qkv"[n.part] : "split:?";
  }
  return "?";
}

// The mapping in the reference file's spelling, sorted (the order is checked on its own).
std::vector<Line> sorted_lines(const Mapping& m) {
  std::vector<Line> out;
  for (const auto& [key, n] : m)
    out.emplace_back(key, component(n.component), n.name, transform(n));
  std::sort(out.begin(), out.end());
  return out;
}

std::string show_line(const Line& l) {
  return std::get<0>(l) + " " + std::get<1>(l) + " " + std::get<2>(l) + " " + std::get<3>(l);
}

// What two sorted line lists do not share (the first few each way), so that a failure says which
// names are wrong instead of dumping a thousand lines.
std::string difference(const std::vector<Line>& got, const std::vector<Line>& want) {
  std::vector<Line> extra, missing;
  std::set_difference(got.begin(), got.end(), want.begin(), want.end(), std::back_inserter(extra));
  std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                      std::back_inserter(missing));
  std::ostringstream s;
  s << got.size() << " lines vs " << want.size() << " expected; " << extra.size()
    << " unexpected, " << missing.size() << " missing";
  for (size_t i = 0; i < extra.size() && i < 5; ++i) s << "\n  unexpected: " << show_line(extra[i]);
  for (size_t i = 0; i < missing.size() && i < 5; ++i) s << "\n  missing:    " << show_line(missing[i]);
  return s.str();
}

const char* const kLayoutFields[] = {"unet_blocks",          "unet_layers_per_block", "vae_blocks",
                                     "vae_layers_per_block", "text_layers",           "open_clip"};

// The four lists: the tiny checkpoints (whose .safetensors are also in the reference folder) and
// the full-size SD 1.5 / 2.1 names; v1 / sd15 use CLIP, v2 / sd21 OpenCLIP.
class SingleFileNamesList : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    r_ = read_reference(GetParam());
    ASSERT_FALSE(r_.keys.empty());
    ASSERT_FALSE(r_.mapped.empty());
    ASSERT_FALSE(r_.ignored.empty());  // every list has the DDPM schedule tables
    for (const char* f : kLayoutFields) ASSERT_EQ(r_.layout.count(f), 1u) << "# layout lacks " << f;
  }
  Reference r_;
};

// The layout, the exact set of mapped names, their order and the skipped keys are all as
// diffusers' conversion makes them.
TEST_P(SingleFileNamesList, MapsExactlyAsDiffusers) {
  const Reference& r = r_;
  const SingleFileLayout lay = single_file_layout(r.keys);
  EXPECT_EQ(lay.unet_blocks, r.layout.at("unet_blocks"));
  EXPECT_EQ(lay.unet_layers_per_block, r.layout.at("unet_layers_per_block"));
  EXPECT_EQ(lay.vae_blocks, r.layout.at("vae_blocks"));
  EXPECT_EQ(lay.vae_layers_per_block, r.layout.at("vae_layers_per_block"));
  EXPECT_EQ(lay.text_layers, r.layout.at("text_layers"));
  EXPECT_EQ(is_open_clip(r.keys), r.layout.at("open_clip") != 0);

  const Mapping mapped = map_single_file(r.keys);
  const std::vector<Line> got = sorted_lines(mapped);
  EXPECT_TRUE(got == r.mapped) << difference(got, r.mapped);

  // In key order, as the header promises: each key's names together, an in_proj's as q, k, v.
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < r.keys.size(); ++i) position.emplace(r.keys[i], i);
  for (size_t i = 1; i < mapped.size(); ++i) {
    ASSERT_EQ(position.count(mapped[i].first), 1u) << "not a listed key: " << mapped[i].first;
    const size_t a = position.at(mapped[i - 1].first), b = position.at(mapped[i].first);
    ASSERT_TRUE(a < b || (a == b && mapped[i - 1].second.part < mapped[i].second.part))
        << "out of order at " << i << ": " << mapped[i - 1].first << " part "
        << mapped[i - 1].second.part << ", then " << mapped[i].first << " part "
        << mapped[i].second.part;
  }

  // The "ignore" keys map to nothing. The equality above implies it too; this says it directly
  // and names the key when it breaks.
  std::set<std::string> mapped_keys;
  for (const auto& m : mapped) mapped_keys.insert(m.first);
  for (const std::string& k : r.ignored) EXPECT_EQ(mapped_keys.count(k), 0u) << k;
}

// The mapping depends on the names only, not on the order a file lists them in.
TEST_P(SingleFileNamesList, MappingIgnoresKeyOrder) {
  const std::vector<std::string> reversed(r_.keys.rbegin(), r_.keys.rend());
  const std::vector<Line> forward = sorted_lines(map_single_file(r_.keys));
  const std::vector<Line> backward = sorted_lines(map_single_file(reversed));
  ASSERT_FALSE(forward.empty());
  EXPECT_TRUE(backward == forward) << difference(backward, forward);
}

// A name that matches no rule, or a rule at the wrong place, is an error naming the key and the
// file, so SDXL, ControlNet or upscaler parts are never silently dropped.
TEST_P(SingleFileNamesList, RejectsUnknownOrMisplacedNames) {
  for (const std::string bad : {
           "model.diffusion_model.input_blocks.99.0.foo.weight",  // breaks the block count too
           "model.diffusion_model.input_blocks.1.0.foo.weight",
           "model.diffusion_model.label_emb.0.0.weight",  // upscaler / SDXL class embedding
           "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.bias",
           "model.diffusion_model.output_blocks.0.1.conv.weight",  // an upsampler not after the
                                                                   // last layer of a level
           "first_stage_model.decoder.up.0.block.0.foo.weight",
           "first_stage_model.loss.logvar",
           "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight",
           "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.qkv.weight",
           "control_model.time_embed.0.weight",
           "edm_mean",
       }) {
    SCOPED_TRACE(bad);
    std::vector<std::string> keys = r_.keys;
    keys.push_back(bad);
    const std::string msg = test::error_of([&] { map_single_file(keys, "check.safetensors"); });
    EXPECT_NE(msg.find(bad), std::string::npos) << msg;
    EXPECT_NE(msg.find("check.safetensors"), std::string::npos) << msg;
  }
}

// A missing downsampler leaves the block counts consistent (with another layers_per_block), but
// its bias then sits at a layer slot: still an error, not a quietly different UNet.
TEST_P(SingleFileNamesList, RejectsMissingDownsampler) {
  const std::string op = "model.diffusion_model.input_blocks." +
                         std::to_string(r_.layout.at("unet_layers_per_block") + 1) + ".0.op.weight";
  std::vector<std::string> keys = r_.keys;
  keys.erase(std::remove(keys.begin(), keys.end(), op), keys.end());
  ASSERT_EQ(keys.size() + 1, r_.keys.size()) << op << " is not listed exactly once";
  const std::string msg = test::error_of([&] { map_single_file(keys, "check.safetensors"); });
  EXPECT_NE(msg.find("check.safetensors"), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(Lists, SingleFileNamesList,
                         ::testing::Values("sd_tiny_v1", "sd_tiny_v2", "sd15", "sd21"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// The tiny single-file checkpoints hold exactly the keys their lists name, so the lists checked
// above describe those real files, not a hand-made subset.
TEST(SingleFileNamesTinyFiles, HeadersHoldExactlyTheListedKeys) {
  for (const std::string tag : {"sd_tiny_v1", "sd_tiny_v2"}) {
    SCOPED_TRACE(tag);
    const Reference r = read_reference(tag);
    ASSERT_FALSE(r.keys.empty());
    const io::SafetensorsHeader header =
        io::read_safetensors_header(reference_dir() / (tag + "_single.safetensors"));
    std::vector<std::string> file_keys;
    for (const auto& [name, entry] : header.tensors) file_keys.push_back(name);  // sorted (map)
    std::vector<std::string> listed = r.keys;
    std::sort(listed.begin(), listed.end());
    ASSERT_FALSE(file_keys.empty());
    // Named differences rather than two ~500-name lists; a key listed twice shows as a size gap.
    std::vector<std::string> extra, missing;
    std::set_difference(file_keys.begin(), file_keys.end(), listed.begin(), listed.end(),
                        std::back_inserter(extra));
    std::set_difference(listed.begin(), listed.end(), file_keys.begin(), file_keys.end(),
                        std::back_inserter(missing));
    for (const std::string& k : extra) ADD_FAILURE() << "in the file, not listed: " << k;
    for (const std::string& k : missing) ADD_FAILURE() << "listed, not in the file: " << k;
    EXPECT_EQ(file_keys.size(), listed.size());
  }
}

// No keys: an empty layout (0 for every component, as SingleFileLayout documents) and nothing
// mapped, rather than an error or a default SD layout.
TEST(SingleFileNames, EmptyKeysMapToNothing) {
  EXPECT_TRUE(map_single_file({}).empty());
  const SingleFileLayout lay = single_file_layout({});
  EXPECT_EQ(lay.unet_blocks, 0);
  EXPECT_EQ(lay.unet_layers_per_block, 0);
  EXPECT_EQ(lay.vae_blocks, 0);
  EXPECT_EQ(lay.vae_layers_per_block, 0);
  EXPECT_EQ(lay.text_layers, 0);
  EXPECT_FALSE(is_open_clip({}));
}

}  // namespace
}  // namespace diffmem::model
