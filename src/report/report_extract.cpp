// The white-box extraction sections: the gallery of generation | nearest training image pairs,
// the extraction rate against the planted duplicate count, the distance histogram.
#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/metrics/histogram.h"
#include "diffmem/report/html.h"
#include "diffmem/report/svg.h"
#include "report_internal.h"

namespace diffmem::report::detail {
namespace fs = std::filesystem;
using io::Json;

namespace {

// extract/summary.json, or null when the stage has not written it.
Json extract_summary(const RunLayout& run) {
  const fs::path p = run.extract / "summary.json";
  return fs::is_regular_file(p) ? io::read_json(p) : Json();
}

ReportSection absent(std::string id, std::string title, const RunLayout& run, std::string why = "") {
  ReportSection s{std::move(id), std::move(title), false, std::move(why)};
  if (s.note.empty()) s.note = stage_note(run, "extract");
  if (s.note.empty()) s.note = "no " + (run.extract / "summary.json").string();
  return s;
}

double num(const Json& j, const char* key, double fallback = NAN) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

// The training set the extraction searched: run.json's, else the one extract recorded.
fs::path train_dir(const RunLayout& run, const Json& s) {
  if (fs::is_regular_file(run.train_data / "images.npy")) return run.train_data;
  if (s.contains("train") && s["train"].contains("dir")) return s["train"]["dir"].get<std::string>();
  return run.train_data;
}

fs::path samples_dir(const RunLayout& run, const Json& s) {
  if (fs::is_directory(run.samples)) return run.samples;
  return s.value("generations_dir", run.samples.string());
}

}  // namespace

SectionOut extraction_gallery(const RunLayout& run, const ReportOptions& o, Json& summary) {
  SectionOut out;
  const Json s = extract_summary(run);
  if (s.is_null()) {
    out.meta = absent("gallery", "Extracted training images", run);
    return out;
  }
  out.meta = {"gallery", "Extracted training images", true, ""};
  const std::string where = (run.extract / "summary.json").string();
  if (!s.contains("top_pairs") || !s["top_pairs"].is_array())
    fail(where, "a top_pairs array", "none");
  Json& e = summary["extraction"];
  e["delta"] = num(s, "delta");
  e["criterion"] = s.value("criterion", "l2 <= delta");
  e["generations"] = s.value("generations", int64_t{0});
  e["extracted_generations"] = s.value("extracted_generations", int64_t{0});
  e["unique_extracted"] = s.value("unique_extracted", int64_t{0});
  if (s.contains("train")) e["training_images"] = s["train"].value("distinct_ids", int64_t{0});
  e["gallery"] = Json::array();

  const fs::path train = train_dir(run, s);
  const Generations gens(samples_dir(run, s));
  const double delta = e["delta"].get<double>();
  std::string cards;
  int64_t shown = 0;
  for (const Json& p : s["top_pairs"]) {
    if (shown >= o.gallery) break;
    Json g = {{"generation", p.at("generation")}, {"seed", p.value("seed", int64_t{0})},
              {"id", p.at("id")},                 {"row", p.at("row")},
              {"l2", p.at("l2")},                 {"tiled_l2", p.value("tiled_l2", Json())},
              {"calibrated_l2", p.value("calibrated_l2", Json())}};
    const bool calibrated = s.value("criterion", "") != "l2 <= delta";
    g["extracted"] = calibrated ? Json(nullptr) : Json(p.at("l2").get<double>() <= delta);
    const std::string gen_img =
        image_tag(gens.image(p.at("shard").get<int64_t>(), p.at("index").get<int64_t>()),
                  "generation " + std::to_string(p.at("generation").get<int64_t>()), o.image_px);
    const std::string train_img = image_tag(npy_image(train / "images.npy", p.at("row").get<int64_t>()),
                                            "training image id " + std::to_string(p.at("id").get<int64_t>()),
                                            o.image_px);
    e["gallery"].push_back(g);
    const std::string k = "/extraction/gallery/" + std::to_string(shown);
    const bool hit = g["extracted"].is_boolean() && g["extracted"].get<bool>();
    cards += "<div class=\"pair" + std::string(hit ? " hit" : "") + "\"><div class=\"imgs\">" + gen_img +
             train_img + "</div><div class=\"cap\">ℓ2 " + show(summary, k + "/l2", Fmt::kFixed3);
    if (g["tiled_l2"].is_number()) cards += " · tiled " + show(summary, k + "/tiled_l2", Fmt::kFixed3);
    cards += "<br>id " + show(summary, k + "/id", Fmt::kInt) + " · seed " + show(summary, k + "/seed", Fmt::kInt);
    if (hit) cards += " <b class=\"badge\">extracted</b>";
    cards += "</div></div>\n";
    ++shown;
  }
  std::string& b = out.body;
  b += "<p>" + show(summary, "/extraction/unique_extracted", Fmt::kInt) + " training images extracted: " +
       show(summary, "/extraction/extracted_generations", Fmt::kInt) + " of " +
       show(summary, "/extraction/generations", Fmt::kInt) + " generations lie within " +
       (s.value("criterion", "") == "l2 <= delta"
            ? "normalized ℓ2 δ = " + show(summary, "/extraction/delta", Fmt::kFixed3)
            : html_escape(s.value("criterion", ""))) +
       " of their nearest training image.</p>\n";
  if (shown == 0) {
    b += "<p>No generation/training pairs were recorded.</p>\n";
    return out;
  }
  b += "<p>Each pair: a generation (left) and its nearest training image (right), closest first, "
       "one pair per training image. Green: within the threshold (extracted).</p>\n"
       "<div class=\"gallery\">\n" + cards + "</div>\n";
  return out;
}

SectionOut duplicates_chart(const RunLayout& run, Json& summary) {
  SectionOut out;
  const Json s = extract_summary(run);
  const std::string title = "Extraction rate against duplicate count";
  if (s.is_null()) {
    out.meta = absent("duplicates", title, run);
    return out;
  }
  const Json rates = s.value("duplicate_rates", Json::array());
  if (!rates.is_array() || rates.empty()) {
    out.meta = absent("duplicates", title, run, "the training set records no planted duplicates");
    return out;
  }
  out.meta = {"duplicates", title, true, ""};
  Json& d = summary["extraction"]["duplicate_rates"];
  d = Json::array();
  ChartSeries planted{"planted images", {}, {}};
  std::vector<std::vector<std::string>> rows;
  for (const Json& r : rates) {
    const Json row = {{"count", r.at("count")}, {"planted", r.at("planted")},
                      {"extracted", r.at("extracted")}, {"rate", r.at("rate")},
                      {"rate_ci", r.contains("rate_ci") ? r["rate_ci"] : Json()}};
    d.push_back(row);
    planted.x.push_back(r.at("count").get<double>());
    planted.y.push_back(r.at("rate").get<double>());
  }
  if (s.contains("unplanted") && s["unplanted"].is_object())
    summary["extraction"]["unplanted"] = s["unplanted"];
  if (s.contains("ci") && s["ci"].is_object()) summary["extraction"]["ci"] = s["ci"];
  ChartOptions co;
  co.title = "Extracted fraction of images planted k times";
  co.x_label = "copies in the training set (k)";
  co.y_label = "fraction extracted";
  co.kind = ChartKind::kBar;
  co.y_max = 1.0;
  std::string table = "<table><tr><th>copies</th><th>planted</th><th>extracted</th><th>rate</th></tr>\n";
  for (size_t i = 0; i < d.size(); ++i) {
    const std::string k = "/extraction/duplicate_rates/" + std::to_string(i);
    table += "<tr><td>" + show(summary, k + "/count", Fmt::kInt) + "</td><td>" +
             show(summary, k + "/planted", Fmt::kInt) + "</td><td>" +
             show(summary, k + "/extracted", Fmt::kInt) + "</td><td>" +
             show(summary, k + "/rate", Fmt::kPercent) + show_interval(summary, k + "/rate_ci", Fmt::kPercent) +
             "</td></tr>\n";
  }
  if (summary["extraction"].contains("unplanted"))
    table += "<tr><td>1 (not planted)</td><td>" +
             show(summary, "/extraction/unplanted/images", Fmt::kInt) + "</td><td>" +
             show(summary, "/extraction/unplanted/extracted", Fmt::kInt) + "</td><td>" +
             show(summary, "/extraction/unplanted/rate", Fmt::kPercent) +
             show_interval(summary, "/extraction/unplanted/rate_ci", Fmt::kPercent) + "</td></tr>\n";
  out.body = "<p>Carlini et al. (Fig. 5): the more often an image appears in the training set, the "
             "likelier the model reproduces it." +
             std::string(summary["extraction"].contains("ci")
                             ? " Brackets: " + show(summary, "/extraction/ci/level", Fmt::kPercent) +
                                   " bootstrap intervals (generations resampled, and the images within each "
                                   "row), so a row of few images shows how little it can say."
                             : "") +
             "</p>\n<div class=\"row\">" +
             chart_svg({planted}, co) + table + "</table></div>\n";
  return out;
}

SectionOut distance_histogram(const RunLayout& run, Json& summary) {
  SectionOut out;
  const Json s = extract_summary(run);
  const std::string title = "Distance to the nearest training image";
  if (s.is_null()) {
    out.meta = absent("distances", title, run);
    return out;
  }
  const Json h = s.contains("histograms") ? s["histograms"].value("l2", Json()) : Json();
  if (h.is_null()) {
    out.meta = absent("distances", title, run, "extract/summary.json has no ℓ2 histogram");
    return out;
  }
  out.meta = {"distances", title, true, ""};
  metrics::Histogram hist;
  metrics::from_json(h, hist);
  Json& e = summary["extraction"];
  if (s.contains("l2") && s["l2"].is_object()) e["l2"] = s["l2"];
  e["within_delta"] = s.value("within_delta", int64_t{0});
  HistogramPlotOptions po;
  po.title = "Each generation's ℓ2 to its nearest training image";
  po.x_label = "normalized ℓ2 (pixels in [0,1])";
  po.y_label = "generations";
  po.threshold = num(s, "delta", 0.15);
  po.threshold_label = "δ = " + format_fixed(*po.threshold, 3);
  out.body = "<div class=\"row\">" + histogram_svg({{"generations", hist}}, po) +
             "<table><tr><th>ℓ2</th><th></th></tr>\n<tr><td>min</td><td>" +
             show(summary, "/extraction/l2/min", Fmt::kFixed3) + "</td></tr>\n<tr><td>median</td><td>" +
             show(summary, "/extraction/l2/median", Fmt::kFixed3) + "</td></tr>\n<tr><td>max</td><td>" +
             show(summary, "/extraction/l2/max", Fmt::kFixed3) + "</td></tr>\n<tr><td>within δ</td><td>" +
             show(summary, "/extraction/within_delta", Fmt::kInt) + "</td></tr>\n</table></div>\n";
  return out;
}

}  // namespace diffmem::report::detail
