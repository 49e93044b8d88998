#include "diffmem/attack/extract.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/data/subset.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/metrics/histogram.h"
#include "extract_internal.h"

namespace diffmem::attack {
namespace fs = std::filesystem;
using detail::IdBest;

void to_json(io::Json& j, const ExtractOptions& o) {
  j = io::Json{{"delta", o.delta},
               {"calibrated_threshold", o.calibrated_threshold ? io::Json(*o.calibrated_threshold)
                                                               : io::Json(nullptr)},
               {"alpha", o.alpha},
               {"n_calibration", o.n_calibration},
               {"tiles", o.tiles},
               {"knn", o.knn},
               {"top_pairs_png", o.top_pairs_png},
               {"pairs_distinct", o.pairs_distinct},
               {"pairs_per_row", o.pairs_per_row},
               {"histogram_bins", o.histogram_bins},
               {"device", o.device},
               {"distance", "normalized l2 = sqrt(mean((a-b)^2)) on pixels in [0,1]"}};
}

void from_json(const io::Json& j, ExtractOptions& o) {
  o.delta = j.value("delta", o.delta);
  if (j.contains("calibrated_threshold") && !j["calibrated_threshold"].is_null())
    o.calibrated_threshold = j["calibrated_threshold"].get<double>();
  o.alpha = j.value("alpha", o.alpha);
  o.n_calibration = j.value("n_calibration", o.n_calibration);
  o.tiles = j.value("tiles", o.tiles);
  if (j.contains("knn")) o.knn = j["knn"].get<search::KnnOptions>();
  o.top_pairs_png = j.value("top_pairs_png", o.top_pairs_png);
  o.pairs_distinct = j.value("pairs_distinct", o.pairs_distinct);
  o.pairs_per_row = j.value("pairs_per_row", o.pairs_per_row);
  o.histogram_bins = j.value("histogram_bins", o.histogram_bins);
  o.device = j.value("device", o.device);
}

void validate(const ExtractOptions& o) {
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

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct ShardPlan {
  data::ShardFiles files;
  int64_t n = 0;
  int64_t offset = 0;  // generation index of its first image
};

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

std::vector<int64_t> read_seeds(const data::ShardFiles& s, int64_t n) {
  const io::HostArray a = io::read_npy(s.seeds);
  check(a.dtype == io::DType::kI64 && a.shape.size() == 1 && a.shape[0] == n, s.seeds.string(),
        "int64 [" + std::to_string(n) + "] seeds", io::dtype_name(a.dtype) + " " + io::shape_str(a.shape));
  return std::vector<int64_t>(a.data<int64_t>(), a.data<int64_t>() + n);
}

// The cache is valid only for the same training data and the options that shape the numbers;
// δ and the calibrated threshold are applied afterwards, so changing them reuses everything.
io::Json cache_key(const data::Dataset& train, const ExtractOptions& o, int64_t n_calibration) {
  uint64_t h = detail::fnv1a(train.images.bytes.data(), train.images.bytes.size());
  h = detail::fnv1a(train.ids.data(), train.ids.size() * sizeof(int64_t), h);
  return io::Json{{"version", 1},
                  {"train_shape", train.images.shape},
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

// A cached shard when its rows agree with the shard's seeds; empty otherwise.
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

std::vector<double> finite(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (std::isfinite(x)) out.push_back(x);
  return out;
}

bool closer(const Match& a, const Match& b) {
  return a.l2 != b.l2 ? a.l2 < b.l2 : a.generation < b.generation;
}

}  // namespace

ExtractResult run_extract(const fs::path& generations, const fs::path& train_dir, const fs::path& out,
                          const ExtractOptions& options, const io::Json& extra,
                          const ProgressFn& progress) {
  validate(options);
  const double t0 = now_s();
  if (!fs::is_directory(generations))
    fail(generations.string(), "a folder of generations (diffmem sample --out)", "no such folder");
  const data::Dataset train = data::load_dataset(train_dir);
  check(train.size() >= 1, (train_dir / "images.npy").string(), "at least one training image", "0");
  const std::vector<int64_t> image_shape(train.images.shape.begin() + 1, train.images.shape.end());
  const std::vector<ShardPlan> plan = plan_shards(generations, image_shape, train_dir);
  const double t_load = now_s();

  const int64_t n_cal = std::min<int64_t>(options.n_calibration, train.size());
  search::KnnOptions ko = options.knn;
  ko.k = std::max<int64_t>(n_cal, 1);
  const torch::Device device(options.device);
  const search::KnnIndex index(io::to_tensor(train.images).to(device), ko);
  const search::ImageShape shape{train.height(), train.width(), train.channels()};
  const double t_index = now_s();

  const bool cache_ok = open_cache(out, cache_key(train, options, n_cal), options.reuse);
  const bool calibrated_rule = options.calibrated_threshold.has_value();

  // Copies of an image share its id; the manifest's planted counts are keyed by id.
  std::map<int64_t, int64_t> copies, planted;
  for (int64_t r = 0; r < train.size(); ++r) ++copies[train.ids[r]];
  const std::vector<data::DuplicateGroup> groups = data::duplicate_groups(train.manifest);
  for (const auto& g : groups) planted[g.id] = g.count;

  ExtractResult result;
  result.shards = static_cast<int64_t>(plan.size());
  result.k = ko.k;
  int64_t total = 0;
  for (const ShardPlan& p : plan) total += p.n;
  ProgressMeter meter(progress, "extract", total, "generations");

  core::AtomicFile matches(out / "matches.csv");
  matches.write(detail::matches_header() + "\n");
  std::map<int64_t, IdBest> by_id;  // every id that is some generation's nearest image
  std::vector<Match> closest;       // pairs_distinct = false: the top_pairs_png closest, a heap
  std::vector<double> l2s, cals;
  int64_t within_delta = 0, within_cal = 0, computed = 0;
  std::map<int64_t, data::ShardFiles> shard_files;
  for (const ShardPlan& p : plan) {
    shard_files[p.files.index] = p.files;
    const std::vector<int64_t> seeds = read_seeds(p.files, p.n);
    const fs::path cache = detail::shard_cache_file(out, p.files.index);
    std::vector<Match> rows = cache_ok ? load_cached(cache, seeds) : std::vector<Match>{};
    if (!rows.empty() || p.n == 0) {
      ++result.shards_reused;
    } else {
      const double ts = now_s();
      const data::Generations g = data::load_shard(p.files);
      check(static_cast<int64_t>(g.seeds.size()) == p.n, p.files.images.string(),
            std::to_string(p.n) + " images", std::to_string(g.seeds.size()));
      rows = detail::match_images(index, io::to_tensor(g.images), shape, train.ids, options, n_cal);
      for (size_t i = 0; i < rows.size(); ++i) rows[i].seed = seeds[i];
      detail::write_shard_cache(cache, rows);
      result.search_seconds += now_s() - ts;
      ++result.shards_computed;
      computed += p.n;
    }
    std::string text;
    for (Match& m : rows) {
      m.shard = p.files.index;
      m.generation = p.offset + m.index;
      const bool in_delta = m.l2 <= options.delta;
      const bool in_cal = calibrated_rule && m.calibrated_l2 <= *options.calibrated_threshold;
      within_delta += in_delta;
      within_cal += in_cal;
      m.extracted = calibrated_rule ? in_cal : in_delta;
      result.extracted_generations += m.extracted;
      l2s.push_back(m.l2);
      cals.push_back(m.calibrated_l2);
      text += detail::match_line(m) + "\n";
      if (m.nearest_id >= 0) {
        auto [it, fresh] = by_id.try_emplace(m.nearest_id, IdBest{m, 0});
        if (!fresh && closer(m, it->second.best)) it->second.best = m;
        it->second.hits += m.extracted;
      }
      if (!options.pairs_distinct && options.top_pairs_png > 0) {
        closest.push_back(m);
        std::push_heap(closest.begin(), closest.end(), closer);
        if (static_cast<int64_t>(closest.size()) > options.top_pairs_png) {
          std::pop_heap(closest.begin(), closest.end(), closer);
          closest.pop_back();
        }
      }
    }
    matches.write(text);
    meter.update(p.offset + p.n, std::to_string(result.shards_reused) + " shards reused");
  }
  matches.commit();
  result.generations = total;

  // extracted.csv: one row per extracted id, best first.
  std::set<int64_t> extracted_ids;
  for (const auto& [id, b] : by_id) {
    if (b.hits == 0) continue;
    ExtractedImage e;
    e.id = id;
    e.row = b.best.nearest_row;
    e.hits = b.hits;
    e.best_l2 = b.best.l2;
    e.best_generation = b.best.generation;
    e.best_seed = b.best.seed;
    e.copies = copies[id];
    e.planted = planted.count(id) ? planted[id] : -1;
    result.extracted.push_back(e);
    extracted_ids.insert(id);
  }
  std::sort(result.extracted.begin(), result.extracted.end(), [](const auto& a, const auto& b) {
    return a.best_l2 != b.best_l2 ? a.best_l2 < b.best_l2 : a.id < b.id;
  });
  result.unique_extracted = static_cast<int64_t>(result.extracted.size());
  detail::write_extracted_csv(out / "extracted.csv", result.extracted);

  // Fig. 5: extraction rate by planted duplicate count.
  std::map<int64_t, DuplicateRate> rates;
  for (const auto& g : groups) {
    DuplicateRate& r = rates[g.count];
    r.count = g.count;
    ++r.planted;
    r.extracted += extracted_ids.count(g.id);
  }
  io::Json rates_json = io::Json::array();
  for (auto& [c, r] : rates) {
    r.rate = r.planted > 0 ? double(r.extracted) / double(r.planted) : 0.0;
    result.rates.push_back(r);
    rates_json.push_back({{"count", r.count}, {"planted", r.planted}, {"extracted", r.extracted}, {"rate", r.rate}});
  }
  int64_t unplanted = 0, unplanted_extracted = 0;
  for (const auto& [id, n] : copies) {
    if (planted.count(id)) continue;
    ++unplanted;
    unplanted_extracted += extracted_ids.count(id);
  }

  // The closest pairs for pairs.png and the summary.
  std::vector<Match> pairs;
  if (options.pairs_distinct) {
    for (const auto& [id, b] : by_id) pairs.push_back(b.best);
  } else {
    pairs = closest;
  }
  std::sort(pairs.begin(), pairs.end(), closer);
  if (static_cast<int64_t>(pairs.size()) > options.top_pairs_png) pairs.resize(options.top_pairs_png);
  if (!pairs.empty()) detail::write_pairs_png(out / "pairs.png", pairs, shard_files, train, options.pairs_per_row);
  io::Json pairs_json = io::Json::array();
  for (const Match& m : pairs) pairs_json.push_back(detail::match_json(m));

  const double t_end = now_s();
  result.seconds = t_end - t0;
  const std::vector<double> fl2 = finite(l2s);
  io::Json s = extra.is_object() ? extra : io::Json::object();
  s["generations_dir"] = fs::absolute(generations).lexically_normal().string();
  s["train"] = {{"dir", fs::absolute(train_dir).lexically_normal().string()},
                {"images", train.size()},
                {"distinct_ids", copies.size()},
                {"shape", train.images.shape}};
  s["generations"] = result.generations;
  s["shards"] = {{"count", result.shards}, {"computed", result.shards_computed}, {"reused", result.shards_reused}};
  s["criterion"] = calibrated_rule ? "calibrated_l2 <= calibrated_threshold" : "l2 <= delta";
  s["delta"] = options.delta;
  s["calibrated_threshold"] = calibrated_rule ? io::Json(*options.calibrated_threshold) : io::Json(nullptr);
  s["alpha"] = options.alpha;
  s["n_calibration"] = n_cal;
  s["tiles"] = options.tiles;
  s["within_delta"] = within_delta;
  if (calibrated_rule) s["within_calibrated_threshold"] = within_cal;
  s["extracted_generations"] = result.extracted_generations;
  s["unique_extracted"] = result.unique_extracted;
  s["nearest_distinct"] = by_id.size();
  s["l2"] = fl2.empty() ? io::Json(nullptr)
                        : io::Json{{"min", *std::min_element(fl2.begin(), fl2.end())},
                                   {"median", metrics::median(fl2)},
                                   {"max", *std::max_element(fl2.begin(), fl2.end())}};
  s["duplicate_rates"] = rates_json;
  if (!groups.empty())
    s["unplanted"] = {{"images", unplanted}, {"extracted", unplanted_extracted},
                      {"rate", unplanted ? double(unplanted_extracted) / unplanted : 0.0}};
  s["histograms"] = {{"l2", detail::histogram_json(l2s, options.histogram_bins, options.delta)}};
  if (n_cal > 0)
    s["histograms"]["calibrated_l2"] = detail::histogram_json(
        cals, options.histogram_bins, calibrated_rule ? *options.calibrated_threshold : 1.0);
  s["top_pairs"] = pairs_json;
  s["knn"] = {{"k", ko.k}, {"device", device.str()}, {"exact_recheck", ko.exact_recheck}};
  const double searched = result.search_seconds;
  s["timings"] = {{"load_s", t_load - t0},
                  {"index_s", t_index - t_load},
                  {"search_s", searched},
                  {"total_s", result.seconds},
                  {"generations_computed", computed},
                  {"generations_per_s", searched > 0 ? double(computed) / searched : 0.0}};
  io::Json opts;
  to_json(opts, options);
  io::write_json(out / "options.json", opts);
  s["options"] = opts;
  io::write_json(out / "summary.json", s);
  result.summary = std::move(s);
  meter.finish(std::to_string(result.unique_extracted) + " training images extracted");
  return result;
}

}  // namespace diffmem::attack
