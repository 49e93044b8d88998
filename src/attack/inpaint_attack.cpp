#include "diffmem/attack/inpaint_attack.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <sstream>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/core/rng.h"
#include "diffmem/diffusion/loss.h"
#include "diffmem/diffusion/noise.h"

namespace diffmem::attack {
namespace {

// Stream of the ranking noise, apart from the candidates' (which use derive_seed(seed, id)).
constexpr uint64_t kRankStream = 0x72616e6b;  // "rank"

}  // namespace

void validate(const InpaintAttackOptions& o, int64_t T, const std::string& where) {
  auto key = [&](const char* k) { return where + ": " + k; };
  check(o.candidates >= 1, key("candidates"), "an integer >= 1", std::to_string(o.candidates));
  check(o.keep >= 1 && o.keep <= o.candidates, key("keep"),
        "an integer in [1, candidates = " + std::to_string(o.candidates) + "]",
        std::to_string(o.keep));
  check(o.n_targets >= 2, key("n_targets"), "an integer >= 2 (members and non-members)",
        std::to_string(o.n_targets));
  check(o.rank_t >= 0 && o.rank_t < T, key("rank_t"),
        "a timestep in [0, " + std::to_string(T) + ")", std::to_string(o.rank_t));
  check(o.rank_draws >= 1, key("rank_draws"), "an integer >= 1", std::to_string(o.rank_draws));
  diffusion::validate(o.inpaint, where + ": inpaint");
}

io::Json result_key(const InpaintAttackOptions& o) {
  io::Json j = io::fields_json(o);
  j.erase("n_targets");
  j["inpaint"].erase("batch");
  return j;
}

std::vector<uint64_t> candidate_seeds(uint64_t seed, int64_t id, int64_t candidates) {
  return diffusion::image_seeds(core::derive_seed(seed, static_cast<uint64_t>(id)), 0, candidates);
}

torch::Tensor ranking_noise(uint64_t seed, int64_t id, int64_t draws, int64_t channels,
                            int64_t height, int64_t width) {
  auto g = diffusion::make_cpu_generator(
      core::derive_seed(core::derive_seed(seed, kRankStream), static_cast<uint64_t>(id)));
  std::vector<torch::Tensor> rows;
  for (int64_t d = 0; d < draws; ++d)
    rows.push_back(at::randn({1, channels, height, width}, g, torch::dtype(torch::kFloat32)));
  return torch::cat(rows, 0);
}

std::vector<double> masked_l2(const torch::Tensor& a, const torch::Tensor& b,
                              const torch::Tensor& known) {
  check(a.dim() == 4 && known.dim() == 4 && known.size(0) == 1 && known.size(1) == 1 &&
            known.size(2) == a.size(2) && known.size(3) == a.size(3),
        "masked_l2", "images [N,C,H,W] and a mask [1,1,H,W]",
        io::shape_str(a) + " and " + io::shape_str(known));
  auto bb = b.dim() == 3 ? b.unsqueeze(0) : b;
  check(bb.dim() == 4 && bb.size(1) == a.size(1) && bb.size(2) == a.size(2) &&
            bb.size(3) == a.size(3) && (bb.size(0) == 1 || bb.size(0) == a.size(0)),
        "masked_l2", "a reference of the images' shape " + io::shape_str(a), io::shape_str(b));
  auto hidden = (known.to(torch::kCPU, torch::kFloat64) < 0.5).to(torch::kFloat64);
  const double count = hidden.sum().item<double>() * static_cast<double>(a.size(1));
  check(count > 0, "masked_l2", "a mask with hidden pixels", "none");
  // [0,1] pixels: (x + 1) / 2, so the difference halves.
  auto d = (a.to(torch::kCPU, torch::kFloat64) - bb.to(torch::kCPU, torch::kFloat64)) / 2;
  auto per = (d.pow(2) * hidden).sum({1, 2, 3}) / count;
  std::vector<double> out(static_cast<size_t>(a.size(0)));
  auto acc = per.sqrt().contiguous();
  for (int64_t i = 0; i < a.size(0); ++i) out[static_cast<size_t>(i)] = acc[i].item<double>();
  return out;
}

std::vector<double> ranking_losses(model::Denoiser& denoiser, const diffusion::NoiseSchedule& schedule,
                                   const torch::Tensor& images, const torch::Tensor& noise,
                                   int64_t t, int64_t batch) {
  check(images.dim() == 4 && noise.dim() == 4 && noise.size(0) >= 1 &&
            images.sizes().slice(1).equals(noise.sizes().slice(1)),
        "ranking_losses", "images [N,C,H,W] and noise [D,C,H,W] of one image shape",
        io::shape_str(images) + " and " + io::shape_str(noise));
  check(batch >= 1, "ranking_losses: batch", "an integer >= 1", std::to_string(batch));
  torch::NoGradGuard no_grad;
  const int64_t n = images.size(0), draws = noise.size(0), total = n * draws;
  const auto device = denoiser.device();
  auto x = images.to(device, torch::kFloat32);
  auto z = noise.to(device, torch::kFloat32);
  std::vector<double> sum(static_cast<size_t>(n), 0.0);
  for (int64_t lo = 0; lo < total; lo += batch) {
    const int64_t hi = std::min(total, lo + batch);
    auto k = torch::arange(lo, hi, torch::TensorOptions().dtype(torch::kLong).device(device));
    auto img = torch::div(k, draws, "floor");
    auto draw = k - img * draws;
    auto tt = torch::full({hi - lo}, t, torch::TensorOptions().dtype(torch::kLong).device(device));
    auto out = diffusion::noise_prediction_loss(denoiser, schedule, x.index_select(0, img), tt,
                                                z.index_select(0, draw));
    auto per = out.per_example.to(torch::kCPU, torch::kFloat64).contiguous();
    for (int64_t j = lo; j < hi; ++j)
      sum[static_cast<size_t>(j / draws)] += per[j - lo].item<double>();
  }
  for (auto& s : sum) s /= static_cast<double>(draws);
  return sum;
}

std::vector<int64_t> rank_candidates(const std::vector<double>& losses, int64_t keep) {
  check(keep >= 1 && keep <= static_cast<int64_t>(losses.size()), "rank_candidates",
        "keep in [1, " + std::to_string(losses.size()) + "]", std::to_string(keep));
  std::vector<int64_t> idx(losses.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    return losses[static_cast<size_t>(a)] < losses[static_cast<size_t>(b)];
  });
  idx.resize(static_cast<size_t>(keep));
  return idx;
}

std::vector<InpaintTargetResult> attack_targets(model::Denoiser& denoiser,
                                                const diffusion::NoiseSchedule& schedule,
                                                const torch::Tensor& x0,
                                                const std::vector<InpaintTarget>& targets,
                                                const InpaintMask& mask,
                                                const InpaintAttackOptions& o,
                                                const ProgressFn& progress) {
  validate(o, schedule.num_train_timesteps(), "inpaint attack options");
  check(x0.dim() == 4 && x0.size(0) == static_cast<int64_t>(targets.size()), "attack_targets",
        std::to_string(targets.size()) + " target images [T,C,H,W]", io::shape_str(x0));
  const int64_t C = x0.size(1), H = x0.size(2), W = x0.size(3), K = o.candidates;
  auto images = x0.to(torch::kCPU, torch::kFloat32);
  std::vector<uint64_t> seeds;
  for (auto& t : targets) {
    auto s = candidate_seeds(o.seed, t.id, K);
    seeds.insert(seeds.end(), s.begin(), s.end());
  }
  auto completed = diffusion::inpaint(denoiser, schedule, images.repeat_interleave(K, 0),
                                      mask.known, seeds, o.inpaint, progress);

  std::vector<InpaintTargetResult> results;
  for (size_t i = 0; i < targets.size(); ++i) {
    const int64_t lo = static_cast<int64_t>(i) * K;
    auto mine = completed.slice(0, lo, lo + K);
    InpaintTargetResult r;
    r.target = targets[i];
    r.losses = ranking_losses(denoiser, schedule, mine,
                              ranking_noise(o.seed, r.target.id, o.rank_draws, C, H, W),
                              o.rank_t, o.inpaint.batch);
    r.distances = masked_l2(mine, images[static_cast<int64_t>(i)], mask.known);
    r.kept = rank_candidates(r.losses, o.keep);
    r.rank1_loss = r.losses[static_cast<size_t>(r.kept[0])];
    r.rank1_distance = r.distances[static_cast<size_t>(r.kept[0])];
    r.best_distance = r.rank1_distance;
    for (int64_t k : r.kept) r.best_distance = std::min(r.best_distance, r.distances[static_cast<size_t>(k)]);
    r.oracle_distance = *std::min_element(r.distances.begin(), r.distances.end());
    r.kept_images = mine.index_select(0, torch::tensor(r.kept, torch::kLong)).contiguous();
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace diffmem::attack
