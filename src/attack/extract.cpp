#include "diffmem/attack/extract.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <set>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/clock.h"
#include "diffmem/core/content_hash.h"
#include "diffmem/core/error.h"
#include "diffmem/core/memory.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"
#include "extract_internal.h"

namespace diffmem::attack {
namespace fs = std::filesystem;
using detail::closer;
using detail::IdBest;

void validate(const ExtractOptions& o) {
  metrics::validate(o.bootstrap);
  check(std::isfinite(o.delta) && o.delta >= 0, "--delta", "a finite distance >= 0",
        std::to_string(o.delta));
  if (o.calibrated_threshold) {
    check(std::isfinite(*o.calibrated_threshold) && *o.calibrated_threshold >= 0,
          "--calibrated-threshold", "a finite value >= 0", std::to_string(*o.calibrated_threshold));
    check(o.n_calibration >= 1, "--n-calibration", "at least 1 with --calibrated-threshold",
          std::to_string(o.n_calibration));
  }
  check(std::isfinite(o.alpha) && o.alpha > 0, "--alpha", "a finite value > 0", std::to_string(o.alpha));
  check(o.n_calibration >= 0, "--n-calibration", "0 (off) or more", std::to_string(o.n_calibration));
  check(o.tiles >= 1, "--tiles", "at least 1 tile per side", std::to_string(o.tiles));
  check(o.top_pairs_png >= 0, "--top-pairs", "0 or more", std::to_string(o.top_pairs_png));
  check(o.pairs_per_row >= 1, "ExtractOptions.pairs_per_row", "at least 1", std::to_string(o.pairs_per_row));
  check(o.histogram_bins >= 1, "ExtractOptions.histogram_bins", "at least 1",
        std::to_string(o.histogram_bins));
}

namespace detail {

std::vector<int64_t> read_seeds(const data::ShardFiles& s, int64_t n) {
  const io::HostArray a = io::read_npy(s.seeds);
  check(a.dtype == io::DType::kI64 && a.shape.size() == 1 && a.shape[0] == n, s.seeds.string(),
        "int64 [" + std::to_string(n) + "] seeds", io::dtype_name(a.dtype) + " " + io::shape_str(a.shape));
  return std::vector<int64_t>(a.data<int64_t>(), a.data<int64_t>() + n);
}

std::vector<Match> load_cached(const fs::path& file, const std::vector<int64_t>& seeds) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return {};
  std::vector<Match> rows;
  try {
    rows = read_matches_csv(file);
  } catch (const Error&) {
    return {};
  }
  if (rows.size() != seeds.size()) return {};
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].index != static_cast<int64_t>(i) || rows[i].seed != seeds[i]) return {};
  return rows;
}

}  // namespace detail

namespace {
using detail::load_cached;
using detail::read_seeds;
using detail::ShardPlan;

// Every complete shard with its size, checked against the training images' shape before any work.
std::vector<ShardPlan> plan_shards(const fs::path& dir, const std::vector<int64_t>& image_shape,
                                   const fs::path& train) {
  std::vector<ShardPlan> plan;
  int64_t offset = 0;
  for (const data::ShardFiles& s : data::list_shards(dir)) {
    const io::NpyHeader h = io::read_npy_header(s.images);
    check(h.dtype == io::DType::kU8 && h.shape.size() == 4, s.images.string(),
          "uint8 [n,H,W,C] images", io::dtype_name(h.dtype) + " " + io::shape_str(h.shape));
    const std::vector<int64_t> per(h.shape.begin() + 1, h.shape.end());
    check(per == image_shape, s.images.string(),
          "images of shape " + io::shape_str(image_shape) + " like the training set " + train.string(),
          io::shape_str(per));
    plan.push_back({s, h.shape[0], offset});
    offset += h.shape[0];
  }
  if (plan.empty()) fail(dir.string(), "at least one images-NNNNN.npy shard", "none");
  return plan;
}

// The cache is valid only for the same training data and the options that shape the numbers;
// δ and the calibrated threshold are applied afterwards, so changing them reuses everything.
// (A rank holding part of the training set hashes the file a few thousand rows at a time: the
// same hash.)
io::Json cache_key(const detail::TrainSet& train, const ExtractOptions& o, int64_t n_calibration) {
  uint64_t h = core::kFnv1aOffset;
  if (train.whole()) {
    h = core::fnv1a(train.images.bytes.data(), train.images.bytes.size());
  } else {
    constexpr int64_t kRows = 4096;
    for (int64_t r = 0; r < train.size(); r += kRows) {
      const io::HostArray a = io::read_npy_rows(train.images_npy, r, std::min(kRows, train.size() - r));
      h = core::fnv1a(a.bytes.data(), a.bytes.size(), h);
    }
  }
  h = core::fnv1a(train.ids.data(), train.ids.size() * sizeof(int64_t), h);
  return io::Json{{"version", 1},
                  {"train_shape", train.shape},
                  {"train_fnv1a", std::to_string(h)},
                  {"alpha", o.alpha},
                  {"n_calibration", n_calibration},
                  {"tiles", o.tiles}};
}

// Prepares out/shards for reuse: a different key (or reuse off) drops every cached shard.
bool open_cache(const fs::path& out, const io::Json& key, bool reuse) {
  const fs::path dir = out / "shards";
  const fs::path key_file = dir / "key.json";
  std::error_code ec;
  if (reuse && fs::exists(key_file, ec)) {
    try {
      if (io::read_json(key_file) == key) return true;
    } catch (const Error&) {
    }
  }
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".csv") fs::remove(e.path(), ec);
  io::write_json(key_file, key);
  return false;
}

}  // namespace

namespace {

// One shard's matches computed against the index, with its seeds, and written to its cache file.
std::vector<Match> compute_shard(const ShardPlan& p, const std::vector<int64_t>& seeds,
                                 const detail::ExtractInputs& in, const search::KnnIndex& index,
                                 const fs::path& cache) {
  const detail::TrainSet& train = *in.train;
  const data::Generations g = data::load_shard(p.files);
  check(static_cast<int64_t>(g.seeds.size()) == p.n, p.files.images.string(), std::to_string(p.n) + " images",
        std::to_string(g.seeds.size()));
  std::vector<Match> rows = detail::match_images(index, io::to_tensor(g.images), train.image_shape(), train.ids,
                                                 *in.options, in.n_cal);
  for (size_t i = 0; i < rows.size(); ++i) rows[i].seed = seeds[i];
  detail::write_shard_cache(cache, rows);
  return rows;
}

// The pass over the shards: each shard's matches (from the cache or computed now) into
// matches.csv, and what the aggregate outputs need from them.
// `by_ranks`: shards the ranks of an MPI job computed just before (cached now, counted as computed).
// `index`: null where this rank holds only part of the training set (every shard is cached then).
detail::Scan scan_shards(const std::vector<ShardPlan>& plan, const detail::ExtractInputs& in,
                         const search::KnnIndex* index, bool cache_ok, const std::set<int64_t>& by_ranks,
                         ExtractResult& result, ProgressMeter& meter) {
  const ExtractOptions& options = *in.options;
  const bool calibrated_rule = options.calibrated_threshold.has_value();
  detail::Scan scan;
  core::AtomicFile matches(in.out / "matches.csv");
  matches.write(detail::matches_header() + "\n");
  for (const ShardPlan& p : plan) {
    scan.shard_files[p.files.index] = p.files;
    const std::vector<int64_t> seeds = read_seeds(p.files, p.n);
    const fs::path cache = detail::shard_cache_file(in.out, p.files.index);
    std::vector<Match> rows = cache_ok ? load_cached(cache, seeds) : std::vector<Match>{};
    if (by_ranks.count(p.files.index) && !rows.empty()) {
      ++result.shards_computed;
      scan.computed += p.n;
    } else if (!rows.empty() || p.n == 0) {
      ++result.shards_reused;
    } else {
      check(index != nullptr, cache.string(), "the shard's matches, written by the ranks just before",
            "none (removed during the run?)");
      const double ts = core::now_s();
      rows = compute_shard(p, seeds, in, *index, cache);
      result.search_seconds += core::now_s() - ts;
      ++result.shards_computed;
      scan.computed += p.n;
    }
    std::string text;
    for (Match& m : rows) {
      m.shard = p.files.index;
      m.generation = p.offset + m.index;
      const bool in_delta = m.l2 <= options.delta;
      const bool in_cal = calibrated_rule && m.calibrated_l2 <= *options.calibrated_threshold;
      scan.within_delta += in_delta;
      scan.within_cal += in_cal;
      m.extracted = calibrated_rule ? in_cal : in_delta;
      result.extracted_generations += m.extracted;
      scan.l2s.push_back(m.l2);
      scan.cals.push_back(m.calibrated_l2);
      scan.extracted_id.push_back(m.extracted ? m.nearest_id : -1);
      text += detail::match_line(m) + "\n";
      if (m.nearest_id >= 0) {
        auto [it, fresh] = scan.by_id.try_emplace(m.nearest_id, IdBest{m, 0});
        if (!fresh && closer(m, it->second.best)) it->second.best = m;
        it->second.hits += m.extracted;
      }
      if (!options.pairs_distinct && options.top_pairs_png > 0) {
        scan.closest.push_back(m);
        std::push_heap(scan.closest.begin(), scan.closest.end(), closer);
        if (static_cast<int64_t>(scan.closest.size()) > options.top_pairs_png) {
          std::pop_heap(scan.closest.begin(), scan.closest.end(), closer);
          scan.closest.pop_back();
        }
      }
    }
    matches.write(text);
    meter.update(p.offset + p.n, std::to_string(result.shards_reused) + " shards reused");
  }
  matches.commit();
  return scan;
}

// An MPI job's ranks: each computes the uncached shards it owns (plan position % size == rank) into
// the shard cache; returns the shard indices computed, by every rank, and adds the search time.
std::set<int64_t> search_by_ranks(const std::vector<ShardPlan>& plan, const detail::ExtractInputs& in,
                                  const search::KnnIndex& index, const dist::Communicator& comm,
                                  ExtractResult& result, const ProgressFn& progress) {
  std::string mine;
  double seconds = 0;
  dist::collectively(comm, [&] {
    int64_t own = 0;
    for (size_t i = 0; i < plan.size(); ++i)
      if (dist::owns(static_cast<int64_t>(i), comm.rank(), comm.size())) own += plan[i].n;
    ProgressMeter meter(progress, "extract", own, "generations");
    int64_t done = 0;
    for (size_t i = 0; i < plan.size(); ++i) {
      const ShardPlan& p = plan[i];
      if (!dist::owns(static_cast<int64_t>(i), comm.rank(), comm.size())) continue;
      const std::vector<int64_t> seeds = read_seeds(p.files, p.n);
      const fs::path cache = detail::shard_cache_file(in.out, p.files.index);
      if (p.n > 0 && load_cached(cache, seeds).empty()) {
        const double ts = core::now_s();
        compute_shard(p, seeds, in, index, cache);
        seconds += core::now_s() - ts;
        mine += std::to_string(p.files.index) + " ";
      }
      meter.update(done += p.n);
    }
    meter.finish();
  });
  result.search_seconds += dist::sum(comm, seconds);
  std::set<int64_t> computed;
  for (const std::string& list : comm.all_gather(mine)) {
    size_t at = 0;
    while (at < list.size()) {
      const size_t end = list.find(' ', at);
      computed.insert(std::stoll(list.substr(at, end - at)));
      at = end + 1;
    }
  }
  return computed;
}

}  // namespace

ExtractResult run_extract(const fs::path& generations, const fs::path& train_dir, const fs::path& out,
                          const ExtractOptions& options, const io::Json& extra,
                          const ProgressFn& progress, const dist::Communicator& comm) {
  // Plan: every input checked before the index is built (on every rank: one that cannot read the
  // data stops them all, named).
  detail::ExtractInputs in;
  detail::TrainSet train;
  std::vector<ShardPlan> plan;
  std::unique_ptr<search::KnnIndex> index;
  const bool split = options.split_train && comm.size() > 1;
  dist::collectively(comm, [&] {
    validate(options);
    in.t0 = core::now_s();
    in.peak_since_start = core::reset_peak_rss();
    if (!fs::is_directory(generations))
      fail(generations.string(), "a folder of generations (diffmem sample --out)", "no such folder");
    train = split ? detail::load_train_part(train_dir, comm.rank(), comm.size()) : detail::load_train_whole(train_dir);
    check(train.size() >= 1, (train_dir / "images.npy").string(), "at least one training image", "0");
    const std::vector<int64_t> image_shape(train.shape.begin() + 1, train.shape.end());
    plan = plan_shards(generations, image_shape, train_dir);
    in.generations = generations;
    in.train_dir = train_dir;
    in.out = out;
    in.options = &options;
    in.train = &train;
    in.train_parts = split ? comm.size() : 1;
    in.extra = extra;
    in.t_load = core::now_s();

    // Compute: the index (of this rank's rows with --split-train), then one pass over the shards.
    in.n_cal = std::min<int64_t>(options.n_calibration, train.size());
    in.knn = options.knn;
    in.knn.k = std::max<int64_t>(in.n_cal, 1);
    search::KnnOptions part_knn = in.knn;
    part_knn.k = std::min<int64_t>(in.knn.k, train.images.shape[0]);
    const torch::Device device(options.device);
    in.device = device.str();
    index = std::make_unique<search::KnnIndex>(io::to_tensor(train.images).to(device), part_knn);
    in.arithmetic = index->arithmetic();
    in.t_index = core::now_s();
  });
  bool cache_ok = false;
  dist::collectively(comm, [&] {
    if (comm.rank() == 0) cache_ok = open_cache(out, cache_key(train, options, in.n_cal), options.reuse);
  });
  ExtractResult result;
  result.shards = static_cast<int64_t>(plan.size());
  result.k = in.knn.k;
  for (const ShardPlan& p : plan) result.generations += p.n;
  std::set<int64_t> by_ranks;
  if (comm.size() > 1) {
    // Rank 0 has dropped a stale cache above; the ranks fill it, then rank 0 merges as one process.
    by_ranks = split ? detail::search_split_train(plan, in, *index, comm, result, progress)
                     : search_by_ranks(plan, in, *index, comm, result, progress);
    cache_ok = true;
  }
  dist::collectively(comm, [&] {
    if (comm.rank() != 0) return;
    ProgressMeter meter(progress, "extract", result.generations, "generations");
    const detail::Scan scan = scan_shards(plan, in, split ? nullptr : index.get(), cache_ok, by_ranks, result, meter);
    // Write: extracted.csv, pairs.png, summary.json, options.json.
    detail::write_extract_outputs(in, scan, result);
    meter.finish(std::to_string(result.unique_extracted) + " training images extracted");
  });
  return result;
}

}  // namespace diffmem::attack
