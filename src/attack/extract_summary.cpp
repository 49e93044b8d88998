// The write step of white-box extraction: from the pass over the shards to extracted.csv, the
// rates by planted duplicate count (Fig. 5), pairs.png, options.json and summary.json.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "diffmem/core/clock.h"
#include "diffmem/core/memory.h"
#include "diffmem/data/subset.h"
#include "diffmem/metrics/histogram.h"
#include "extract_internal.h"

namespace diffmem::attack::detail {
namespace fs = std::filesystem;

namespace {

std::vector<double> finite(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (std::isfinite(x)) out.push_back(x);
  return out;
}

}  // namespace

void write_extract_outputs(const ExtractInputs& in, const Scan& scan, ExtractResult& result) {
  const ExtractOptions& options = *in.options;
  const TrainSet& train = *in.train;
  const bool calibrated_rule = options.calibrated_threshold.has_value();

  // Copies of an image share its id; the manifest's planted counts are keyed by id.
  std::map<int64_t, int64_t> copies, planted;
  for (int64_t r = 0; r < train.size(); ++r) ++copies[train.ids[r]];
  const std::vector<data::DuplicateGroup> groups = data::duplicate_groups(train.manifest);
  for (const auto& g : groups) planted[g.id] = g.count;

  // extracted.csv: one row per extracted id, best first.
  std::set<int64_t> extracted_ids;
  for (const auto& [id, b] : scan.by_id) {
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
  write_extracted_csv(in.out / "extracted.csv", result.extracted);

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

  // Intervals (metrics::bootstrap_hit_rates): every distinct id, then each planted count's ids in
  // the order of rates_json, then the never-planted ids.
  std::vector<std::vector<int64_t>> strata(1);
  for (const auto& [id, n] : copies) strata[0].push_back(id);
  for (const auto& [count, r] : rates) {
    strata.emplace_back();
    for (const auto& g : groups)
      if (g.count == count) strata.back().push_back(g.id);
  }
  strata.emplace_back();
  for (const auto& [id, n] : copies)
    if (!planted.count(id)) strata.back().push_back(id);
  const std::vector<metrics::Interval> ci =
      metrics::bootstrap_hit_rates(scan.extracted_id, strata, options.bootstrap);
  auto ci_json = [&](size_t s) {
    return ci[s].valid() ? io::Json::array({ci[s].low, ci[s].high}) : io::Json(nullptr);
  };
  for (size_t k = 0; k < rates_json.size(); ++k) rates_json[k]["rate_ci"] = ci_json(k + 1);

  // The closest pairs for pairs.png and the summary.
  std::vector<Match> pairs;
  if (options.pairs_distinct) {
    for (const auto& [id, b] : scan.by_id) pairs.push_back(b.best);
  } else {
    pairs = scan.closest;
  }
  std::sort(pairs.begin(), pairs.end(), closer);
  if (static_cast<int64_t>(pairs.size()) > options.top_pairs_png) pairs.resize(options.top_pairs_png);
  if (!pairs.empty())
    write_pairs_png(in.out / "pairs.png", pairs, scan.shard_files, train, options.pairs_per_row);
  io::Json pairs_json = io::Json::array();
  for (const Match& m : pairs) pairs_json.push_back(match_json(m));

  result.seconds = core::now_s() - in.t0;
  const std::vector<double> fl2 = finite(scan.l2s);
  io::Json s = in.extra.is_object() ? in.extra : io::Json::object();
  s["generations_dir"] = fs::absolute(in.generations).lexically_normal().string();
  s["train"] = {{"dir", fs::absolute(in.train_dir).lexically_normal().string()},
                {"images", train.size()},
                {"distinct_ids", copies.size()},
                {"shape", train.shape}};
  s["generations"] = result.generations;
  s["shards"] = {{"count", result.shards}};
  s["criterion"] = calibrated_rule ? "calibrated_l2 <= calibrated_threshold" : "l2 <= delta";
  s["delta"] = options.delta;
  s["calibrated_threshold"] = calibrated_rule ? io::Json(*options.calibrated_threshold) : io::Json(nullptr);
  s["alpha"] = options.alpha;
  s["n_calibration"] = in.n_cal;
  s["tiles"] = options.tiles;
  s["within_delta"] = scan.within_delta;
  if (calibrated_rule) s["within_calibrated_threshold"] = scan.within_cal;
  s["extracted_generations"] = result.extracted_generations;
  s["unique_extracted"] = result.unique_extracted;
  s["nearest_distinct"] = scan.by_id.size();
  s["l2"] = fl2.empty() ? io::Json(nullptr)
                        : io::Json{{"min", *std::min_element(fl2.begin(), fl2.end())},
                                   {"median", metrics::median(fl2)},
                                   {"max", *std::max_element(fl2.begin(), fl2.end())}};
  s["duplicate_rates"] = rates_json;
  if (!groups.empty())
    s["unplanted"] = {{"images", unplanted}, {"extracted", unplanted_extracted},
                      {"rate", unplanted ? double(unplanted_extracted) / unplanted : 0.0},
                      {"rate_ci", ci_json(strata.size() - 1)}};
  s["extraction_rate"] = {{"rate", copies.empty() ? 0.0 : double(result.unique_extracted) / double(copies.size())},
                          {"rate_ci", ci_json(0)}};
  s["ci"] = {{"level", options.bootstrap.level},
             {"resamples", options.bootstrap.resamples},
             {"seed", options.bootstrap.seed},
             {"method", "two-level percentile bootstrap: generations resampled, and images within each "
                        "duplicate count"}};
  s["histograms"] = {{"l2", histogram_json(scan.l2s, options.histogram_bins, options.delta)}};
  if (in.n_cal > 0)
    s["histograms"]["calibrated_l2"] = histogram_json(
        scan.cals, options.histogram_bins, calibrated_rule ? *options.calibrated_threshold : 1.0);
  s["top_pairs"] = pairs_json;
  s["knn"] = {{"k", in.knn.k},
              {"device", in.device},
              {"arithmetic", in.arithmetic},
              {"exact_recheck", in.knn.exact_recheck}};
  const double searched = result.search_seconds;
  // What this run did and how long it took (reused shards, seconds): apart from the results, so
  // two runs of one command compare byte for byte outside "timing".
  s["timing"] = {{"shards_computed", result.shards_computed},
                 {"shards_reused", result.shards_reused},
                 {"load_s", in.t_load - in.t0},
                 {"index_s", in.t_index - in.t_load},
                 {"search_s", searched},
                 {"total_s", result.seconds},
                 {"generations_computed", scan.computed},
                 {"training_set_parts", in.train_parts},
                 {"generations_per_s", searched > 0 ? double(scan.computed) / searched : 0.0},
                 {"model_evaluations", 0},
                 {"peak_rss_bytes", core::peak_rss_bytes()},
                 {"peak_rss_since", in.peak_since_start ? "attack start" : "process start"}};
  const io::Json opts = io::fields_json(options);
  io::write_json(in.out / "options.json", opts);
  s["options"] = opts;
  io::write_json(in.out / "summary.json", s);
  result.summary = std::move(s);
}

}  // namespace diffmem::attack::detail
