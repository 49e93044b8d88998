#include "diffmem/train/train_options.h"

#include "diffmem/core/error.h"

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

}  // namespace diffmem::train
