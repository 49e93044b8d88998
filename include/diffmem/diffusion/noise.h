#pragma once
// Per-image noise, drawn the way diffusers' randn_tensor draws it from a list of CPU generators:
// image i's numbers come from its own generator, so an image is the same whatever batch holds it,
// on whatever device the model runs, and a diffusers pipeline given the same seeds sees the same
// noise.
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace diffmem::diffusion {

/// The CPU generator torch.Generator().manual_seed(seed) makes. Its mt19937 keeps only the low 32
/// bits of the seed: seeds equal modulo 2^32 give the same stream.
at::Generator make_cpu_generator(uint64_t seed);
std::vector<at::Generator> make_generators(const std::vector<uint64_t>& seeds);

/// [gens.size(), item_shape...] f32 CPU standard normal; row i drawn from gens[i] alone (one
/// torch.randn([1, item_shape...], generator=gens[i]) each, as diffusers does).
torch::Tensor randn_per_image(std::vector<at::Generator>& gens, at::IntArrayRef item_shape);

/// Seeds for images first .. first+count-1 of a run seeded with `base`: base + index, the
/// convention of diffusers users (generator i seeded with i). Distinct modulo 2^32 for any run of
/// fewer than 2^32 images, which derived 64-bit hashes would not guarantee.
std::vector<uint64_t> image_seeds(uint64_t base, int64_t first, int64_t count);

}  // namespace diffmem::diffusion
