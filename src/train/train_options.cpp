#include "diffmem/train/train_options.h"

#include "diffmem/core/error.h"
#include "diffmem/core/precision.h"
#include "diffmem/core/ranges.h"

namespace diffmem::train {

model::UNet2DConfig model_config(int64_t height, int64_t width, int64_t channels,
                                 const TrainOptions& o) {
  model::UNet2DConfig c = o.unet_config.empty() ? model::UNet2DConfig::preset(o.preset)
                                                : model::read_unet2d_config(o.unet_config);
  c.sample_size = height;
  c.sample_width = width != height ? width : 0;
  c.in_channels = channels;
  c.out_channels = channels;
  c.validate(o.unet_config.empty() ? "preset " + o.preset : o.unet_config);
  return c;
}

void validate(const TrainOptions& o, const std::string& where) {
  using namespace core;
  check_at_least(where, "steps (--steps)", o.steps, 1);
  check_at_least(where, "batch (--batch)", o.batch, 1);
  check_in(where, "lr (--lr)", o.lr, positive());
  check_at_least(where, "warmup_steps (--warmup)", o.warmup_steps, 0);
  check_in(where, "grad_clip (--grad-clip)", o.grad_clip, non_negative());
  check_in(where, "ema_decay (--ema)", o.ema_decay, unit_half_open());
  check_at_least(where, "checkpoint_every (--checkpoint-every)", o.checkpoint_every, 0);
  check_between(where, "num_train_timesteps", o.num_train_timesteps, 1, 100000);
  check_in(where, "text.caption_dropout (--caption-dropout)", o.text.caption_dropout, unit_closed());
  check_at_least(where, "text.tokenizer_merges", o.text.tokenizer_merges, 0);
  check(o.precision == "fp32" || o.precision == "bf16" || o.precision == "fp16",
        where + ": precision (--precision)", kPrecisions, "'" + o.precision + "'");
}

}  // namespace diffmem::train
