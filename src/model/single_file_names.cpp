#include "diffmem/model/single_file_names.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "diffmem/core/error.h"

namespace diffmem::model {

namespace {

using Transform = SingleFileName::Transform;
using Names = std::vector<SingleFileName>;
using sv = std::string_view;

constexpr sv kUnet = "model.diffusion_model.";
constexpr sv kVae = "first_stage_model.";
constexpr sv kClip = "cond_stage_model.transformer.text_model.";
constexpr sv kOpenClip = "cond_stage_model.model.";

// Top-level tensors of ldm's DDPM (register_schedule, and logvar / lvlb_weights some versions
// save): the sampler recomputes them from the scheduler config, so they are never read.
const std::set<sv> kScheduleTables = {"betas",
                                      "alphas_cumprod",
                                      "alphas_cumprod_prev",
                                      "sqrt_alphas_cumprod",
                                      "sqrt_one_minus_alphas_cumprod",
                                      "log_one_minus_alphas_cumprod",
                                      "sqrt_recip_alphas_cumprod",
                                      "sqrt_recipm1_alphas_cumprod",
                                      "posterior_variance",
                                      "posterior_log_variance_clipped",
                                      "posterior_mean_coef1",
                                      "posterior_mean_coef2",
                                      "logvar",
                                      "lvlb_weights"};

bool take(sv& s, sv prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// "N." at the front of s: N, s advanced past the dot; nullopt (s untouched) otherwise.
std::optional<int64_t> take_index(sv& s) {
  size_t i = 0;
  int64_t n = 0;
  while (i < s.size() && i < 9 && s[i] >= '0' && s[i] <= '9') n = n * 10 + (s[i++] - '0');
  if (i == 0 || i >= s.size() || s[i] != '.') return std::nullopt;
  s.remove_prefix(i + 1);
  return n;
}

bool weight_or_bias(sv s) { return s == "weight" || s == "bias"; }

std::string str(sv s) { return std::string(s); }
std::string num(int64_t n) { return std::to_string(n); }

// `rest` = "<old>.weight|bias" for one of the (old, new) pairs: "<new>.weight|bias".
template <size_t N>
std::optional<std::string> renamed(sv rest, const std::pair<sv, sv> (&table)[N]) {
  for (const auto& [old_name, new_name] : table) {
    sv r = rest;
    if (take(r, old_name) && take(r, ".") && weight_or_bias(r)) return str(new_name) + "." + str(r);
  }
  return std::nullopt;
}

// ---- UNet (convert_ldm_unet_checkpoint) ----

std::optional<std::string> unet_resnet(sv rest) {
  static const std::pair<sv, sv> t[] = {
      {"in_layers.0", "norm1"},          {"in_layers.2", "conv1"},
      {"out_layers.0", "norm2"},         {"out_layers.3", "conv2"},
      {"emb_layers.1", "time_emb_proj"}, {"skip_connection", "conv_shortcut"}};
  return renamed(rest, t);
}

// A SpatialTransformer parameter: diffusers' Transformer2DModel spells it the same, so only the
// block prefix changes (diffusers renames the prefix and copies the rest); checked so that an
// unknown name is an error here rather than a missing/unexpected tensor later.
bool unet_attention(sv rest) {
  for (sv p : {"norm.", "proj_in.", "proj_out."}) {
    sv r = rest;
    if (take(r, p) && weight_or_bias(r)) return true;
  }
  if (!take(rest, "transformer_blocks.") || !take_index(rest)) return false;
  if (take(rest, "attn1.") || take(rest, "attn2."))
    return rest == "to_q.weight" || rest == "to_k.weight" || rest == "to_v.weight" ||
           rest == "to_out.0.weight" || rest == "to_out.0.bias";
  for (sv p : {"ff.net.0.proj.", "ff.net.2.", "norm1.", "norm2.", "norm3."}) {
    sv r = rest;
    if (take(r, p) && weight_or_bias(r)) return true;
  }
  return false;
}

std::optional<std::string> unet_name(sv s, const SingleFileLayout& lay) {
  static const std::pair<sv, sv> fixed[] = {{"time_embed.0", "time_embedding.linear_1"},
                                            {"time_embed.2", "time_embedding.linear_2"},
                                            {"input_blocks.0.0", "conv_in"},
                                            {"out.0", "conv_norm_out"},
                                            {"out.2", "conv_out"}};
  if (auto n = renamed(s, fixed)) return n;
  const int64_t per = lay.unet_layers_per_block + 1;  // slots per level: layers, then a resampler
  if (take(s, "input_blocks.")) {
    const auto i = take_index(s);
    if (!i || *i < 1) return std::nullopt;
    const int64_t b = (*i - 1) / per, l = (*i - 1) % per;
    if (b >= lay.unet_blocks) return std::nullopt;
    const std::string block = "down_blocks." + num(b) + ".";
    sv r = s;
    if (take(r, "0.op.") && weight_or_bias(r) && l == per - 1)
      return block + "downsamplers.0.conv." + str(r);
    if (l == per - 1) return std::nullopt;
    r = s;
    if (take(r, "0."))
      if (auto n = unet_resnet(r)) return block + "resnets." + num(l) + "." + *n;
    r = s;
    if (take(r, "1.") && unet_attention(r)) return block + "attentions." + num(l) + "." + str(r);
    return std::nullopt;
  }
  if (take(s, "middle_block.")) {
    sv r = s;
    if (take(r, "1.") && unet_attention(r)) return "mid_block.attentions.0." + str(r);
    for (const auto& [slot, resnet] : {std::pair<sv, sv>{"0.", "0."}, {"2.", "1."}}) {
      r = s;
      if (take(r, slot))
        if (auto n = unet_resnet(r)) return "mid_block.resnets." + str(resnet) + *n;
    }
    return std::nullopt;
  }
  if (take(s, "output_blocks.")) {
    const auto i = take_index(s);
    if (!i) return std::nullopt;
    const int64_t b = *i / per, l = *i % per;
    if (b >= lay.unet_blocks) return std::nullopt;
    const std::string block = "up_blocks." + num(b) + ".";
    sv r = s;
    if (take(r, "0."))
      if (auto n = unet_resnet(r)) return block + "resnets." + num(l) + "." + *n;
    // The upsampler follows the last layer's resnet (.0) and, in cross-attention blocks, its
    // attention (.1); the top level (b == blocks - 1) has none.
    for (sv p : {"1.conv.", "2.conv."}) {
      r = s;
      if (take(r, p) && weight_or_bias(r) && l == per - 1 && b + 1 < lay.unet_blocks)
        return block + "upsamplers.0.conv." + str(r);
    }
    r = s;
    if (take(r, "1.") && unet_attention(r)) return block + "attentions." + num(l) + "." + str(r);
  }
  return std::nullopt;
}

// ---- VAE (convert_ldm_vae_checkpoint) ----

std::optional<std::string> vae_resnet(sv rest) {
  static const std::pair<sv, sv> t[] = {{"norm1", "norm1"},
                                        {"conv1", "conv1"},
                                        {"norm2", "norm2"},
                                        {"conv2", "conv2"},
                                        {"nin_shortcut", "conv_shortcut"}};
  return renamed(rest, t);
}

std::optional<SingleFileName> vae_name(sv s, const SingleFileLayout& lay) {
  auto plain = [](std::string n) { return SingleFileName{SingleFileComponent::vae, std::move(n)}; };
  static const std::pair<sv, sv> fixed[] = {{"encoder.conv_in", "encoder.conv_in"},
                                            {"encoder.conv_out", "encoder.conv_out"},
                                            {"encoder.norm_out", "encoder.conv_norm_out"},
                                            {"decoder.conv_in", "decoder.conv_in"},
                                            {"decoder.conv_out", "decoder.conv_out"},
                                            {"decoder.norm_out", "decoder.conv_norm_out"},
                                            {"quant_conv", "quant_conv"},
                                            {"post_quant_conv", "post_quant_conv"}};
  if (auto n = renamed(s, fixed)) return plain(*n);
  const bool encoder = take(s, "encoder.");
  if (!encoder && !take(s, "decoder.")) return std::nullopt;
  const std::string side = encoder ? "encoder." : "decoder.";
  if (take(s, "mid.")) {
    sv r = s;
    if (take(r, "block_1."))
      if (auto n = vae_resnet(r)) return plain(side + "mid_block.resnets.0." + *n);
    r = s;
    if (take(r, "block_2."))
      if (auto n = vae_resnet(r)) return plain(side + "mid_block.resnets.1." + *n);
    if (!take(s, "attn_1.")) return std::nullopt;
    static const std::pair<sv, sv> attn[] = {{"norm", "group_norm"},
                                             {"q", "to_q"},
                                             {"k", "to_k"},
                                             {"v", "to_v"},
                                             {"proj_out", "to_out.0"}};
    auto n = renamed(s, attn);
    if (!n) return std::nullopt;
    // CompVis' AttnBlock uses 1x1 convs; diffusers' Attention linears (conv_attn_to_linear).
    const bool conv = s != "norm.weight" && s.size() > 7 && s.substr(s.size() - 7) == ".weight";
    return SingleFileName{SingleFileComponent::vae, side + "mid_block.attentions.0." + *n,
                          conv ? Transform::squeeze_1x1 : Transform::none};
  }
  if (!take(s, encoder ? "down." : "up.")) return std::nullopt;
  const auto i = take_index(s);
  if (!i || *i >= lay.vae_blocks) return std::nullopt;
  // CompVis numbers decoder levels from the lowest resolution; diffusers' up_blocks run the other
  // way (decoder.up.i is up_blocks[blocks - 1 - i]).
  const int64_t b = encoder ? *i : lay.vae_blocks - 1 - *i;
  const std::string block = side + (encoder ? "down_blocks." : "up_blocks.") + num(b) + ".";
  sv r = s;
  if (take(r, encoder ? "downsample.conv." : "upsample.conv.") && weight_or_bias(r))
    return plain(block + (encoder ? "downsamplers" : "upsamplers") + ".0.conv." + str(r));
  if (!take(s, "block.")) return std::nullopt;
  const auto j = take_index(s);
  if (!j) return std::nullopt;
  if (auto n = vae_resnet(s)) return plain(block + "resnets." + num(*j) + "." + *n);
  return std::nullopt;
}

// ---- text encoder (convert_ldm_clip_checkpoint, convert_open_clip_checkpoint) ----

// An encoder layer parameter of transformers' CLIPTextModel, after "encoder.layers.N.".
bool clip_layer(sv s) {
  for (sv p : {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj.", "self_attn.out_proj.",
               "layer_norm1.", "layer_norm2.", "mlp.fc1.", "mlp.fc2."}) {
    sv r = s;
    if (take(r, p) && weight_or_bias(r)) return true;
  }
  return false;
}

std::optional<SingleFileName> clip_name(sv s) {
  const SingleFileName n{SingleFileComponent::text_encoder, str(s)};
  if (s == "embeddings.token_embedding.weight" || s == "embeddings.position_embedding.weight")
    return n;
  sv r = s;
  if (take(r, "final_layer_norm.") && weight_or_bias(r)) return n;
  if (take(s, "encoder.layers.") && take_index(s) && clip_layer(s)) return n;
  return std::nullopt;
}

// Names of one OpenCLIP key (three for in_proj); empty: a known key no CLIPTextModel uses.
std::optional<Names> open_clip_names(sv s, const SingleFileLayout& lay) {
  auto one = [](std::string n) {
    return Names{SingleFileName{SingleFileComponent::text_encoder, std::move(n)}};
  };
  if (s == "token_embedding.weight") return one("embeddings.token_embedding.weight");
  if (s == "positional_embedding") return one("embeddings.position_embedding.weight");
  if (s == "text_projection" || s == "logit_scale") return Names{};  // CLIP's contrastive head
  sv r = s;
  if (take(r, "ln_final.") && weight_or_bias(r)) return one("final_layer_norm." + str(r));
  if (!take(s, "transformer.resblocks.")) return std::nullopt;
  const auto i = take_index(s);
  if (!i) return std::nullopt;
  const std::string layer = "encoder.layers." + num(*i) + ".";
  Names out;
  for (const sv leaf : {sv("weight"), sv("bias")})
    if (s == "attn.in_proj_" + str(leaf)) {
      const char* qkv[] = {"q", "k", "v"};
      for (int p = 0; p < 3; ++p)
        out.push_back({SingleFileComponent::text_encoder,
                       layer + "self_attn." + qkv[p] + "_proj." + str(leaf), Transform::split_qkv,
                       p});
    }
  static const std::pair<sv, sv> t[] = {{"attn.out_proj", "self_attn.out_proj"},
                                        {"ln_1", "layer_norm1"},
                                        {"ln_2", "layer_norm2"},
                                        {"mlp.c_fc", "mlp.fc1"},
                                        {"mlp.c_proj", "mlp.fc2"}};
  if (auto n = renamed(s, t)) out = one(layer + *n);
  if (out.empty()) return std::nullopt;
  if (*i >= lay.text_layers) return Names{};  // the unused last layer (penultimate conditioning)
  return out;
}

// How many N of "<prefix>N." the keys hold: they must run 0..n-1, else the error names a key of
// the first block out of place (a stray "input_blocks.99" is then caught before any mapping).
int64_t count_blocks(const std::vector<std::string>& keys, sv prefix, const std::string& where) {
  std::map<int64_t, const std::string*> first;  // block -> a key of it
  for (const std::string& k : keys) {
    sv s = k;
    if (take(s, prefix))
      if (auto i = take_index(s)) first.emplace(*i, &k);
  }
  int64_t n = 0;
  for (const auto& [i, key] : first) {
    if (i != n)
      fail(where + ": tensor '" + *key + "'", str(prefix) + "N numbered from 0 without gaps",
           "block " + num(i) + " after " + num(n) + " blocks");
    ++n;
  }
  return n;
}

bool starts_with(const std::string& s, sv p) { return sv(s).substr(0, p.size()) == p; }

}  // namespace

bool is_open_clip(const std::vector<std::string>& keys) {
  return std::any_of(keys.begin(), keys.end(),
                     [](const std::string& k) { return starts_with(k, kOpenClip); });
}

SingleFileLayout single_file_layout(const std::vector<std::string>& keys,
                                    const std::string& where) {
  SingleFileLayout lay;
  const std::string u(kUnet), v(kVae);
  const int64_t inputs = count_blocks(keys, u + "input_blocks.", where);
  const int64_t outputs = count_blocks(keys, u + "output_blocks.", where);
  if (inputs > 0 || outputs > 0) {
    int64_t downsamplers = 0;
    for (const std::string& k : keys) {
      sv s = k;
      if (take(s, kUnet) && take(s, "input_blocks.") && take_index(s) && s == "0.op.weight")
        ++downsamplers;
    }
    // diffusers: input block 0 is conv_in, then per level layers_per_block slots and (but on the
    // last level) a downsampler; output blocks have layers_per_block + 1 slots per level.
    lay.unet_blocks = downsamplers + 1;
    lay.unet_layers_per_block = inputs / lay.unet_blocks - 1;
    const bool ok = inputs % lay.unet_blocks == 0 && lay.unet_layers_per_block >= 1 &&
                    outputs == lay.unet_blocks * (lay.unet_layers_per_block + 1);
    check(ok, where, "UNet input_blocks = output_blocks = (downsamplers + 1) * (layers + 1)",
          num(inputs) + " input_blocks, " + num(outputs) + " output_blocks, " + num(downsamplers) +
              " downsamplers");
  }
  const int64_t down = count_blocks(keys, v + "encoder.down.", where);
  const int64_t up = count_blocks(keys, v + "decoder.up.", where);
  check(down == up || down == 0 || up == 0, where, "as many VAE encoder.down as decoder.up levels",
        num(down) + " and " + num(up));
  lay.vae_blocks = std::max(down, up);
  if (down > 0)
    lay.vae_layers_per_block = count_blocks(keys, v + "encoder.down.0.block.", where);
  else if (up > 0)  // a decoder level has one resnet more than an encoder level
    lay.vae_layers_per_block = count_blocks(keys, v + "decoder.up.0.block.", where) - 1;
  const std::string t(kOpenClip);
  if (is_open_clip(keys))  // the last resblock is not run (see SingleFileLayout::text_layers)
    lay.text_layers =
        std::max<int64_t>(0, count_blocks(keys, t + "transformer.resblocks.", where) - 1);
  else
    lay.text_layers = count_blocks(keys, str(kClip) + "encoder.layers.", where);
  return lay;
}

std::vector<std::pair<std::string, SingleFileName>> map_single_file(
    const std::vector<std::string>& keys, const std::string& where) {
  const SingleFileLayout lay = single_file_layout(keys, where);
  std::vector<std::pair<std::string, SingleFileName>> out;
  for (const std::string& key : keys) {
    sv s = key;
    std::optional<Names> names;
    if (kScheduleTables.count(s) || take(s, "model_ema.")) {
      names = Names{};  // schedule tables; EMA bookkeeping and copies (the model's own are used)
    } else if (take(s, kUnet)) {
      if (auto n = unet_name(s, lay)) names = Names{{SingleFileComponent::unet, *n}};
    } else if (take(s, kVae)) {
      if (auto n = vae_name(s, lay)) names = Names{*n};
    } else if (take(s, kClip)) {
      if (s == "embeddings.position_ids")
        names = Names{};  // a buffer (arange) older transformers saved
      else if (auto n = clip_name(s))
        names = Names{*n};
    } else if (take(s, kOpenClip)) {
      names = open_clip_names(s, lay);
    }
    if (!names)
      fail(where + ": tensor '" + key + "'",
           "a Stable Diffusion 1.x/2.x CompVis tensor name (model.diffusion_model.*, "
           "first_stage_model.*, cond_stage_model.*) of the layout its names imply",
           "a name no rule maps");
    for (SingleFileName& n : *names) out.emplace_back(key, std::move(n));
  }
  return out;
}

}  // namespace diffmem::model
