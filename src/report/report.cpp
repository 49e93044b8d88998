// The report page: the summary at the top, then one section per stage output found in the run.
#include "diffmem/report/report.h"

#include <cmath>
#include <functional>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/report/html.h"
#include "report_internal.h"

namespace diffmem::report {
namespace fs = std::filesystem;
using io::Json;
using namespace detail;

namespace {

Json read_if(const fs::path& p) { return fs::is_regular_file(p) ? io::read_json(p) : Json(); }

// Layout and type rules of the page beyond html_page's: image pairs, cards, the "not run" notes.
const char* kStyle =
    "<style>\n"
    "h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }\n"
    "td.l, th.l, .kv td { text-align: left; }\n"
    ".kv th { text-align: left; width: 16em; }\n"
    ".notrun { color: #888; font-style: italic; }\n"
    ".ci { color: #555; font-size: 0.9em; }\n"
    "p.warn { border-left: 4px solid #D55E00; background: #fdf0e6; padding: 0.4em 0.8em; }\n"
    "p.ok { border-left: 4px solid #009E73; padding: 0.4em 0.8em; }\n"
    ".row { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }\n"
    ".gallery, .cliques, .strips { display: flex; flex-wrap: wrap; gap: 0.8em; }\n"
    ".pair { border: 2px solid #ccc; border-radius: 4px; padding: 4px; background: #fafafa; }\n"
    ".pair.hit { border-color: #009E73; background: #eefaf5; }\n"
    "tr.hit td { background: #eefaf5; }\n"
    ".pair .imgs img { margin: 1px; }\n"
    ".cap { font-size: 0.8em; color: #333; }\n"
    ".badge { color: #fff; background: #009E73; border-radius: 3px; padding: 0 4px; font-weight: normal; }\n"
    ".clique { border: 1px solid #ccc; border-radius: 4px; padding: 6px; width: 100%; }\n"
    "figure figcaption { font-size: 0.8em; color: #333; }\n"
    "img { image-rendering: pixelated; }\n"
    "</style>\n";

void describe_model(const RunLayout& run, Json& summary) {
  Json m = {{"path", run.model.string()}};
  fs::path dir = run.model;
  if (!fs::is_regular_file(dir / "config.json") && fs::is_regular_file(dir / "unet" / "config.json"))
    dir = dir / "unet";
  const Json cfg = read_if(dir / "config.json");
  if (cfg.is_object() && cfg.value("architecture", Json()) == "dcgan") {  // a GAN (model/dcgan.h)
    m["architecture"] = "dcgan";
    m["sample_size"] = cfg.value("height", Json());
    m["in_channels"] = cfg.value("channels", Json());
    const int64_t params = safetensors_parameters(dir / "generator.safetensors");
    if (params >= 0) m["parameters"] = params;
    const Json g = read_if(dir / "gan_options.json");
    if (g.is_object()) m["train_steps"] = g.value("steps", int64_t{0});
    m["found"] = true;
    summary["model"] = m;
    return;
  }
  if (cfg.is_object()) {
    m["sample_size"] = cfg.value("sample_size", Json());
    m["in_channels"] = cfg.value("in_channels", Json());
    m["block_out_channels"] = cfg.value("block_out_channels", Json());
    const int64_t params = safetensors_parameters(dir / "diffusion_pytorch_model.safetensors");
    if (params >= 0) m["parameters"] = params;
  }
  const Json t = read_if(run.model / "train_options.json");
  if (t.is_object()) {
    m["preset"] = t.value("preset", "");
    m["train_steps"] = t.value("steps", int64_t{0});
  }
  m["found"] = cfg.is_object();
  summary["model"] = m;
}

void describe_data(const RunLayout& run, Json& summary) {
  Json d = {{"path", run.data.string()}};
  const Json man = read_if(run.data / "manifest.json");
  d["found"] = man.is_object();
  if (man.is_object()) {
    d["source"] = man.value("source", "");
    d["images"] = man.value("count", int64_t{0});
    if (man.contains("distinct")) d["distinct"] = man["distinct"];
    if (man.contains("members") && man["members"].is_object()) {
      const Json& mm = man["members"];
      d["members"] = mm.value("count", int64_t{0});
      d["nonmembers"] = mm.value("of", int64_t{0}) - mm.value("count", int64_t{0});
    }
    Json counts = Json::array();
    if (man.contains("duplicates") && man["duplicates"].is_array())
      for (const Json& g : man["duplicates"]) counts.push_back(g.value("count", int64_t{0}));
    d["planted_counts"] = counts;
  }
  summary["data"] = d;
  const Json g = read_if(run.samples / "manifest.json");
  if (g.is_object()) {
    const Json s = g.value("sample", Json::object());
    summary["generations"] = {{"count", Generations(run.samples).size()},
                              {"requested", g.value("n", int64_t{0})},
                              {"sampler", s.value("sampler", "")},
                              {"steps", s.value("steps", int64_t{0})}};
  }
}

std::string overview(const Json& s) {
  auto row = [](const std::string& k, const std::string& v) {
    return "<tr><th>" + html_escape(k) + "</th><td>" + v + "</td></tr>\n";
  };
  std::string t = "<table class=\"kv\">\n";
  const Json& m = s["model"];
  std::string model = "<code>" + html_escape(m["path"].get<std::string>()) + "</code>";
  if (!m.value("found", false)) model += " (not found)";
  const bool gan = m.value("architecture", Json()) == "dcgan";
  if (gan) model += ", a GAN (DCGAN; parameters of its generator)";
  if (m.contains("parameters"))
    model += ": " + format_fixed(m["parameters"].get<double>() / 1e6, 2) + "M parameters";
  if (m.contains("preset") && !m["preset"].get<std::string>().empty())
    model += ", preset " + html_escape(m["preset"].get<std::string>()) + ", trained " +
             show(s, "/model/train_steps", Fmt::kInt) + " steps";
  else if (gan && m.contains("train_steps"))
    model += ", trained " + show(s, "/model/train_steps", Fmt::kInt) + " steps";
  t += row("Model", model);
  const Json& d = s["data"];
  std::string data = "<code>" + html_escape(d["path"].get<std::string>()) + "</code>";
  if (d.value("found", false)) {
    data += ": " + show(s, "/data/images", Fmt::kInt) + " images";
    if (d.contains("distinct")) data += " (" + show(s, "/data/distinct", Fmt::kInt) + " distinct)";
    if (d.contains("members"))
      data += "; " + show(s, "/data/members", Fmt::kInt) + " distinct members (trained on), " +
              show(s, "/data/nonmembers", Fmt::kInt) + " held out";
    if (!d["planted_counts"].empty()) {
      std::string c;
      for (const Json& x : d["planted_counts"]) c += (c.empty() ? "×" : ", ×") + std::to_string(x.get<int64_t>());
      data += "; planted duplicates " + c;
    }
  }
  t += row("Data", data);
  if (s.contains("generations"))
    t += row("Generations", show(s, "/generations/count", Fmt::kInt) + " (" +
                                html_escape(s["generations"]["sampler"].get<std::string>()) + ", " +
                                show(s, "/generations/steps", Fmt::kInt) + " steps)");
  else
    t += row("Generations", "<span class=\"notrun\">none</span>");
  if (s.contains("extraction"))
    t += row("Training images extracted",
             "<b>" + show(s, "/extraction/unique_extracted", Fmt::kInt) + "</b>" +
                 (s["extraction"].contains("training_images")
                      ? " of " + show(s, "/extraction/training_images", Fmt::kInt) + " distinct training images"
                      : std::string()) +
                 " (" + show(s, "/extraction/extracted_generations", Fmt::kInt) + " generations within δ = " +
                 show(s, "/extraction/delta", Fmt::kFixed3) + ")");
  else
    t += row("Training images extracted", "<span class=\"notrun\">not run</span>");
  std::string mia;
  if (s.contains("mia"))
    for (auto it = s["mia"].begin(); it != s["mia"].end(); ++it) {
      const std::string p = "/mia/" + pointer_token(it.key());
      const bool measurable = it.value().contains("tpr_at_fpr_0.01") && it.value()["tpr_at_fpr_0.01"].is_number();
      mia += (mia.empty() ? "" : "; ") + html_escape(it.key()) + " <b>" +
             (measurable ? show(s, p + "/tpr_at_fpr_0.01", Fmt::kPercent) + "</b>" +
                               show_interval(s, p + "/ci/tpr_at_fpr_0.01", Fmt::kPercent)
                         : std::string("not measurable</b>")) +
             " (AUC " + show(s, p + "/auc", Fmt::kFixed3) + show_interval(s, p + "/ci/auc", Fmt::kFixed3) + ")";
    }
  t += row("Membership inference TPR@1%FPR", mia.empty() ? "<span class=\"notrun\">not run</span>" : mia);
  if (s.contains("split_check") && s["split_check"].contains("verdict"))
    t += row("Split check", html_escape(s["split_check"]["verdict"].get<std::string>()));
  if (s.contains("inpaint"))
    t += row("Inpainting", "hidden-region distance members " +
                               show(s, "/inpaint/mean_distance_members", Fmt::kFixed3) + " vs non-members " +
                               show(s, "/inpaint/mean_distance_nonmembers", Fmt::kFixed3) + "; AUC " +
                               show(s, "/inpaint/auc", Fmt::kFixed3));
  if (s.contains("quality"))
    t += row("Sample quality", (s["quality"]["metric"] == "FID"
                                        ? std::string("FID ")
                                        : "FD in " + html_escape(s["quality"].value("features", "")) + " space ") +
                                   show(s, "/quality/fd", Fmt::kSig4) + "; precision " +
                                   show(s, "/quality/precision_recall/precision", Fmt::kFixed3) + ", recall " +
                                   show(s, "/quality/precision_recall/recall", Fmt::kFixed3));
  if (s.contains("blackbox"))
    t += row("Black-box cliques", show(s, "/blackbox/flagged_cliques", Fmt::kInt) + " flagged");
  if (s.contains("screen"))
    t += row("Prompts screened", show(s, "/screen/prompts", Fmt::kInt) + " (" +
                                     show(s, "/screen/unet_images", Fmt::kInt) + " U-Net evaluations)");
  if (s.contains("text_to_image") && s["text_to_image"].value("extraction", Json()).is_object()) {
    std::string v = "<b>" + show(s, "/text_to_image/extraction/flagged", Fmt::kInt) + "</b> of " +
                    show(s, "/text_to_image/extraction/prompts", Fmt::kInt) + " prompts flagged";
    if (s["text_to_image"]["extraction"].value("with_train_image", int64_t{0}) > 0)
      v += ", " + show(s, "/text_to_image/extraction/extracted", Fmt::kInt) + " reproducing their training image";
    t += row("Generate-and-filter", v);
  }
  return t + "</table>\n";
}

}  // namespace

Report build_report(const ReportOptions& o) {
  const RunLayout run = read_run_dir(o.run);
  Report r;
  Json& s = r.summary;
  s = {{"created_by", "diffmem report"}, {"run", o.run.string()}};
  try {
    describe_model(run, s);
    describe_data(run, s);
  } catch (const nlohmann::json::exception& e) {
    fail(run.run.string(), "model, data and samples files of the documented shape", e.what());
  }
  std::vector<SectionOut> sections;
  // A stage file of the wrong shape (a string where a number belongs) surfaces as a JSON type
  // error; say which stage's files hold it.
  auto add = [&](const fs::path& dir, const std::function<SectionOut()>& f) {
    try {
      sections.push_back(f());
    } catch (const nlohmann::json::exception& e) {
      fail(dir.string(), "stage outputs of the documented shape", e.what());
    } catch (const std::logic_error& e) {  // std::stoll / std::stod on a CSV field
      fail(dir.string(), "numbers in its CSV files", std::string("a bad field (") + e.what() + ")");
    }
  };
  add(run.extract, [&] { return extraction_gallery(run, o, s); });
  add(run.extract, [&] { return duplicates_chart(run, s); });
  add(run.extract, [&] { return distance_histogram(run, s); });
  add(run.mia, [&] { return membership(run, s); });
  add(run.inpaint, [&] { return inpainting(run, o, s); });
  // The text-to-image sections only for a run with prompts: a pixel run leaves them out rather
  // than showing them as "not run".
  const fs::path blackbox_summary = run.blackbox / "summary.json";
  const bool prompts_run = fs::exists(run.screen) || fs::exists(run.prompts) ||
                           fs::is_regular_file(run.model / "model_index.json") ||
                           (fs::is_regular_file(blackbox_summary) &&
                            io::read_json(blackbox_summary).contains("text_to_image"));
  if (prompts_run) {
    add(run.screen, [&] { return screen_section(run, s); });
    add(run.blackbox, [&] { return prompt_table(run, o, s); });
  }
  add(run.blackbox, [&] { return blackbox_cliques(run, o, s); });
  add(run.quality, [&] { return quality_section(run, s); });

  std::string body = kStyle;
  body += "<p>Run <code>" + html_escape(o.run.string()) +
          "</code>. Carlini et al., <i>Extracting Training Data from Diffusion Models</i> (USENIX "
          "Security 2023), measured on this model.</p>\n";
  ReportSection top{"overview", "Summary", true, ""};
  body += section_html(top, overview(s));
  r.sections.push_back(top);
  s["sections"] = Json::object();
  for (const SectionOut& x : sections) {
    body += section_html(x.meta, x.body);
    r.sections.push_back(x.meta);
    s["sections"][x.meta.id] = x.meta.present ? Json("ok") : Json("not run: " + x.meta.note);
  }
  r.html = html_page(o.title, body);
  return r;
}

ReportResult write_report(const ReportOptions& options) {
  ReportOptions o = options;
  if (o.out.empty()) o.out = o.run / "report.html";
  if (o.summary.empty()) o.summary = o.out.parent_path() / "summary.json";
  if (o.summary == o.out) fail("--summary", "a path other than the page's", o.out.string());
  Report r = build_report(o);
  r.summary["options"] = io::fields_json(o);
  // The page is written out in full before summary.json replaces the old one, and renamed into
  // place only after it: a full disk leaves the old pair as it was (or, at worst, the new summary
  // beside the old page, never a half-written file).
  core::AtomicFile page(o.out);
  page.write(r.html);
  page.flush();
  io::write_json(o.summary, r.summary);
  page.commit();
  return {o.out, o.summary, r.html.size(), r.sections};
}

}  // namespace diffmem::report
