// The report page from hand-built run directories: sections found or "not run", numbers equal to
// summary.json and to the stage files, embedded images equal to the pixels they show, escaping,
// malformed files named in errors.
#include "diffmem/report/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/data/generations.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/metrics/histogram.h"
#include "diffmem/metrics/roc.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using io::Json;

const std::string kEvil = "<script>alert(\"x\")</script> & 'quotes'";

io::HostArray images(int64_t n, int64_t h, int64_t w, int64_t c, int salt) {
  io::HostArray a = io::HostArray::zeros(io::DType::kU8, {n, h, w, c});
  for (size_t i = 0; i < a.bytes.size(); ++i) a.bytes[i] = static_cast<uint8_t>((i * 37 + salt * 101) % 251);
  return a;
}

io::HostArray row(const io::HostArray& a, int64_t i) {
  const int64_t per = a.shape[1] * a.shape[2] * a.shape[3];
  io::HostArray r = io::HostArray::zeros(io::DType::kU8, {a.shape[1], a.shape[2], a.shape[3]});
  std::copy(a.bytes.begin() + i * per, a.bytes.begin() + (i + 1) * per, r.bytes.begin());
  return r;
}

// A run as the audit leaves it: data, train-data, model, samples, extract, mia (loss), blackbox;
// inpaint marked "not run" by its stage file.
struct FakeRun {
  test::TempDir tmp;
  fs::path run = tmp / "run";
  io::HostArray gens0 = images(6, 8, 8, 1, 1), gens1 = images(4, 8, 8, 1, 2);
  io::HostArray train = images(5, 8, 8, 1, 3);
  metrics::RocCurve curve;

  FakeRun() {
    fs::create_directories(run);
    io::write_json(run / "data" / "manifest.json",
                   {{"source", "fashion-mnist"}, {"count", 7}, {"distinct", 6},
                    {"members", {{"count", 3}, {"of", 6}, {"member_rows", 5}}},
                    {"duplicates", {{{"id", 11}, {"count", 1}}, {{"id", 12}, {"count", 2}}}}});
    io::write_npy(run / "train-data" / "images.npy", train);
    io::write_json(run / "model" / "config.json", {{"sample_size", 8}, {"in_channels", 1}});
    io::write_json(run / "model" / "train_options.json", {{"preset", "tiny"}, {"steps", 30}});
    io::write_json(run / "samples" / "manifest.json",
                   {{"n", 10}, {"sample", {{"sampler", "ddim"}, {"steps", 10}}}});
    // Shards as `diffmem sample` writes them (seeds beside the images).
    data::write_shard(run / "samples", 0, gens0, {0, 1, 2, 3, 4, 5});
    data::write_shard(run / "samples", 1, gens1, {6, 7, 8, 9});

    metrics::HistogramOptions ho;
    ho.bins = 5;
    ho.lo = 0.0;
    ho.hi = 0.5;
    Json hist;
    metrics::to_json(hist, metrics::histogram({0.05, 0.1, 0.12, 0.3, 0.45, 0.2}, ho));
    Json pairs = Json::array();
    pairs.push_back({{"generation", 7}, {"shard", 1}, {"index", 1}, {"seed", 107}, {"row", 4}, {"id", 12},
                     {"l2", 0.05}, {"tiled_l2", 0.08}, {"calibrated_l2", nullptr}});
    pairs.push_back({{"generation", 2}, {"shard", 0}, {"index", 2}, {"seed", 102}, {"row", 0}, {"id", 11},
                     {"l2", 0.2}, {"tiled_l2", 0.31}, {"calibrated_l2", nullptr}});
    io::write_json(run / "extract" / "summary.json",
                   {{"generations", 10}, {"delta", 0.15}, {"criterion", "l2 <= delta"},
                    {"extracted_generations", 3}, {"unique_extracted", 1}, {"within_delta", 3},
                    {"train", {{"dir", "/elsewhere"}, {"distinct_ids", 3}}},
                    {"l2", {{"min", 0.05}, {"median", 0.15}, {"max", 0.45}}},
                    {"duplicate_rates", {{{"count", 1}, {"planted", 1}, {"extracted", 0}, {"rate", 0.0}},
                                         {{"count", 2}, {"planted", 1}, {"extracted", 1}, {"rate", 1.0}}}},
                    {"unplanted", {{"images", 1}, {"extracted", 0}, {"rate", 0.0}}},
                    {"histograms", {{"l2", hist}}},
                    {"top_pairs", pairs}});
    core::write_file_atomic(run / "extract" / "matches.csv",
                            "generation,shard,seed,nearest_row,nearest_id,l2,tiled_l2,calibrated_l2,extracted\n"
                            "3,0,103,2,13,0.25,0.3,,0\n");

    curve = metrics::roc_curve({0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2},
                               {true, true, false, true, false, true, false, false});
    Json ms;
    metrics::to_json(ms, metrics::summarize(curve));
    io::write_json(run / "mia" / "loss" / "summary.json", ms);
    metrics::write_roc_csv(run / "mia" / "loss" / "roc.csv", curve);

    io::write_json(run / "blackbox" / "summary.json",
                   {{"groups", 1}, {"images", 10}, {"flagged", 1},
                    {"options", {{"analysis", {{"min_clique", 3}, {"edge_threshold", 0.15}}}}}});
    core::write_file_atomic(run / "blackbox" / "prompts.csv",
                            "rank,id,prompt\n1,samples,\"" + std::string("<script>alert(\"\"x\"\")</script> & 'quotes'") +
                                "\"\n");
    core::write_file_atomic(run / "blackbox" / "cliques.csv",
                            "id,clique,size,mean_distance,flagged,medoid,members\n"
                            "samples,1,3,0.100000,1,#3,#1 #3 #8\n"
                            "samples,2,1,,0,#0,#0\n");
    io::write_json(run / "stages" / "inpaint.json",
                   {{"state", "not run"}, {"detail", "no non-members <b>here</b>"}});
  }
};

// Every data-key number on the page is summary.json's value at that pointer, formatted.
void expect_keys_match(const std::string& html, const Json& summary, size_t at_least) {
  const std::regex re("data-key=\"([^\"]*)\">([^<]*)<");
  size_t n = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), re); it != std::sregex_iterator(); ++it, ++n) {
    const std::string key = (*it)[1], text = (*it)[2];
    const Json::json_pointer p(key);
    if (text == "—") {
      EXPECT_TRUE(!summary.contains(p) || !summary.at(p).is_number()) << key;
      continue;
    }
    ASSERT_TRUE(summary.contains(p)) << key;
    const double v = summary.at(p).get<double>();
    if (text.back() == '%') {
      EXPECT_NEAR(std::stod(text), 100 * v, 0.05 + 1e-9) << key;
    } else if (text.find('.') != std::string::npos) {
      EXPECT_NEAR(std::stod(text), v, 0.0005 + 1e-9) << key;
    } else {
      EXPECT_EQ(std::stoll(text), std::llround(v)) << key;
    }
  }
  EXPECT_GE(n, at_least);
}

std::string base64_decode(const std::string& s) {
  const std::string abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t val = 0;  // unsigned: the shifts wrap instead of overflowing an int (UBSan found it)
  int bits = -8;
  for (char c : s) {
    if (c == '=') break;
    val = (val << 6) + static_cast<uint32_t>(abc.find(c));
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

std::vector<std::string> embedded_pngs(const std::string& html) {
  // Found by hand: std::regex recurses per character and long base64 runs would exhaust the stack.
  const std::string tag = "src=\"data:image/png;base64,";
  std::vector<std::string> out;
  for (size_t p = html.find(tag); p != std::string::npos; p = html.find(tag, p + 1)) {
    const size_t begin = p + tag.size(), end = html.find('"', begin);
    out.push_back(base64_decode(html.substr(begin, end - begin)));
  }
  return out;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Report, SectionsFromTheRunAndNumbersEqualSummary) {
  FakeRun f;
  report::ReportOptions o;
  o.run = f.run;
  const report::Report r = report::build_report(o);
  std::map<std::string, bool> present;
  for (const auto& s : r.sections) present[s.id] = s.present;
  EXPECT_TRUE(present["overview"] && present["gallery"] && present["duplicates"] && present["distances"] &&
              present["mia"] && present["blackbox"]);
  EXPECT_FALSE(present["inpaint"]);
  EXPECT_EQ(r.summary["sections"]["inpaint"], "not run: no non-members <b>here</b>");
  EXPECT_NE(r.html.find("Not run: no non-members &lt;b&gt;here&lt;/b&gt;"), std::string::npos);

  // The summary holds the stage files' numbers.
  EXPECT_EQ(r.summary["extraction"]["unique_extracted"], 1);
  EXPECT_EQ(r.summary["extraction"]["generations"], 10);
  EXPECT_EQ(r.summary["generations"]["count"], 10);  // counted from the shards
  EXPECT_EQ(r.summary["extraction"]["duplicate_rates"][1]["rate"], 1.0);
  EXPECT_DOUBLE_EQ(r.summary["mia"]["loss"]["auc"].get<double>(), f.curve.auc());
  // 4 non-members: a TPR at 1% FPR is not measurable and shows as null, not as the TPR at FPR 0.
  EXPECT_TRUE(r.summary["mia"]["loss"]["tpr_at_fpr_0.01"].is_null());
  EXPECT_NE(f.curve.tpr_at_fpr(0.01), 0.0);
  EXPECT_EQ(r.summary["mia"]["loss"]["members"], 4);
  EXPECT_EQ(r.summary["data"]["members"], 3);
  EXPECT_EQ(r.summary["data"]["nonmembers"], 3);
  EXPECT_EQ(r.summary["blackbox"]["flagged_cliques"], 1);
  EXPECT_EQ(r.summary["blackbox"]["cliques"][0]["nearest_id"], 13);  // medoid #3 via matches.csv
  EXPECT_EQ(r.summary["extraction"]["gallery"][0]["extracted"], true);
  EXPECT_EQ(r.summary["extraction"]["gallery"][1]["extracted"], false);
  expect_keys_match(r.html, r.summary, 30);

  // Charts are inline SVG; nothing is loaded from anywhere and there is no script.
  EXPECT_GE(count(r.html, "<svg"), 3u);  // duplicates chart, histogram, ROC
  EXPECT_EQ(r.html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(r.html.find("href="), std::string::npos);
  EXPECT_EQ(r.html.find("url("), std::string::npos);
  EXPECT_EQ(r.html.find("<script"), std::string::npos);
}

TEST(Report, EmbeddedImagesAreTheGenerationsAndTrainingImages) {
  FakeRun f;
  report::ReportOptions o;
  o.run = f.run;
  const report::Report r = report::build_report(o);
  const auto pngs = embedded_pngs(r.html);
  // Gallery: 2 pairs; clique: its 3 members.
  ASSERT_EQ(pngs.size(), 2u * 2 + 3);
  auto decode = [&](const std::string& bytes) {
    const fs::path p = f.tmp / "x.png";
    test::write_bytes(p, bytes);
    return io::read_image(p);
  };
  // Pair 0: generation 7 = shard 1 index 1; training row 4.
  EXPECT_EQ(decode(pngs[0]).bytes, row(f.gens1, 1).bytes);
  EXPECT_EQ(decode(pngs[1]).bytes, row(f.train, 4).bytes);
  EXPECT_EQ(decode(pngs[2]).bytes, row(f.gens0, 2).bytes);
  EXPECT_EQ(decode(pngs[3]).bytes, row(f.train, 0).bytes);
  // Clique: medoid #3 first, then #1, then #8 (= shard 1 index 2).
  EXPECT_EQ(decode(pngs[4]).bytes, row(f.gens0, 3).bytes);
  EXPECT_EQ(decode(pngs[5]).bytes, row(f.gens0, 1).bytes);
  EXPECT_EQ(decode(pngs[6]).bytes, row(f.gens1, 2).bytes);
}

TEST(Report, TextFromInputIsEscaped) {
  FakeRun f;
  report::ReportOptions o;
  o.run = f.run;
  o.title = "title " + kEvil;
  const report::Report r = report::build_report(o);
  EXPECT_EQ(r.html.find("<script"), std::string::npos);
  EXPECT_NE(r.html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;"),
            std::string::npos);
  EXPECT_EQ(r.summary["blackbox"]["cliques"][0]["prompt"], kEvil);  // raw in the JSON
}

TEST(Report, EmptyRunSaysNotRunEverywhere) {
  test::TempDir tmp;
  report::ReportOptions o;
  o.run = tmp.path();
  const report::Report r = report::build_report(o);
  for (const auto& s : r.sections) EXPECT_EQ(s.present, s.id == "overview") << s.id;
  EXPECT_GE(count(r.html, "Not run"), 6u);
  EXPECT_FALSE(r.summary.contains("extraction"));
  EXPECT_EQ(r.summary["model"]["found"], false);
}

TEST(Report, MalformedStageFilesNameTheFile) {
  {
    FakeRun f;
    core::write_file_atomic(f.run / "mia" / "loss" / "roc.csv", "fpr,tpr,threshold\n0,0,inf\n0.5,x,1\n");
    report::ReportOptions o;
    o.run = f.run;
    try {
      report::build_report(o);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("roc.csv"), std::string::npos) << e.what();
    }
  }
  {
    FakeRun f;
    core::write_file_atomic(f.run / "extract" / "summary.json", "{\"generations\": 3,");
    report::ReportOptions o;
    o.run = f.run;
    try {
      report::build_report(o);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("summary.json"), std::string::npos) << e.what();
    }
  }
  {
    FakeRun f;
    core::write_file_atomic(f.run / "blackbox" / "cliques.csv", "id,clique\n\"unterminated\n");
    report::ReportOptions o;
    o.run = f.run;
    try {
      report::build_report(o);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cliques.csv"), std::string::npos) << e.what();
    }
  }
  {
    test::TempDir tmp;
    report::ReportOptions o;
    o.run = tmp / "missing";
    EXPECT_THROW(report::build_report(o), Error);
  }
}

TEST(Report, WritesPageAndSummaryBesideIt) {
  FakeRun f;
  report::ReportOptions o;
  o.run = f.run;
  const auto r = report::write_report(o);
  EXPECT_EQ(r.html, f.run / "report.html");
  EXPECT_EQ(r.summary, f.run / "summary.json");
  const Json s = io::read_json(r.summary);
  const std::string html = test::read_bytes(r.html);
  EXPECT_EQ(html.size(), r.html_bytes);
  EXPECT_EQ(s["extraction"]["unique_extracted"], 1);
  expect_keys_match(html, s, 30);
  o.out = f.tmp / "elsewhere" / "page.html";
  const auto r2 = report::write_report(o);
  EXPECT_EQ(r2.summary, f.tmp / "elsewhere" / "summary.json");
  EXPECT_TRUE(fs::is_regular_file(r2.html));
}

}  // namespace
}  // namespace diffmem
