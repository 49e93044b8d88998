#include "diffmem/diffusion/noise.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"

namespace diffmem::diffusion {

at::Generator make_cpu_generator(uint64_t seed) {
  // createCPUGenerator exists with this signature in libtorch 1.13 and 2.x.
  return at::detail::createCPUGenerator(seed);
}

std::vector<at::Generator> make_generators(const std::vector<uint64_t>& seeds) {
  std::vector<at::Generator> gens;
  gens.reserve(seeds.size());
  for (uint64_t s : seeds) gens.push_back(make_cpu_generator(s));
  return gens;
}

torch::Tensor randn_per_image(std::vector<at::Generator>& gens, at::IntArrayRef item_shape) {
  if (gens.empty()) fail("randn_per_image", "at least one generator", "none");
  std::vector<int64_t> one(item_shape.begin(), item_shape.end());
  one.insert(one.begin(), 1);
  std::vector<torch::Tensor> rows;
  rows.reserve(gens.size());
  // Each draw has the shape diffusers draws ([1, ...]); torch's normal sampler takes a different
  // path below 16 elements, so the shape of every single draw matters, not just the count.
  for (auto& g : gens) rows.push_back(at::randn(one, g, torch::dtype(torch::kFloat32)));
  return torch::cat(rows, 0);
}

std::vector<uint64_t> image_seeds(uint64_t base, int64_t first, int64_t count) {
  if (first < 0 || count < 0)
    fail("image_seeds", "first >= 0 and count >= 0",
         std::to_string(first) + " and " + std::to_string(count));
  std::vector<uint64_t> seeds(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) seeds[static_cast<size_t>(i)] = base + uint64_t(first + i);
  return seeds;
}

}  // namespace diffmem::diffusion
