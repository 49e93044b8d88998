// The report's text-to-image sections: the first-step screen (its detectors' ROC when the prompts
// carry labels) and one table of prompts joining the screen's scores with generate-and-filter's
// result for each (clique size, flagged, whether the clique reproduces the prompt's own image).
#include <algorithm>
#include <cmath>
#include <map>

#include "diffmem/core/error.h"
#include "diffmem/report/html.h"
#include "diffmem/report/svg.h"
#include "report_internal.h"

namespace diffmem::report::detail {
namespace fs = std::filesystem;
using io::Json;

namespace {

// A CSV file's rows as column name → value maps (rows of the wrong width are skipped).
std::vector<std::map<std::string, std::string>> csv_records(const fs::path& path) {
  std::vector<std::map<std::string, std::string>> out;
  const io::CsvRows rows = read_csv(path);
  if (rows.empty()) return out;
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].size() != rows[0].size()) continue;
    std::map<std::string, std::string> r;
    for (size_t k = 0; k < rows[0].size(); ++k) r[rows[0][k]] = rows[i][k];
    out.push_back(std::move(r));
  }
  return out;
}

std::string field(const std::map<std::string, std::string>& r, const std::string& key) {
  const auto it = r.find(key);
  return it == r.end() ? "" : it->second;
}

// A CSV number as JSON: null when empty or not finite ("nan").
Json number(const std::string& s) {
  if (s.empty()) return nullptr;
  const double v = std::stod(s);
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

const char* const kDetectorNames[][2] = {{"wen", "Wen et al. (first-step text-conditional norm)"},
                                         {"anisotropy", "Asthana & Belagiannis (anisotropy)"}};

}  // namespace

SectionOut screen_section(const RunLayout& run, Json& summary) {
  SectionOut out;
  const std::string title = "Text-to-image: first-step memorization screen";
  const fs::path sp = run.screen / "summary.json", cp = run.screen / "screen.csv";
  if (!fs::is_regular_file(sp) || !fs::is_regular_file(cp)) {
    const std::string note = stage_note(run, "screen");
    out.meta = {"screen", title, false, note.empty() ? "no " + sp.string() : note};
    return out;
  }
  out.meta = {"screen", title, true, ""};
  const Json s = io::read_json(sp);
  Json& t = summary["screen"];
  t = {{"prompts", s.value("prompts", int64_t{0})},
       {"per_prompt", s.value("per_prompt", int64_t{0})},
       {"unet_images", s.value("unet_images", int64_t{0})},
       {"unet_images_per_prompt", s.value("unet_images_per_prompt", 0.0)},
       {"generate_and_filter_unet_images_per_prompt", s.value("generate_and_filter_unet_images_per_prompt", int64_t{0})},
       {"labels", s.value("labels", Json())},
       {"detectors", Json::object()}};
  const double per = t["unet_images_per_prompt"].get<double>();
  if (per > 0) t["saving_per_prompt"] = t["generate_and_filter_unet_images_per_prompt"].get<double>() / per;
  out.body = "<p>Every prompt scored from the start of " + show(summary, "/screen/per_prompt", Fmt::kInt) +
             " generation(s): " + show(summary, "/screen/unet_images_per_prompt", Fmt::kFixed3) +
             " U-Net evaluations per prompt, against " +
             show(summary, "/screen/generate_and_filter_unet_images_per_prompt", Fmt::kInt) +
             " for the paper's 500 whole generations (" + show(summary, "/screen/saving_per_prompt", Fmt::kFixed3) +
             "× fewer).</p>\n";

  const Json labels = t["labels"];
  const bool labeled = labels.is_string();
  std::vector<RocSeries> series;
  std::string table;
  if (labeled) {
    const std::string label = labels.get<std::string>();
    const auto rows = csv_records(cp);
    table = "<table><tr><th>detector</th><th>prompts with " + html_escape(label) +
            " = 1</th><th>others</th><th>AUC</th><th>TPR@1%FPR</th></tr>\n";
    for (const auto& [key, name] : kDetectorNames) {
      const Json d = s.value("detectors", Json::object()).value(key, Json());
      const std::string p = "/screen/detectors/" + std::string(key);
      if (!d.is_object()) {
        t["detectors"][key] = d;  // "not measurable: ..." or null
        continue;
      }
      t["detectors"][key] = {{"members", d.value("members", int64_t{0})},
                             {"nonmembers", d.value("nonmembers", int64_t{0})},
                             {"auc", d.value("auc", Json())},
                             {"tpr_at_fpr_0.01", d.value("tpr_at_fpr_0.01", Json())}};
      table += "<tr><td class=\"l\">" + html_escape(name) + "</td><td>" + show(summary, p + "/members", Fmt::kInt) +
               "</td><td>" + show(summary, p + "/nonmembers", Fmt::kInt) + "</td><td>" +
               show(summary, p + "/auc", Fmt::kFixed3) + "</td><td>" +
               show(summary, p + "/tpr_at_fpr_0.01", Fmt::kPercent) + "</td></tr>\n";
      std::vector<double> scores;
      std::vector<bool> positive;
      for (const auto& r : rows) {
        const Json v = number(field(r, key));
        if (!v.is_number()) continue;
        scores.push_back(v.get<double>());
        positive.push_back(field(r, label) == "1");
      }
      const bool both = std::count(positive.begin(), positive.end(), true) > 0 &&
                        std::count(positive.begin(), positive.end(), false) > 0;
      if (both) {
        const metrics::RocCurve c = metrics::roc_curve(scores, positive);
        series.push_back({std::string(key) + " (AUC " + format_fixed(c.auc(), 3) + ")", c});
      }
    }
    table += "</table>\n";
  }
  if (labeled)
    out.body += "<p>Positives: the prompts whose <code>" + html_escape(labels.get<std::string>()) +
                "</code> column is 1; negatives: the rest.</p>\n";
  if (!series.empty()) {
    RocPlotOptions po;
    po.title = "Screen ROC, log-log";
    out.body += "<div class=\"row\"><div>" + roc_svg(series, po) + "</div><div>" + table + "</div></div>\n";
  } else if (!table.empty()) {
    out.body += table;
  } else {
    out.body += "<p>The prompts carry no 0/1 label column: the screen's ranking is in the prompt table "
                "below, without an ROC.</p>\n";
  }
  return out;
}

SectionOut prompt_table(const RunLayout& run, const ReportOptions& o, Json& summary) {
  SectionOut out;
  const std::string title = "Text-to-image: prompts";
  const fs::path screen_csv = run.screen / "screen.csv", bb_csv = run.blackbox / "prompts.csv",
                 bb_summary = run.blackbox / "summary.json";
  const Json bs = fs::is_regular_file(bb_summary) ? io::read_json(bb_summary) : Json();
  const bool generated = bs.is_object() && bs.contains("text_to_image");
  if (!fs::is_regular_file(screen_csv) && !generated) {
    const std::string note = stage_note(run, "screen");
    out.meta = {"prompts", title, false, note.empty() ? "no text-to-image results in the run" : note};
    return out;
  }
  out.meta = {"prompts", title, true, ""};
  // Generate-and-filter's row per prompt id (prompts not generated behind a screen have none).
  std::map<std::string, std::map<std::string, std::string>> filtered;
  if (generated && fs::is_regular_file(bb_csv))
    for (auto& r : csv_records(bb_csv)) filtered[field(r, "id")] = r;

  Json& t = summary["text_to_image"];
  t = Json::object();
  if (generated) {
    t["extraction"] = bs.value("extraction", Json());
    t["cost"] = bs.value("cost", Json());
    t["per_prompt"] = bs["text_to_image"].value("per_prompt", int64_t{0});
    t["min_clique"] = bs.value("options", Json::object()).value("analysis", Json::object()).value("min_clique", Json());
    t["generated_prompts"] = filtered.size();
  }
  // Rows: the screen's order (highest Wen score first) when it ran, else generate-and-filter's.
  std::vector<std::map<std::string, std::string>> rows;
  const bool screened = fs::is_regular_file(screen_csv);
  if (screened) rows = csv_records(screen_csv);
  else
    for (auto& [id, r] : filtered) rows.push_back(r);
  const std::string label = summary.value("screen", Json::object()).value("labels", Json()).is_string()
                                ? summary["screen"]["labels"].get<std::string>()
                                : "";
  t["prompts"] = rows.size();
  t["shown"] = std::min<int64_t>(static_cast<int64_t>(rows.size()), o.prompts);

  std::string body;
  if (generated) {
    body += "<p>Generate-and-filter: " + show(summary, "/text_to_image/per_prompt", Fmt::kInt) +
            " generations of each of " + show(summary, "/text_to_image/generated_prompts", Fmt::kInt) +
            " prompts; a clique of at least " + show(summary, "/text_to_image/min_clique", Fmt::kInt) +
            " near-identical generations flags a prompt. " +
            show(summary, "/text_to_image/extraction/flagged", Fmt::kInt) + " flagged";
    const Json& e = t["extraction"];
    if (e.is_object() && e.value("with_train_image", int64_t{0}) > 0)
      body += ", " + show(summary, "/text_to_image/extraction/extracted", Fmt::kInt) +
              " of them with a medoid within δ of the prompt's own training image";
    if (e.is_object() && e.contains("precision"))
      body += "; against the labels: precision " + show(summary, "/text_to_image/extraction/precision", Fmt::kFixed3) +
              ", recall " + show(summary, "/text_to_image/extraction/recall", Fmt::kFixed3);
    body += ". U-Net evaluations spent: " + show(summary, "/text_to_image/cost/unet_images_from_scratch", Fmt::kInt) +
            " (every prompt unscreened: " + show(summary, "/text_to_image/cost/unscreened_unet_images", Fmt::kInt) +
            ").</p>\n";
  }
  body += "<table><tr><th>rank</th><th class=\"l\">prompt</th>";
  if (!label.empty()) body += "<th>" + html_escape(label) + "</th>";
  body += "<th>copies in the data set</th>";
  if (screened) body += "<th>Wen score</th><th>anisotropy</th>";
  body += "<th>largest clique</th><th>flagged</th><th>reproduces its image (ℓ2)</th></tr>\n";
  Json shown = Json::array();
  int64_t k = 0;
  for (const auto& r : rows) {
    if (k >= o.prompts) break;
    const std::string id = field(r, "id");
    const auto f = filtered.find(id);
    const bool has = f != filtered.end();
    Json j = {{"id", id},
              {"prompt", field(r, "prompt")},
              {"wen", number(field(r, "wen"))},
              {"anisotropy", number(field(r, "anisotropy"))},
              {"label", label.empty() || field(r, label).empty() ? Json() : Json(std::stoll(field(r, label)))},
              {"generated", has},
              {"duplicates", has ? number(field(f->second, "duplicates")) : Json()},
              {"largest_clique", has ? number(field(f->second, "largest_clique")) : Json()},
              {"flagged", has && field(f->second, "flagged") == "1"},
              {"train_l2", has ? number(field(f->second, "train_l2_to_medoid")) : Json()},
              {"reproduces", has && field(f->second, "within_delta") == "1"}};
    const std::string p = "/text_to_image/rows/" + std::to_string(k);
    shown.push_back(j);
    t["rows"] = shown;
    std::string row = std::string("<tr") + (j["flagged"].get<bool>() ? " class=\"hit\"" : "") + "><td>" +
                      std::to_string(k + 1) + "</td><td class=\"l\">" + html_escape(j["prompt"].get<std::string>()) +
                      "</td>";
    if (!label.empty()) row += "<td>" + show(summary, p + "/label", Fmt::kInt) + "</td>";
    row += "<td>" + show(summary, p + "/duplicates", Fmt::kInt) + "</td>";
    if (screened)
      row += "<td>" + show(summary, p + "/wen", Fmt::kFixed3) + "</td><td>" +
             show(summary, p + "/anisotropy", Fmt::kFixed3) + "</td>";
    row += has ? "<td>" + show(summary, p + "/largest_clique", Fmt::kInt) + "</td><td>" +
                     (j["flagged"].get<bool>() ? "<b>yes</b>" : "no") + "</td><td>" +
                     (j["train_l2"].is_number()
                          ? std::string(j["reproduces"].get<bool>() ? "<b>yes</b> (" : "no (") +
                                show(summary, p + "/train_l2", Fmt::kFixed3) + ")"
                          : std::string("—")) +
                     "</td>"
               : "<td colspan=\"3\" class=\"notrun\">not generated (below the screen's cut)</td>";
    body += row + "</tr>\n";
    ++k;
  }
  if (shown.empty()) t["rows"] = shown;
  body += "</table>\n";
  if (static_cast<int64_t>(rows.size()) > o.prompts)
    body += "<p>" + std::to_string(rows.size() - static_cast<size_t>(o.prompts)) + " more prompts in <code>" +
            html_escape((screened ? screen_csv : bb_csv).string()) + "</code>.</p>\n";
  out.body = body;
  return out;
}

}  // namespace diffmem::report::detail
