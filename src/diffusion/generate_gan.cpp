// Sampling a GAN (model/generator.h) into the same shards as a diffusion model: image i from the
// latent z drawn from seed + i, as the diffusion samplers draw their initial noise.
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/generate.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/model/generator.h"
#include "generate_shards.h"

namespace diffmem::diffusion {
namespace fs = std::filesystem;

torch::Tensor gan_latents(const std::vector<uint64_t>& seeds, int64_t z_dim) {
  std::vector<at::Generator> gens = make_generators(seeds);
  return randn_per_image(gens, {z_dim});
}

GenerateResult generate(model::Generator& generator, const fs::path& out, const GenerateOptions& o,
                        const ProgressFn& progress) {
  if (o.class_label != -1) fail("--class", "none for a GAN", std::to_string(o.class_label));
  validate(o, "sample options");
  if (o.sample.batch < 1) fail("sample options: batch (--batch)", ">= 1", std::to_string(o.sample.batch));
  io::Json manifest = io::fields_json(o);
  manifest["created_by"] = "diffmem sample";
  // Only the batch of the sampling options applies to a GAN; the rest would name a sampler it has not.
  manifest["sample"] = {{"sampler", "generator"}, {"batch", o.sample.batch}};
  manifest["generator"] = generator.describe();
  manifest["z_dim"] = generator.z_dim();
  manifest["image_shape"] = {generator.height(), generator.width(), generator.channels()};
  detail::pin_manifest(out, manifest);
  return detail::write_shards(out, o, progress, [&](int64_t, int64_t, int64_t count, const std::vector<uint64_t>& seeds,
                                                   const ProgressFn& inner) {
    const torch::Tensor z = gan_latents(seeds, generator.z_dim());
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < count; i += o.sample.batch) {
      const int64_t n = std::min(o.sample.batch, count - i);
      parts.push_back(to_uint8_nhwc(generator.generate(z.slice(0, i, i + n).to(generator.device())).cpu()));
      if (inner) {
        ProgressEvent e;
        e.done = i + n;
        e.total = count;
        inner(e);
      }
    }
    return torch::cat(parts);
  });
}

}  // namespace diffmem::diffusion
