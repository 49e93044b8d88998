#include "diffmem/train/train_options.h"

#include "diffmem/core/error.h"

namespace diffmem::train {

io::Json to_json(const TrainOptions& o) {
  return io::Json{{"preset", o.preset},
                  {"unet_config", o.unet_config},
                  {"steps", o.steps},
                  {"batch", o.batch},
                  {"lr", o.lr},
                  {"warmup_steps", o.warmup_steps},
                  {"grad_clip", o.grad_clip},
                  {"ema_decay", o.ema_decay},
                  {"flip", o.flip},
                  {"checkpoint_every", o.checkpoint_every},
                  {"seed", o.seed},
                  {"device", o.device},
                  {"beta_schedule", o.beta_schedule},
                  {"num_train_timesteps", o.num_train_timesteps}};
}

TrainOptions train_options_from_json(const io::Json& j, const std::string& where) {
  TrainOptions o;
  if (!j.is_object()) fail(where, "a JSON object of training options", j.type_name());
  const io::Json known = to_json(o);
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.contains(it.key())) fail(where, "a known training option", "unknown key '" + it.key() + "'");
  try {
    auto get = [&](const char* k, auto& field) {
      if (j.contains(k)) field = j.at(k).get<std::decay_t<decltype(field)>>();
    };
    get("preset", o.preset);
    get("unet_config", o.unet_config);
    get("steps", o.steps);
    get("batch", o.batch);
    get("lr", o.lr);
    get("warmup_steps", o.warmup_steps);
    get("grad_clip", o.grad_clip);
    get("ema_decay", o.ema_decay);
    get("flip", o.flip);
    get("checkpoint_every", o.checkpoint_every);
    get("seed", o.seed);
    get("device", o.device);
    get("beta_schedule", o.beta_schedule);
    get("num_train_timesteps", o.num_train_timesteps);
  } catch (const nlohmann::json::exception& e) {
    fail(where, "training options of the right types", e.what());
  }
  return o;
}

model::UNet2DConfig model_config(int64_t height, int64_t width, int64_t channels,
                                 const TrainOptions& o) {
  model::UNet2DConfig c = o.unet_config.empty() ? model::UNet2DConfig::preset(o.preset)
                                                : model::read_unet2d_config(o.unet_config);
  if (height != width)
    fail("--data", "square images", std::to_string(height) + "x" + std::to_string(width));
  c.sample_size = height;
  c.in_channels = channels;
  c.out_channels = channels;
  c.validate(o.unet_config.empty() ? "preset " + o.preset : o.unet_config);
  return c;
}

}  // namespace diffmem::train
