// The report's sample-quality section: the quality stage's summary.json as a table, beside the
// attacks' leakage (FID with Inception weights; otherwise "FD in <net> space", never FID).
#include "report_internal.h"

#include "diffmem/report/html.h"

namespace diffmem::report::detail {
namespace fs = std::filesystem;
using io::Json;

SectionOut quality_section(const RunLayout& run, Json& summary) {
  SectionOut out;
  const std::string title = "Sample quality";
  const fs::path file = run.quality / "summary.json";
  if (!fs::is_regular_file(file)) {
    const std::string note = stage_note(run, "quality");
    out.meta = {"quality", title, false, note.empty() ? "no " + file.string() : note};
    return out;
  }
  out.meta = {"quality", title, true, ""};
  const Json q = io::read_json(file);
  if (!q.is_object() || !q.value("fd", Json()).is_number() || !q.value("features", Json()).is_string())
    fail(file.string(), "a quality summary with \"fd\" and \"features\"", q.dump().substr(0, 80));
  Json j{{"metric", q.value("metric", "FD")},
         {"features", q["features"]},
         {"fd", q["fd"]},
         {"generated", q.value("generated", Json())},
         {"reference", q.value("reference", Json())},
         {"warning", q.contains("sqrt_check") ? q["sqrt_check"].value("warning", "") : ""}};
  if (q.value("kid", Json()).is_object()) j["kid"] = q["kid"];
  if (q.value("precision_recall", Json()).is_object()) j["precision_recall"] = q["precision_recall"];
  summary["quality"] = j;
  const bool fid = j["metric"] == "FID";
  const std::string features = html_escape(q["features"].get<std::string>());
  std::string t = "<table>\n";
  auto row = [&](const std::string& k, const std::string& v) { t += "<tr><th>" + k + "</th><td>" + v + "</td></tr>\n"; };
  row(fid ? "FID" : "FD in " + features + " space", "<b>" + show(summary, "/quality/fd", Fmt::kSig4) + "</b>");
  if (j.contains("kid"))
    row("KID", show(summary, "/quality/kid/mean", Fmt::kSig4) + " ± " + show(summary, "/quality/kid/std", Fmt::kSig4) +
                   " (std over " + show(summary, "/quality/kid/subsets", Fmt::kInt) + " subsets of " +
                   show(summary, "/quality/kid/subset_size", Fmt::kInt) + ")");
  if (j.contains("precision_recall"))
    row("Precision / recall", show(summary, "/quality/precision_recall/precision", Fmt::kFixed3) + " / " +
                                  show(summary, "/quality/precision_recall/recall", Fmt::kFixed3) + " (k = " +
                                  show(summary, "/quality/precision_recall/k", Fmt::kInt) + ")");
  row("Images", show(summary, "/quality/generated", Fmt::kInt) + " generations vs " +
                    show(summary, "/quality/reference", Fmt::kInt) + " training images");
  row("Features", features);
  t += "</table>\n";
  if (!j["warning"].get<std::string>().empty())
    t += "<p class=\"warn\">" + html_escape(j["warning"].get<std::string>()) + "</p>\n";
  if (!fid)
    t += "<p>A distance in a data-set net's feature space ranks models trained on this data; it is not FID and "
         "does not compare with published FIDs.</p>\n";
  out.body = t;
  return out;
}

}  // namespace diffmem::report::detail
