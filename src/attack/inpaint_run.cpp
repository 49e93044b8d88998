#include "diffmem/attack/inpaint_run.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>

#include "diffmem/attack/mia_attack.h"
#include "diffmem/core/atomic_file.h"
#include "diffmem/core/content_hash.h"
#include "diffmem/core/error.h"
#include "diffmem/core/format.h"
#include "diffmem/core/log.h"
#include "diffmem/core/memory.h"
#include "diffmem/core/rng.h"
#include "diffmem/data/dataset.h"
#include "diffmem/diffusion/inpaint.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMemberStream = 1, kNonmemberStream = 2;

// A finished target: its numbers and its kept completions as u8 [K,H,W,C].
struct Done {
  InpaintTargetResult r;
  io::HostArray kept_u8;
};

fs::path cache_stem(const fs::path& out, int64_t row) {
  char name[40];
  std::snprintf(name, sizeof name, "row-%07lld", static_cast<long long>(row));
  return out / "targets" / name;
}

// FNV-1a of the mask, so a mask file edited between runs invalidates the cache.
uint64_t mask_hash(const InpaintMask& m) {
  const torch::Tensor bits = (m.known > 0.5f).to(torch::kUInt8).contiguous();
  return core::fnv1a(bits.data_ptr(), static_cast<size_t>(bits.numel()));
}

// The data set by content, so a moved run (with its data) keeps its cache.
std::string data_hash(const data::Dataset& ds) {
  uint64_t h = core::fnv1a(ds.images.bytes.data(), ds.images.bytes.size());
  return core::hex64(core::fnv1a(ds.ids.data(), ds.ids.size() * sizeof(int64_t), h));
}

void save_done(const fs::path& out, const io::Json& key, const Done& d) {
  const fs::path stem = cache_stem(out, d.r.target.row);
  io::write_npy(stem.string() + ".npy", d.kept_u8);
  const auto& r = d.r;
  io::Json j = {{"key", key},
                {"row", r.target.row},
                {"id", r.target.id},
                {"member", r.target.member},
                {"losses", r.losses},
                {"distances", r.distances},
                {"kept", r.kept},
                {"best_distance", r.best_distance},
                {"rank1_distance", r.rank1_distance},
                {"rank1_loss", r.rank1_loss},
                {"oracle_distance", r.oracle_distance}};
  io::write_json(stem.string() + ".json", j);  // last: its presence marks the target finished
}

// The cached result of `t`, or false when there is none for these options (or it is unreadable:
// the target is simply attacked again).
bool load_done(const fs::path& out, const io::Json& key, const InpaintTarget& t,
               const std::vector<int64_t>& kept_shape, Done& d) {
  const fs::path stem = cache_stem(out, t.row);
  const fs::path js = stem.string() + ".json", npy = stem.string() + ".npy";
  if (!fs::is_regular_file(js) || !fs::is_regular_file(npy)) return false;
  try {
    io::Json j = io::read_json(js);
    if (j.at("key") != key || j.at("id").get<int64_t>() != t.id ||
        j.at("member").get<bool>() != t.member)
      return false;
    d.r.target = t;
    d.r.losses = j.at("losses").get<std::vector<double>>();
    d.r.distances = j.at("distances").get<std::vector<double>>();
    d.r.kept = j.at("kept").get<std::vector<int64_t>>();
    d.r.best_distance = j.at("best_distance").get<double>();
    d.r.rank1_distance = j.at("rank1_distance").get<double>();
    d.r.rank1_loss = j.at("rank1_loss").get<double>();
    d.r.oracle_distance = j.at("oracle_distance").get<double>();
    d.kept_u8 = io::read_npy(npy);
    return d.kept_u8.dtype == io::DType::kU8 && d.kept_u8.shape == kept_shape &&
           static_cast<int64_t>(d.r.kept.size()) == kept_shape[0];
  } catch (const std::exception& e) {
    log::warn(js.string() + ": unreadable cached result, attacking the target again (" + e.what() +
              ")");
    return false;
  }
}

io::HostArray upscale(const io::HostArray& img, int64_t s) {
  if (s <= 1) return img;
  auto t = io::to_tensor(img);
  return io::from_tensor(t.repeat_interleave(s, 0).repeat_interleave(s, 1).contiguous());
}

// Tiles of one strip: original, masked, kept completions — u8 [2+K,H,W,C].
torch::Tensor strip_tiles(const data::Dataset& ds, const Done& d, const InpaintMask& mask) {
  const int64_t H = ds.height(), W = ds.width(), C = ds.channels();
  auto orig = torch::from_blob(const_cast<uint8_t*>(ds.image(d.r.target.row)), {1, H, W, C},
                               torch::kUInt8)
                  .clone();
  auto hidden = (mask.known.reshape({1, H, W, 1}) < 0.5).expand({1, H, W, C});
  auto masked = orig.masked_fill(hidden, 128);
  return torch::cat({orig, masked, io::to_tensor(d.kept_u8)}, 0);
}

void write_strips(const fs::path& out, const data::Dataset& ds, const std::vector<Done>& done,
                  const InpaintMask& mask, int64_t show, int64_t scale) {
  // A previous run's strips may show other targets (another --n-targets or --show): drop them.
  std::error_code ec;
  if (fs::is_directory(out / "strips", ec))
    for (auto& e : fs::directory_iterator(out / "strips")) {
      const std::string name = e.path().filename().string();
      if (e.path().extension() == ".png" &&
          (name.rfind("member-", 0) == 0 || name.rfind("nonmember-", 0) == 0))
        fs::remove(e.path(), ec);
    }
  std::vector<torch::Tensor> all;
  int64_t cols = 0;
  for (bool member : {true, false}) {
    int64_t shown = 0;
    for (auto& d : done) {
      if (d.r.target.member != member || shown >= show) continue;
      auto tiles = strip_tiles(ds, d, mask);
      cols = tiles.size(0);
      char name[80];
      std::snprintf(name, sizeof name, "%s-%02lld-row%07lld.png", member ? "member" : "nonmember",
                    static_cast<long long>(shown), static_cast<long long>(d.r.target.row));
      auto grid = io::make_grid(io::from_tensor(tiles), static_cast<int>(cols));
      io::write_png(out / "strips" / name, upscale(grid, scale));
      all.push_back(tiles);
      ++shown;
    }
  }
  if (all.empty()) return;
  auto grid = io::make_grid(io::from_tensor(torch::cat(all, 0)), static_cast<int>(cols));
  io::write_png(out / "strips.png", upscale(grid, scale));
}

void write_csv(const fs::path& path, const std::vector<Done>& done) {
  std::string s =
      "target,row,id,member,best_distance,rank1_distance,rank1_loss,oracle_distance,"
      "mean_kept_distance\n";
  for (size_t i = 0; i < done.size(); ++i) {
    const auto& r = done[i].r;
    double mean_kept = 0;
    for (int64_t k : r.kept) mean_kept += r.distances[static_cast<size_t>(k)];
    mean_kept /= static_cast<double>(r.kept.size());
    s += std::to_string(i) + "," + std::to_string(r.target.row) + "," + std::to_string(r.target.id) +
         "," + (r.target.member ? "1" : "0") + "," + core::exact_number(r.best_distance) + "," +
         core::exact_number(r.rank1_distance) + "," + core::exact_number(r.rank1_loss) + "," + core::exact_number(r.oracle_distance) + "," +
         core::exact_number(mean_kept) + "\n";
  }
  core::write_file_atomic(path, s);
}

double mean_of(const std::vector<Done>& done, bool member, double InpaintTargetResult::*field) {
  double sum = 0;
  int64_t n = 0;
  for (auto& d : done)
    if (d.r.target.member == member) sum += d.r.*field, ++n;
  return n > 0 ? sum / static_cast<double>(n) : 0.0;
}

}  // namespace

std::vector<InpaintTarget> pick_targets(const std::vector<bool>& members,
                                        const std::vector<int64_t>& ids, int64_t n_targets,
                                        uint64_t seed) {
  check(members.size() == ids.size(), "pick_targets", std::to_string(ids.size()) + " member flags",
        std::to_string(members.size()));
  check(n_targets >= 2, "--n-targets", "an integer >= 2", std::to_string(n_targets));
  // One row per distinct id: planted copies of an image are one target, not several.
  std::map<int64_t, int64_t> first_row;
  for (size_t i = 0; i < ids.size(); ++i) first_row.emplace(ids[i], static_cast<int64_t>(i));
  std::vector<int64_t> groups[2];
  for (size_t i = 0; i < ids.size(); ++i)
    if (first_row.at(ids[i]) == static_cast<int64_t>(i)) groups[members[i] ? 1 : 0].push_back(static_cast<int64_t>(i));
  std::vector<InpaintTarget> out;
  for (int g : {1, 0}) {
    const auto& rows = groups[g];
    const int64_t want = n_targets / 2;
    const int64_t k = std::min<int64_t>(want, static_cast<int64_t>(rows.size()));
    if (k < want)
      log::warn("inpaint: only " + std::to_string(rows.size()) + (g ? " members" : " non-members") +
                " to draw " + std::to_string(want) + " targets from; using all");
    for (int64_t j : core::sample_without_replacement(static_cast<int64_t>(rows.size()), k,
                                                      core::derive_seed(seed, g ? kMemberStream : kNonmemberStream)))
      out.push_back({rows[static_cast<size_t>(j)], ids[static_cast<size_t>(rows[static_cast<size_t>(j)])], g == 1});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.row < b.row; });
  return out;
}

namespace {

// The outputs of a run from every target's result: inpaint.csv, roc.csv, roc_band.csv, the strips
// and summary.json; fills the result's summary, means and seconds.
void write_inpaint_outputs(const InpaintRunOptions& o, const data::Dataset& ds, const InpaintMask& mask,
                           const model::Denoiser& denoiser, const diffusion::NoiseSchedule& schedule,
                           const std::vector<Done>& done, const core::PeakMemory& memory,
                           std::chrono::steady_clock::time_point t0, InpaintRunResult& result) {
  std::vector<double> scores;
  std::vector<bool> is_member;
  for (auto& d : done) {
    scores.push_back(-d.r.best_distance);
    is_member.push_back(d.r.target.member);
  }
  auto curve = metrics::roc_curve(scores, is_member);
  result.summary = metrics::summarize(scores, is_member, {}, o.bootstrap);
  if (result.summary.ci) metrics::write_roc_band_csv((o.out / "roc_band.csv").string(), *result.summary.ci);
  result.mean_distance_members = mean_of(done, true, &InpaintTargetResult::best_distance);
  result.mean_distance_nonmembers = mean_of(done, false, &InpaintTargetResult::best_distance);
  write_csv(o.out / "inpaint.csv", done);
  metrics::write_roc_csv(o.out / "roc.csv", metrics::compact(curve));
  write_strips(o.out, ds, done, mask, o.show, o.strip_scale);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  io::Json j;
  metrics::to_json(j, result.summary);
  j["attack"] = "inpaint";
  j["score"] = "-best_distance (normalized l2 on [0,1] pixels over the hidden region)";
  j["mean_distance_members"] = result.mean_distance_members;
  j["mean_distance_nonmembers"] = result.mean_distance_nonmembers;
  j["mean_rank1_distance_members"] = mean_of(done, true, &InpaintTargetResult::rank1_distance);
  j["mean_rank1_distance_nonmembers"] = mean_of(done, false, &InpaintTargetResult::rank1_distance);
  j["mean_oracle_distance_members"] = mean_of(done, true, &InpaintTargetResult::oracle_distance);
  j["mean_oracle_distance_nonmembers"] = mean_of(done, false, &InpaintTargetResult::oracle_distance);
  j["mask"] = {{"spec", mask.spec}, {"hidden_pixels", mask.hidden_pixels},
               {"known_pixels", mask.known_pixels}};
  j["ground_truth"] = result.ground_truth;
  j["model"] = denoiser.describe();
  j["targets"] = result.computed + result.cached;
  j["options"] = io::fields_json(o);
  // Cost: per target, every candidate's inpainting forwards plus its ranking draws.
  const int64_t per_target =
      o.attack.candidates * (diffusion::inpaint_forwards(schedule, o.attack.inpaint) + o.attack.rank_draws);
  j["timing"] = {{"targets_computed", result.computed},
                 {"targets_cached", result.cached},
                 {"seconds", result.seconds},
                 {"model_evaluations", (result.computed + result.cached) * per_target},
                 {"model_evaluations_computed", result.computed * per_target},
                 {"peak_rss_bytes", memory.peak()},
                 {"peak_rss_since", memory.since_stage_start() ? "attack start" : "process start"}};
  io::write_json(o.out / "summary.json", j);
}

}  // namespace

InpaintRunResult run_inpaint(const InpaintRunOptions& o, const ProgressFn& progress, const dist::Communicator& comm) {
  const auto t0 = std::chrono::steady_clock::now();
  const core::PeakMemory memory;
  InpaintRunResult result;
  data::Dataset ds;
  std::unique_ptr<model::Denoiser> denoiser;
  diffusion::SchedulerConfig scheduler;
  diffusion::NoiseSchedule schedule;
  InpaintMask mask;
  std::vector<InpaintTarget> targets;
  io::Json key;
  std::vector<int64_t> kept_shape;
  std::vector<Done> done;
  std::vector<size_t> todo;
  // Plan, on every rank (one that cannot read the data or the model stops them all, named); every
  // rank reads the cache before any rank writes to it (collectively() ends in a collective).
  dist::collectively(comm, [&] {
    check(!o.out.empty(), "--out", "an output folder", "none");
    check(o.show >= 0, "--show", "an integer >= 0", std::to_string(o.show));
    metrics::validate(o.bootstrap);
    check(o.strip_scale >= 1 && o.strip_scale <= 16, "strip_scale", "an integer in [1, 16]",
          std::to_string(o.strip_scale));
    ds = data::load_dataset(o.data);
    const int64_t H = ds.height(), W = ds.width(), C = ds.channels();

    const bool is_file = fs::is_regular_file(o.model);
    const fs::path model_dir = is_file ? o.model.parent_path() : o.model;
    std::vector<bool> members;
    if (auto m = data::load_members(model_dir, ds.size())) {
      members = *m;
      result.ground_truth = (model_dir / "members.npy").string();
    } else if (ds.members) {
      members = *ds.members;
      result.ground_truth = (o.data / "members.npy").string();
    } else {
      fail((model_dir / "members.npy").string(),
           "the model's member mask (or one in the dataset " + o.data.string() + ")", "no such file");
    }

    denoiser = model::load_denoiser(o.model, o.load);
    model::require_unconditional(*denoiser, "inpaint");
    check(denoiser->in_channels() == C && denoiser->sample_size() == H && denoiser->sample_width() == W,
          o.model.string(),
          "a model for the data's " + std::to_string(H) + "x" + std::to_string(W) + "x" +
              std::to_string(C) + " images",
          denoiser->describe() + " with " + std::to_string(denoiser->in_channels()) + " channels, size " +
              std::to_string(denoiser->sample_size()) + "x" + std::to_string(denoiser->sample_width()));
    scheduler = diffusion::model_scheduler_config(o.model);
    schedule = diffusion::NoiseSchedule(scheduler);
    validate(o.attack, schedule.num_train_timesteps(), "inpaint options");

    mask = make_mask(o.attack.mask, H, W);
    if (comm.rank() == 0)
      io::write_png(o.out / "mask.png",
                    io::from_tensor(((1 - mask.known[0][0]) * 255).to(torch::kUInt8).unsqueeze(2)));

    targets = pick_targets(members, ds.ids, o.attack.n_targets, o.attack.seed);
    for (auto& t : targets) (t.member ? result.members : result.nonmembers) += 1;
    check(result.members > 0 && result.nonmembers > 0, result.ground_truth,
          "a member mask with members and non-members to attack",
          std::to_string(result.members) + " members and " + std::to_string(result.nonmembers) +
              " non-members");

    key = result_key(o.attack);
    key["model"] = model_identity(o.model, o.load.format);
    key["data"] = data_hash(ds);
    key["scheduler"] = diffusion::to_json(scheduler);
    key["mask_hash"] = std::to_string(mask_hash(mask));
    kept_shape = {o.attack.keep, H, W, C};

    done.assign(targets.size(), Done{});
    for (size_t i = 0; i < targets.size(); ++i) {
      if (load_done(o.out, key, targets[i], kept_shape, done[i])) ++result.cached;
      else todo.push_back(i);
    }
    if (result.cached > 0 && comm.rank() == 0)
      log::info("inpaint: " + std::to_string(result.cached) + " of " + std::to_string(targets.size()) +
                " targets already done in " + o.out.string());
  });

  // Attack: enough targets per round to fill a batch with their candidates; with several ranks,
  // round c on rank c mod ranks (a target's result does not depend on its batch).
  const int64_t H = ds.height(), W = ds.width(), C = ds.channels();
  const size_t group = static_cast<size_t>(
      std::max<int64_t>(1, o.attack.inpaint.batch / o.attack.candidates));
  std::vector<bool> mine(targets.size(), false);
  dist::collectively(comm, [&] {
    ProgressMeter meter(progress, "inpaint", static_cast<int64_t>(targets.size()), "targets",
                        result.cached);
    for (size_t g = 0; g < todo.size(); g += group) {
      if (!dist::owns(static_cast<int64_t>(g / group), comm.rank(), comm.size())) continue;
      const size_t end = std::min(todo.size(), g + group);
      std::vector<InpaintTarget> batch;
      std::vector<torch::Tensor> imgs;
      for (size_t k = g; k < end; ++k) {
        const auto& t = targets[todo[k]];
        batch.push_back(t);
        imgs.push_back(torch::from_blob(const_cast<uint8_t*>(ds.image(t.row)), {1, H, W, C},
                                        torch::kUInt8)
                           .clone());
      }
      auto x0 = diffusion::from_uint8_nhwc(torch::cat(imgs, 0));
      auto results = attack_targets(*denoiser, schedule, x0, batch, mask, o.attack);
      for (size_t k = 0; k < results.size(); ++k) {
        Done& d = done[todo[g + k]];
        d.r = std::move(results[k]);
        d.kept_u8 = io::from_tensor(diffusion::to_uint8_nhwc(d.r.kept_images));
        save_done(o.out, key, d);
        mine[todo[g + k]] = true;
        ++result.computed;
      }
      meter.update(result.cached + result.computed,
                   "candidates " + std::to_string(o.attack.candidates) + " per target");
    }
    meter.finish();
  });
  result.computed = dist::sum(comm, result.computed);

  // Rank 0 reads what the other ranks attacked from their cache files and writes every output.
  dist::collectively(comm, [&] {
    if (comm.rank() != 0) return;
    for (size_t i : todo)
      if (!mine[i] && !load_done(o.out, key, targets[i], kept_shape, done[i]))
        fail(cache_stem(o.out, targets[i].row).string() + ".json", "the target's result, written by a rank just before",
             "none (removed during the run?)");
    write_inpaint_outputs(o, ds, mask, *denoiser, schedule, done, memory, t0, result);
  });
  return result;
}


}  // namespace diffmem::attack
