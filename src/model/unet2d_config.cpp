#include "diffmem/model/unet2d_config.h"

#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/core/ranges.h"

namespace diffmem::model {
namespace {

std::string list_str(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}

std::string json_str(const io::Json& j) { return j.dump(); }

// Typed reads of one key with errors that name the file and the key.
struct Reader {
  const io::Json& j;
  const std::string& where;

  std::string at(const std::string& key) const { return where + ": key \"" + key + "\""; }

  template <typename T>
  void get(const std::string& key, T& out, const char* what) const {
    if (!j.contains(key)) return;
    const io::Json& v = j.at(key);
    try {
      out = v.get<T>();
    } catch (const nlohmann::json::exception&) {
      fail(at(key), what, json_str(v));
    }
  }
  void integer(const std::string& key, int64_t& out) const {
    if (j.contains(key) && !j.at(key).is_number_integer())
      fail(at(key), "an integer", json_str(j.at(key)));
    get(key, out, "an integer");
  }
  void number(const std::string& key, double& out) const {
    if (j.contains(key) && !j.at(key).is_number()) fail(at(key), "a number", json_str(j.at(key)));
    get(key, out, "a number");
  }
  void boolean(const std::string& key, bool& out) const {
    if (j.contains(key) && !j.at(key).is_boolean())
      fail(at(key), "true or false", json_str(j.at(key)));
    get(key, out, "true or false");
  }
  void string(const std::string& key, std::string& out) const {
    if (j.contains(key) && !j.at(key).is_string()) fail(at(key), "a string", json_str(j.at(key)));
    get(key, out, "a string");
  }
  void optional_integer(const std::string& key, std::optional<int64_t>& out) const {
    if (!j.contains(key)) return;
    if (j.at(key).is_null()) {
      out.reset();
      return;
    }
    int64_t v = 0;
    integer(key, v);
    out = v;
  }
  void strings(const std::string& key, std::vector<std::string>& out) const {
    get(key, out, "a list of strings");
  }
  void integers(const std::string& key, std::vector<int64_t>& out) const {
    if (j.contains(key)) {
      const io::Json& v = j.at(key);
      bool ok = v.is_array();
      for (const auto& e : v) ok = ok && e.is_number_integer();
      if (!ok) fail(at(key), "a list of integers", json_str(v));
    }
    get(key, out, "a list of integers");
  }
  void must_be_null(const std::string& key) const {
    if (j.contains(key) && !j.at(key).is_null())
      fail(at(key), "null (diffmem's UNet2D has no class conditioning)", json_str(j.at(key)));
  }
};

io::Json number_json(double v) {
  // diffusers writes integral values such as freq_shift 1 as integers; keep the same spelling.
  if (std::floor(v) == v && std::fabs(v) < 1e15) return io::Json(static_cast<int64_t>(v));
  return io::Json(v);
}

int64_t conv_params(int64_t in, int64_t out, int64_t k) { return out * in * k * k + out; }
int64_t linear_params(int64_t in, int64_t out) { return in * out + out; }
// scale_shift: the time projection gives a scale and a shift per channel (2 x out).
int64_t resnet_params(int64_t in, int64_t out, int64_t temb, bool scale_shift = false) {
  return 2 * in + conv_params(in, out, 3) + linear_params(temb, scale_shift ? 2 * out : out) + 2 * out +
         conv_params(out, out, 3) + (in != out ? conv_params(in, out, 1) : 0);
}
int64_t attention_params(int64_t c, bool group_norm = true) {
  return (group_norm ? 2 * c : 0) + 4 * linear_params(c, c);
}

bool is_attn(const std::string& block_type) { return block_type.rfind("Attn", 0) == 0; }

}  // namespace

UNet2DConfig UNet2DConfig::from_json(const io::Json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "a JSON object", json_str(j).substr(0, 80));
  // diffusers' defaults alone are a 1.2 GB network no one asked for: {} is a mistake.
  if (j.empty()) fail(where, "a UNet2DModel config (at least block_out_channels)", "an empty object {}");
  Reader r{j, where};
  UNet2DConfig c;
  if (j.contains("_class_name")) {
    std::string cls;
    r.string("_class_name", cls);
    if (cls != "UNet2DModel") fail(r.at("_class_name"), "\"UNet2DModel\"", "\"" + cls + "\"");
  }
  if (j.contains("sample_size")) {
    const io::Json& s = j.at("sample_size");
    if (s.is_array() && s.size() == 2 && s[0].is_number_integer() && s[1].is_number_integer()) {
      c.sample_size = s[0].get<int64_t>();  // [height, width]
      if (s[1] != s[0]) c.sample_width = s[1].get<int64_t>();
    } else if (!s.is_number_integer()) {
      fail(r.at("sample_size"), "an integer or [height, width]", json_str(s));
    } else {
      c.sample_size = s.get<int64_t>();
    }
  }
  r.integer("in_channels", c.in_channels);
  r.integer("out_channels", c.out_channels);
  r.boolean("center_input_sample", c.center_input_sample);
  r.string("time_embedding_type", c.time_embedding_type);
  r.optional_integer("time_embedding_dim", c.time_embedding_dim);
  r.number("freq_shift", c.freq_shift);
  r.boolean("flip_sin_to_cos", c.flip_sin_to_cos);
  r.strings("down_block_types", c.down_block_types);
  if (j.contains("mid_block_type") && j.at("mid_block_type").is_null()) {
    c.mid_block_type.clear();
  } else {
    r.string("mid_block_type", c.mid_block_type);
  }
  r.strings("up_block_types", c.up_block_types);
  r.integers("block_out_channels", c.block_out_channels);
  r.integer("layers_per_block", c.layers_per_block);
  r.number("mid_block_scale_factor", c.mid_block_scale_factor);
  r.integer("downsample_padding", c.downsample_padding);
  if (!(j.contains("downsample_type") && j.at("downsample_type").is_null()))
    r.string("downsample_type", c.downsample_type);
  if (!(j.contains("upsample_type") && j.at("upsample_type").is_null()))
    r.string("upsample_type", c.upsample_type);
  r.number("dropout", c.dropout);
  r.string("act_fn", c.act_fn);
  r.optional_integer("attention_head_dim", c.attention_head_dim);
  r.integer("norm_num_groups", c.norm_num_groups);
  r.optional_integer("attn_norm_num_groups", c.attn_norm_num_groups);
  r.number("norm_eps", c.norm_eps);
  r.string("resnet_time_scale_shift", c.resnet_time_scale_shift);
  r.boolean("add_attention", c.add_attention);
  r.must_be_null("class_embed_type");
  r.optional_integer("num_class_embeds", c.num_class_embeds);
  // num_train_timesteps only sizes diffusers' "learned" time embedding, which is rejected anyway.
  c.validate(where);
  return c;
}

io::Json UNet2DConfig::to_json() const {
  io::Json j;
  j["_class_name"] = "UNet2DModel";
  j["_diffusers_version"] = kDiffusersVersion;
  j["act_fn"] = act_fn;
  j["add_attention"] = add_attention;
  j["attention_head_dim"] = attention_head_dim ? io::Json(*attention_head_dim) : io::Json(nullptr);
  j["attn_norm_num_groups"] =
      attn_norm_num_groups ? io::Json(*attn_norm_num_groups) : io::Json(nullptr);
  j["block_out_channels"] = block_out_channels;
  j["center_input_sample"] = center_input_sample;
  j["class_embed_type"] = nullptr;
  j["down_block_types"] = down_block_types;
  j["downsample_padding"] = downsample_padding;
  j["downsample_type"] = downsample_type;
  j["dropout"] = dropout;
  j["flip_sin_to_cos"] = flip_sin_to_cos;
  j["freq_shift"] = number_json(freq_shift);
  j["in_channels"] = in_channels;
  j["layers_per_block"] = layers_per_block;
  j["mid_block_scale_factor"] = number_json(mid_block_scale_factor);
  j["mid_block_type"] = mid_block_type.empty() ? io::Json(nullptr) : io::Json(mid_block_type);
  j["norm_eps"] = norm_eps;
  j["norm_num_groups"] = norm_num_groups;
  j["num_class_embeds"] = num_class_embeds ? io::Json(*num_class_embeds) : io::Json(nullptr);
  j["num_train_timesteps"] = nullptr;
  j["out_channels"] = out_channels;
  j["resnet_time_scale_shift"] = resnet_time_scale_shift;
  if (width() != sample_size)
    j["sample_size"] = {sample_size, width()};
  else
    j["sample_size"] = sample_size;
  j["time_embedding_dim"] = time_embedding_dim ? io::Json(*time_embedding_dim) : io::Json(nullptr);
  j["time_embedding_type"] = time_embedding_type;
  j["up_block_types"] = up_block_types;
  j["upsample_type"] = upsample_type;
  return j;
}

void UNet2DConfig::validate(const std::string& where) const {
  auto field = [&](const char* name) { return where + ": " + name; };
  const size_t n = block_out_channels.size();
  check(n >= 1, field("block_out_channels"), "at least one level", "[]");
  check(down_block_types.size() == n, field("down_block_types"),
        std::to_string(n) + " entries (one per block_out_channels)",
        std::to_string(down_block_types.size()));
  check(up_block_types.size() == n, field("up_block_types"),
        std::to_string(n) + " entries (one per block_out_channels)",
        std::to_string(up_block_types.size()));
  for (const auto& t : down_block_types)
    check(t == "DownBlock2D" || t == "AttnDownBlock2D", field("down_block_types"),
          "DownBlock2D or AttnDownBlock2D", t + " in " + list_str(down_block_types));
  for (const auto& t : up_block_types)
    check(t == "UpBlock2D" || t == "AttnUpBlock2D", field("up_block_types"),
          "UpBlock2D or AttnUpBlock2D", t + " in " + list_str(up_block_types));
  check(mid_block_type.empty() || mid_block_type == "UNetMidBlock2D", field("mid_block_type"),
        "UNetMidBlock2D or null", mid_block_type);
  check(time_embedding_type == "positional" || time_embedding_type == "fourier",
        field("time_embedding_type"), "positional or fourier", time_embedding_type);
  if (num_class_embeds)
    check(*num_class_embeds >= 1, field("num_class_embeds"), "at least 1 class (or null)",
          std::to_string(*num_class_embeds));
  check(act_fn == "silu" || act_fn == "swish", field("act_fn"), "silu", act_fn);
  check(resnet_time_scale_shift == "default" || resnet_time_scale_shift == "scale_shift",
        field("resnet_time_scale_shift"), "default or scale_shift", resnet_time_scale_shift);
  check(downsample_type == "conv" || downsample_type == "resnet", field("downsample_type"), "conv or resnet",
        downsample_type);
  check(upsample_type == "conv" || upsample_type == "resnet", field("upsample_type"), "conv or resnet",
        upsample_type);
  check(downsample_padding == 0 || downsample_padding == 1, field("downsample_padding"), "0 or 1",
        std::to_string(downsample_padding));
  check(layers_per_block >= 1, field("layers_per_block"), "at least 1",
        std::to_string(layers_per_block));
  check(in_channels >= 1, field("in_channels"), "at least 1", std::to_string(in_channels));
  check(out_channels >= 1, field("out_channels"), "at least 1", std::to_string(out_channels));
  check(norm_num_groups >= 1, field("norm_num_groups"), "at least 1",
        std::to_string(norm_num_groups));
  check(norm_eps > 0, field("norm_eps"), "a positive number", std::to_string(norm_eps));
  check(dropout >= 0 && dropout < 1, field("dropout"), "a probability in [0, 1)",
        std::to_string(dropout));
  check(mid_block_scale_factor != 0, field("mid_block_scale_factor"), "a non-zero number", "0");
  if (time_embedding_dim)
    check(*time_embedding_dim >= 1, field("time_embedding_dim"), "at least 1 (or null)",
          std::to_string(*time_embedding_dim));
  for (size_t i = 0; i < n; ++i) {
    const int64_t c = block_out_channels[i];
    check(c >= 1 && c % norm_num_groups == 0, field("block_out_channels"),
          "multiples of norm_num_groups (" + std::to_string(norm_num_groups) + ")",
          std::to_string(c));
  }
  const int64_t half = block_out_channels[0] / 2;
  check(half >= 1 && (fourier() || static_cast<double>(half) != freq_shift), field("freq_shift"),
        "a value other than block_out_channels[0] / 2", number_json(freq_shift).dump());
  auto check_heads = [&](int64_t c) {
    if (!attention_head_dim) return;
    check(*attention_head_dim >= 1 && c % *attention_head_dim == 0, field("attention_head_dim"),
          "a divisor of every attention's channel count (" + std::to_string(c) + ")",
          std::to_string(*attention_head_dim));
  };
  for (size_t i = 0; i < n; ++i) {
    if (is_attn(down_block_types[i])) check_heads(block_out_channels[i]);
    if (is_attn(up_block_types[i])) check_heads(block_out_channels[n - 1 - i]);
  }
  if (!mid_block_type.empty() && add_attention) {
    check_heads(block_out_channels.back());
    const int64_t g = attn_norm_num_groups.value_or(norm_num_groups);
    check(g >= 1 && block_out_channels.back() % g == 0, field("attn_norm_num_groups"),
          "a divisor of " + std::to_string(block_out_channels.back()), std::to_string(g));
  }
  const int64_t factor = int64_t{1} << (n - 1);
  for (const int64_t side : {sample_size, width()})
    check(side >= 1 && side % factor == 0, field("sample_size"),
          "a positive multiple of " + std::to_string(factor) + " (" + std::to_string(n - 1) +
              " halvings)",
          std::to_string(side));
  check(sample_width >= 0, field("sample_size"), "a positive width", std::to_string(sample_width));
  core::check_model_memory(where, 4.0 * static_cast<double>(parameter_count()), activation_bytes_estimate());
}

double UNet2DConfig::activation_bytes_estimate() const {
  // Per level: the resnets' feature maps (kept for the backward pass and the skips), about
  // 4 * layers_per_block + 4 maps of channels × side²; attention levels add the scores
  // (heads × tokens²). Doubles: a sample_size of 2^30 squared does not fit an int64.
  double total = 0;
  double h = static_cast<double>(sample_size), w = static_cast<double>(width());
  for (size_t i = 0; i < block_out_channels.size(); ++i) {
    const double c = static_cast<double>(block_out_channels[i]), tokens = h * w;
    total += tokens * c * (4.0 * static_cast<double>(layers_per_block) + 4.0);
    if (is_attn(down_block_types[i]) || is_attn(up_block_types[block_out_channels.size() - 1 - i]))
      total += static_cast<double>(attention_heads(block_out_channels[i])) * tokens * tokens;
    h /= 2, w /= 2;
  }
  return 4.0 * total;
}

int64_t UNet2DConfig::time_embed_dim() const {
  return time_embedding_dim ? *time_embedding_dim : 4 * block_out_channels.at(0);
}

int64_t UNet2DConfig::timestep_input_dim() const {
  return fourier() ? 2 * block_out_channels.at(0) : block_out_channels.at(0);
}

int64_t UNet2DConfig::attention_heads(int64_t channels) const {
  return attention_head_dim ? channels / *attention_head_dim : 1;
}

int64_t UNet2DConfig::parameter_count() const {
  const int64_t n = static_cast<int64_t>(block_out_channels.size());
  const int64_t temb = time_embed_dim();
  const int64_t c0 = block_out_channels[0];
  const bool ss = resnet_time_scale_shift == "scale_shift";
  int64_t total = conv_params(in_channels, c0, 3) + linear_params(timestep_input_dim(), temb) +
                  linear_params(temb, temb);
  if (fourier()) total += c0;  // time_proj.weight (frozen, but a parameter as in diffusers)
  if (num_class_embeds) total += *num_class_embeds * temb;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t in = i == 0 ? c0 : block_out_channels[i - 1];
    const int64_t out = block_out_channels[i];
    for (int64_t j = 0; j < layers_per_block; ++j) {
      total += resnet_params(j == 0 ? in : out, out, temb, ss);
      if (is_attn(down_block_types[i])) total += attention_params(out);
    }
    if (i != n - 1)
      total += is_attn(down_block_types[i]) && downsample_type == "resnet" ? resnet_params(out, out, temb, ss)
                                                                         : conv_params(out, out, 3);
  }
  if (!mid_block_type.empty()) {
    const int64_t c = block_out_channels.back();
    const bool norm = attn_norm_num_groups.has_value() || !ss;
    total += 2 * resnet_params(c, c, temb, ss) + (add_attention ? attention_params(c, norm) : 0);
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t out = block_out_channels[n - 1 - i];
    const int64_t prev = block_out_channels[n - 1 - (i == 0 ? 0 : i - 1)];
    const int64_t skip_last = block_out_channels[n - 1 - std::min(i + 1, n - 1)];
    const int64_t layers = layers_per_block + 1;
    for (int64_t j = 0; j < layers; ++j) {
      const int64_t res_in = (j == 0 ? prev : out) + (j == layers - 1 ? skip_last : out);
      total += resnet_params(res_in, out, temb, ss);
      if (is_attn(up_block_types[i])) total += attention_params(out);
    }
    if (i != n - 1)
      total += is_attn(up_block_types[i]) && upsample_type == "resnet" ? resnet_params(out, out, temb, ss)
                                                                     : conv_params(out, out, 3);
  }
  total += 2 * c0 + conv_params(c0, out_channels, 3);
  return total;
}

UNet2DConfig UNet2DConfig::preset(const std::string& name) {
  UNet2DConfig c;
  // Every preset is a DDPM (Ho et al.) network: [sin, cos] embedding with shift 1, one attention
  // head, right/bottom-padded downsampling, GroupNorm eps 1e-6.
  c.flip_sin_to_cos = false;
  c.freq_shift = 1;
  c.downsample_padding = 0;
  c.norm_eps = 1e-6;
  c.attention_head_dim.reset();
  if (name == "ddpm-cifar10") {
    c.sample_size = 32;
    c.in_channels = c.out_channels = 3;
    c.block_out_channels = {128, 256, 256, 256};
    c.layers_per_block = 2;
    c.down_block_types = {"DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"};
    c.up_block_types = {"UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"};
    c.norm_num_groups = 32;
    return c;
  }
  c.sample_size = 28;  // 28 → 14 → 7; the 7×7 level does not downsample again
  c.in_channels = c.out_channels = 1;
  if (name == "tiny") {
    c.block_out_channels = {16, 24};
    c.layers_per_block = 1;
    c.down_block_types = {"DownBlock2D", "AttnDownBlock2D"};
    c.up_block_types = {"AttnUpBlock2D", "UpBlock2D"};
    c.norm_num_groups = 8;
    return c;
  }
  if (name == "small" || name == "base") {
    const bool small = name == "small";
    c.block_out_channels =
        small ? std::vector<int64_t>{24, 48, 48} : std::vector<int64_t>{48, 96, 96};
    c.layers_per_block = small ? 1 : 2;
    c.down_block_types = {"DownBlock2D", "DownBlock2D", "AttnDownBlock2D"};
    c.up_block_types = {"AttnUpBlock2D", "UpBlock2D", "UpBlock2D"};
    c.norm_num_groups = small ? 8 : 16;
    return c;
  }
  fail("UNet2D preset", "one of " + list_str(preset_names()), "\"" + name + "\"");
}

std::vector<std::string> UNet2DConfig::preset_names() {
  return {"tiny", "small", "base", "ddpm-cifar10"};
}

bool UNet2DConfig::operator==(const UNet2DConfig& o) const { return to_json() == o.to_json(); }

UNet2DConfig read_unet2d_config(const std::filesystem::path& path) {
  return UNet2DConfig::from_json(io::read_json(path), path.string());
}

void write_unet2d_config(const std::filesystem::path& path, const UNet2DConfig& config) {
  config.validate(path.string());
  io::write_json(path, config.to_json());
}

}  // namespace diffmem::model
