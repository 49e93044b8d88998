// The attack sections: membership inference (ROC curves and table), the inpainting attack (strips)
// and the black-box attack's flagged cliques.
#include <algorithm>
#include <cmath>
#include <optional>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/metrics/roc.h"
#include "diffmem/report/html.h"
#include "diffmem/report/svg.h"
#include "report_internal.h"

namespace diffmem::report::detail {
namespace fs = std::filesystem;
using io::Json;

namespace {

struct Attack {
  std::string name;     // folder name
  std::string pointer;  // where its numbers are in summary.json
  metrics::RocSummary summary;
  metrics::RocCurve curve;
  Json raw;             // its summary.json
  std::optional<metrics::RocBand> band;
};

// The report's copy of an attack's numbers: the ROC summary with its intervals, and (when the
// attack wrote them) the calibrated-threshold protocol and the cost, under "timing" as in the
// attack's own summary (what this run spent, apart from what it found).
Json roc_json(const Attack& a) {
  Json j;
  metrics::to_json(j, a.summary);
  j.erase("tpr_at_fpr");
  if (a.raw.contains("calibrated")) j["calibrated"] = a.raw["calibrated"];
  if (a.raw.contains("timing") && a.raw["timing"].is_object()) {
    const Json& t = a.raw["timing"];
    j["timing"] = {{"seconds", t.value("seconds", Json())},
                 {"model_evaluations", t.contains("model_evaluations") ? t["model_evaluations"] : Json()},
                 {"peak_rss_mib", t.contains("peak_rss_bytes") && t["peak_rss_bytes"].is_number()
                                      ? Json(t["peak_rss_bytes"].get<double>() / (1 << 20))
                                      : Json()}};
  }
  return j;
}

Attack read_attack(const fs::path& dir, const std::string& name, const std::string& pointer) {
  Attack a{name, pointer, {}, {}, {}, {}};
  try {
    a.raw = io::read_json(dir / "summary.json");
    metrics::from_json(a.raw, a.summary);
  } catch (const nlohmann::json::exception& e) {
    fail((dir / "summary.json").string(), "an attack summary (metrics::RocSummary keys)", e.what());
  }
  a.curve = metrics::read_roc_csv(dir / "roc.csv");
  a.curve.positives = a.summary.members;
  a.curve.negatives = a.summary.nonmembers;
  if (fs::is_regular_file(dir / "roc_band.csv")) a.band = metrics::read_roc_band_csv((dir / "roc_band.csv").string());
  return a;
}

// Held-out TPR/FPR at thresholds fixed on the calibration share (metrics/calibration.h).
std::string calibration_rows(const Json& summary, const std::string& label, const std::string& p) {
  const Json::json_pointer ptr(p + "/calibrated/thresholds");
  if (!summary.contains(ptr) || !summary.at(ptr).is_array()) return "";
  std::string rows;
  for (size_t k = 0; k < summary.at(ptr).size(); ++k) {
    const Json& t = summary.at(ptr)[k];
    const std::string q = p + "/calibrated/thresholds/" + std::to_string(k);
    rows += "<tr><td class=\"l\">" + html_escape(label) + "</td><td class=\"l\">" +
            html_escape(t.value("target", "")) + (t.value("measurable", true) ? "" : " (not measurable)") +
            "</td><td>" + show(summary, q + "/test_tpr", Fmt::kPercent) +
            show_interval(summary, q + "/test_tpr_ci", Fmt::kPercent) + "</td><td>" +
            show(summary, q + "/test_fpr", Fmt::kPercent) + show_interval(summary, q + "/test_fpr_ci", Fmt::kPercent) +
            "</td></tr>\n";
  }
  return rows;
}

int attack_rank(const std::string& n) {
  const char* order[] = {"loss", "lira-online", "lira-offline", "secmi", "pia"};
  for (int i = 0; i < 5; ++i)
    if (n == order[i]) return i;
  return 5;
}

std::string roc_row(const Json& summary, const std::string& label, const std::string& p) {
  auto with_ci = [&](const std::string& key, Fmt f) {
    return show(summary, p + "/" + key, f) + show_interval(summary, p + "/ci/" + key, f);
  };
  return "<tr><td class=\"l\">" + html_escape(label) + "</td><td>" + show(summary, p + "/members", Fmt::kInt) +
         "</td><td>" + show(summary, p + "/nonmembers", Fmt::kInt) + "</td><td>" + with_ci("auc", Fmt::kFixed3) +
         "</td><td>" + with_ci("tpr_at_fpr_0.001", Fmt::kPercent) + "</td><td>" +
         with_ci("tpr_at_fpr_0.01", Fmt::kPercent) + "</td><td>" + with_ci("balanced_accuracy", Fmt::kFixed3) +
         "</td><td>" + show(summary, p + "/timing/seconds", Fmt::kFixed3) + "</td><td>" +
         show(summary, p + "/timing/model_evaluations", Fmt::kInt) + "</td><td>" +
         show(summary, p + "/timing/peak_rss_mib", Fmt::kInt) + "</td></tr>\n";
}

const char* kRocHeader =
    "<table><tr><th>attack</th><th>members</th><th>non-members</th><th>AUC</th>"
    "<th>TPR@0.1%FPR</th><th>TPR@1%FPR</th><th>balanced acc.</th><th>seconds</th>"
    "<th>model evaluations</th><th>peak MiB</th></tr>\n";

// The split check (attack/split_check.h) of the MIA run: its verdict, AUC and what carries it.
std::string split_check_html(const RunLayout& run, Json& summary) {
  const fs::path p = run.mia / "split-check.json";
  if (!fs::is_regular_file(p)) return "";
  const Json s = io::read_json(p);
  if (s.contains("skipped")) {
    summary["split_check"] = {{"skipped", s["skipped"]}};
    return "<p class=\"notrun\">Split check skipped: " + html_escape(s.value("skipped", "")) + "</p>\n";
  }
  summary["split_check"] = {{"auc", s.value("auc", Json())},
                            {"ci", s.contains("ci") ? s["ci"] : Json()},
                            {"biased", s.value("biased", false)},
                            {"verdict", s.value("verdict", "")},
                            {"strongest", s.value("strongest", Json::array())}};
  std::string strongest;
  for (const Json& w : s.value("strongest", Json::array())) strongest += (strongest.empty() ? "" : ", ") + w.get<std::string>();
  const bool biased = s.value("biased", false);
  return std::string("<p class=\"") + (biased ? "warn" : "ok") + "\"><b>Split check:</b> " +
         html_escape(s.value("verdict", "")) + ". A model-free classifier on image statistics scores AUC " +
         show(summary, "/split_check/auc", Fmt::kFixed3) + show_interval(summary, "/split_check/ci/auc", Fmt::kFixed3) +
         " at telling members from non-members" + (biased ? " (strongest: " + html_escape(strongest) + ")" : "") +
         "; compare each attack's AUC with it.</p>\n";
}

bool has_roc(const fs::path& dir) {
  return fs::is_regular_file(dir / "summary.json") && fs::is_regular_file(dir / "roc.csv");
}

}  // namespace

SectionOut membership(const RunLayout& run, Json& summary) {
  SectionOut out;
  std::vector<Attack> attacks;
  if (fs::is_directory(run.mia))
    for (const auto& e : fs::directory_iterator(run.mia))
      if (e.is_directory() && has_roc(e.path())) {
        const std::string n = e.path().filename().string();
        attacks.push_back(read_attack(e.path(), n, "/mia/" + pointer_token(n)));
      }
  std::sort(attacks.begin(), attacks.end(), [](const Attack& a, const Attack& b) {
    return attack_rank(a.name) != attack_rank(b.name) ? attack_rank(a.name) < attack_rank(b.name) : a.name < b.name;
  });
  const std::string title = "Membership inference";
  if (attacks.empty()) {
    std::string note = stage_note(run, "mia");
    out.meta = {"mia", title, false, note.empty() ? "no attack results in " + run.mia.string() : note};
    return out;
  }
  out.meta = {"mia", title, true, ""};
  summary["mia"] = Json::object();
  std::vector<RocSeries> series;
  std::string table = kRocHeader, calibrated;
  for (const Attack& a : attacks) {
    summary["mia"][a.name] = roc_json(a);
    table += roc_row(summary, a.name, a.pointer);
    calibrated += calibration_rows(summary, a.name, a.pointer);
    series.push_back({a.name + " (AUC " + format_fixed(a.summary.auc, 3) + ")", a.curve, a.band});
  }
  // The inpainting attack is a membership test too (score = −distance on the hidden region).
  if (has_roc(run.inpaint)) {
    const Attack a = read_attack(run.inpaint, "inpaint", "/inpaint");
    if (!summary["inpaint"].is_object()) summary["inpaint"] = Json::object();
    summary["inpaint"].update(roc_json(a));
    series.push_back({"inpainting (AUC " + format_fixed(a.summary.auc, 3) + ")", a.curve, a.band});
    table += roc_row(summary, "inpainting", "/inpaint");
  }
  RocPlotOptions po;
  po.title = "ROC, log-log (higher at low FPR = stronger attack)";
  const uint64_t nonmembers = attacks.front().summary.nonmembers;
  out.body = "<p>Each attack scores every data row; members are the rows the model trained on. "
             "The true-positive rate at a low false-positive rate is the number that matters "
             "(Carlini et al. §5.2). Brackets and bands: 95% bootstrap intervals (members and "
             "non-members resampled). A TPR at an FPR below 1/" + std::to_string(nonmembers) +
             " (one false positive among the non-members) cannot be measured and shows as —.</p>\n" +
             split_check_html(run, summary) + "<div class=\"row\">" + roc_svg(series, po) + table + "</table></div>\n";
  if (!calibrated.empty())
    out.body += "<p>Thresholds fixed on a calibration share of the examples, rates measured on the held-out "
                "rest (Wilson intervals):</p>\n<table><tr><th>attack</th><th>threshold for</th><th>held-out "
                "TPR</th><th>held-out FPR</th></tr>\n" + calibrated + "</table>\n";
  return out;
}

SectionOut inpainting(const RunLayout& run, const ReportOptions& o, Json& summary) {
  SectionOut out;
  const std::string title = "Inpainting attack";
  if (!has_roc(run.inpaint)) {
    std::string note = stage_note(run, "inpaint");
    out.meta = {"inpaint", title, false, note.empty() ? "no " + (run.inpaint / "summary.json").string() : note};
    return out;
  }
  out.meta = {"inpaint", title, true, ""};
  const Json s = io::read_json(run.inpaint / "summary.json");
  const Attack a = read_attack(run.inpaint, "inpaint", "/inpaint");
  Json j = roc_json(a);
  j["mean_distance_members"] = s.value("mean_distance_members", 0.0);
  j["mean_distance_nonmembers"] = s.value("mean_distance_nonmembers", 0.0);
  j["mask"] = s.contains("mask") ? s["mask"].value("spec", "") : "";
  if (!summary["inpaint"].is_object()) summary["inpaint"] = Json::object();
  summary["inpaint"].update(j);

  // Per target: member?, best distance, from inpaint.csv.
  std::map<int64_t, std::pair<bool, double>> by_row;
  if (fs::is_regular_file(run.inpaint / "inpaint.csv")) {
    const auto rows = read_csv(run.inpaint / "inpaint.csv");
    if (!rows.empty()) {
      const auto c = csv_columns(rows[0], {"row", "member", "best_distance"}, run.inpaint / "inpaint.csv");
      for (size_t i = 1; i < rows.size(); ++i)
        if (rows[i].size() == rows[0].size())
          by_row[std::stoll(rows[i][c.at("row")])] = {rows[i][c.at("member")] == "1",
                                                      std::stod(rows[i][c.at("best_distance")])};
    }
  }
  std::vector<fs::path> strips;
  if (fs::is_directory(run.inpaint / "strips"))
    for (const auto& e : fs::directory_iterator(run.inpaint / "strips"))
      if (e.path().extension() == ".png") strips.push_back(e.path());
  std::sort(strips.begin(), strips.end());
  std::string figs;
  for (const fs::path& p : strips) {
    const std::string name = p.stem().string();
    const bool member = name.rfind("member", 0) == 0;
    std::string cap = member ? "member" : "non-member";
    const auto pos = name.find("-row");
    if (pos != std::string::npos) {
      const int64_t row = std::stoll(name.substr(pos + 4));
      cap += ", row " + std::to_string(row);
      if (by_row.count(row)) cap += ", best distance " + format_fixed(by_row[row].second, 3);
    }
    figs += "<figure>" + png_img_tag(core::read_file(p), cap) + "<figcaption>" + html_escape(cap) +
            "</figcaption></figure>\n";
  }
  if (figs.empty() && fs::is_regular_file(run.inpaint / "strips.png"))
    figs = "<figure>" + png_img_tag(core::read_file(run.inpaint / "strips.png"), "inpainting strips") +
           "</figure>\n";
  (void)o;
  out.body = "<p>Part of each image (mask: " + html_escape(j["mask"].get<std::string>()) +
             ") is hidden and the model fills it in from many seeds; completions are ranked by the "
             "model's own loss. Members come back closer to the original (Carlini et al. §5.3).</p>\n"
             "<table><tr><th></th><th>targets</th><th>mean distance on the hidden region</th></tr>\n"
             "<tr><td class=\"l\">members</td><td>" + show(summary, "/inpaint/members", Fmt::kInt) +
             "</td><td>" + show(summary, "/inpaint/mean_distance_members", Fmt::kFixed3) +
             "</td></tr>\n<tr><td class=\"l\">non-members</td><td>" +
             show(summary, "/inpaint/nonmembers", Fmt::kInt) + "</td><td>" +
             show(summary, "/inpaint/mean_distance_nonmembers", Fmt::kFixed3) +
             "</td></tr>\n</table>\n<p>Strips: original | what the attacker sees (hidden = gray) | "
             "kept completions, lowest model loss first.</p>\n<div class=\"strips\">\n" + figs + "</div>\n";
  return out;
}

SectionOut blackbox_cliques(const RunLayout& run, const ReportOptions& o, Json& summary) {
  SectionOut out;
  const std::string title = "Black-box attack: cliques of near-identical generations";
  const fs::path sp = run.blackbox / "summary.json", cp = run.blackbox / "cliques.csv";
  if (!fs::is_regular_file(sp) || !fs::is_regular_file(cp)) {
    std::string note = stage_note(run, "blackbox");
    out.meta = {"blackbox", title, false, note.empty() ? "no " + sp.string() : note};
    return out;
  }
  out.meta = {"blackbox", title, true, ""};
  const Json s = io::read_json(sp);
  const Json a = s.value("options", Json::object()).value("analysis", Json::object());
  Json& b = summary["blackbox"];
  b = {{"groups", s.value("groups", int64_t{0})},
       {"images", s.value("images", int64_t{0})},
       {"flagged_groups", s.value("flagged", int64_t{0})},
       {"min_clique", a.value("min_clique", int64_t{0})},
       {"edge_threshold", a.value("edge_threshold", 0.0)},
       {"cliques", Json::array()}};

  std::map<std::string, std::string> prompts;  // group id → prompt
  std::map<std::string, double> own_l2;        // group id → its medoid's ℓ2 to the group's training image
  if (fs::is_regular_file(run.blackbox / "prompts.csv")) {
    const auto rows = read_csv(run.blackbox / "prompts.csv");
    if (!rows.empty()) {
      const auto c = csv_columns(rows[0], {"id", "prompt"}, run.blackbox / "prompts.csv");
      const auto l2 = std::find(rows[0].begin(), rows[0].end(), "train_l2_to_medoid");
      for (size_t i = 1; i < rows.size(); ++i) {
        if (rows[i].size() != rows[0].size()) continue;
        prompts[rows[i][c.at("id")]] = rows[i][c.at("prompt")];
        if (l2 != rows[0].end() && !rows[i][l2 - rows[0].begin()].empty())
          own_l2[rows[i][c.at("id")]] = std::stod(rows[i][l2 - rows[0].begin()]);
      }
    }
  }
  // The medoid's nearest training image, when white-box extraction ran on the same generations.
  std::map<int64_t, std::pair<int64_t, double>> nearest;  // generation → (id, l2)
  if (fs::is_regular_file(run.extract / "matches.csv")) {
    const auto rows = read_csv(run.extract / "matches.csv");
    if (!rows.empty()) {
      const auto c = csv_columns(rows[0], {"generation", "nearest_id", "l2"}, run.extract / "matches.csv");
      for (size_t i = 1; i < rows.size(); ++i)
        if (rows[i].size() == rows[0].size())
          nearest[std::stoll(rows[i][c.at("generation")])] = {std::stoll(rows[i][c.at("nearest_id")]),
                                                              std::stod(rows[i][c.at("l2")])};
    }
  }
  const Generations gens(run.samples);
  const auto rows = read_csv(cp);
  int64_t flagged_cliques = 0;
  std::string cards;
  if (!rows.empty()) {
    const auto c = csv_columns(rows[0], {"id", "clique", "size", "mean_distance", "flagged", "medoid", "members"}, cp);
    for (size_t i = 1; i < rows.size(); ++i) {
      const auto& r = rows[i];
      if (r.size() != rows[0].size() || r[c.at("flagged")] != "1") continue;
      ++flagged_cliques;
      if (static_cast<int64_t>(b["cliques"].size()) >= o.cliques) continue;
      const std::string id = r[c.at("id")], medoid = r[c.at("medoid")];
      Json q = {{"group", id},
                {"prompt", prompts.count(id) ? prompts[id] : ""},
                {"clique", std::stoll(r[c.at("clique")])},
                {"size", std::stoll(r[c.at("size")])},
                {"mean_distance", r[c.at("mean_distance")].empty() ? Json() : Json(std::stod(r[c.at("mean_distance")]))},
                {"medoid", medoid}};
      // "#N" labels are generations of a diffmem samples folder; other labels are image files.
      std::string imgs;
      std::vector<std::string> labels;
      {
        std::string m = r[c.at("members")], w;
        for (char ch : m + " ")
          if (ch == ' ') {
            if (!w.empty()) labels.push_back(w);
            w.clear();
          } else {
            w += ch;
          }
      }
      std::stable_partition(labels.begin(), labels.end(), [&](const std::string& l) { return l == medoid; });
      int64_t shown = 0;
      for (const auto& l : labels) {
        if (shown >= o.clique_members || l.size() < 2 || l[0] != '#' || gens.size() == 0) break;
        const int64_t g = std::stoll(l.substr(1));
        if (g >= gens.size()) break;
        imgs += image_tag(gens.image(g), "generation " + l, o.image_px * 2 / 3);
        ++shown;
      }
      if (imgs.empty()) {
        const fs::path png = run.blackbox / "flagged" / (id + ".png");
        if (fs::is_regular_file(png)) imgs = png_img_tag(core::read_file(png), "clique of " + id);
      }
      if (own_l2.count(id)) q["train_l2"] = own_l2[id];
      if (medoid.size() > 1 && medoid[0] == '#' && nearest.count(std::stoll(medoid.substr(1)))) {
        const auto& [nid, l2] = nearest[std::stoll(medoid.substr(1))];
        q["nearest_id"] = nid;
        q["nearest_l2"] = l2;
      }
      const size_t k = b["cliques"].size();
      b["cliques"].push_back(q);
      const std::string p = "/blackbox/cliques/" + std::to_string(k);
      cards += "<div class=\"clique\"><div class=\"cap\"><b>" + html_escape(id) + "</b> clique " +
               show(summary, p + "/clique", Fmt::kInt) + ": " + show(summary, p + "/size", Fmt::kInt) +
               " generations, mean tiled ℓ2 " + show(summary, p + "/mean_distance", Fmt::kFixed3);
      if (q.contains("nearest_id"))
        cards += "; medoid's nearest training image: id " + show(summary, p + "/nearest_id", Fmt::kInt) +
                 " at ℓ2 " + show(summary, p + "/nearest_l2", Fmt::kFixed3);
      if (q.contains("train_l2"))
        cards += "; medoid to the prompt's training image (last in the grid): ℓ2 " +
                 show(summary, p + "/train_l2", Fmt::kFixed3);
      if (!q["prompt"].get<std::string>().empty())
        cards += "<br>prompt: <q>" + html_escape(q["prompt"].get<std::string>()) + "</q>";
      cards += "</div><div class=\"imgs\">" + imgs + "</div></div>\n";
    }
  }
  b["flagged_cliques"] = flagged_cliques;
  out.body = "<p>Without the training set: generations that form a clique of at least " +
             show(summary, "/blackbox/min_clique", Fmt::kInt) +
             " near-identical images (tiled ℓ2 ≤ " + show(summary, "/blackbox/edge_threshold", Fmt::kFixed3) +
             ") point at a memorized image (Carlini et al. §4.2). " +
             show(summary, "/blackbox/flagged_cliques", Fmt::kInt) + " flagged cliques among " +
             show(summary, "/blackbox/images", Fmt::kInt) + " generations in " +
             show(summary, "/blackbox/groups", Fmt::kInt) + " group(s).</p>\n";
  if (!cards.empty())
    out.body += "<p>Medoid first, then other members.</p>\n<div class=\"cliques\">\n" + cards + "</div>\n";
  return out;
}

}  // namespace diffmem::report::detail
