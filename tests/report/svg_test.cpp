#include "diffmem/report/svg.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "test_support.h"

using namespace diffmem;
using namespace diffmem::report;

namespace {

const std::string kNasty = "<b>\"A&B\"</b> it's";  // must come back intact after XML parsing

std::string python() {
  if (std::filesystem::exists("/usr/bin/python3")) return "/usr/bin/python3";
  return test::numpy_python();
}

// Parses each SVG with Python's xml.etree (a strict XML parser) and returns what it found, keyed
// as given: root tag, every <text>'s full text, the plot frame, polyline points, path data, lines.
io::Json parse_svgs(const std::vector<std::pair<std::string, std::string>>& svgs) {
  test::TempDir dir;
  std::string args;
  for (const auto& [name, svg] : svgs) {
    test::write_bytes(dir / (name + ".svg"), svg);
    args += " " + test::shell_quote(name) + " " + test::shell_quote((dir / (name + ".svg")).string());
  }
  test::write_bytes(dir / "parse.py", R"(import sys, json, xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
out = {}
a = sys.argv[1:]
for name, path in zip(a[0::2], a[1::2]):
    root = ET.parse(path).getroot()
    it = lambda tag: list(root.iter(NS + tag))
    frame = [r for r in it("rect") if r.get("fill") == "none"]
    out[name] = {
        "root": root.tag,
        "texts": ["".join(t.itertext()) for t in it("text")],
        "frame": [float(frame[0].get(k)) for k in ("x", "y", "width", "height")] if frame else [],
        "polylines": [[[float(v) for v in p.split(",")] for p in pl.get("points").split()]
                      for pl in it("polyline")],
        "paths": [p.get("d") for p in it("path")],
        "lines": [dict(l.attrib) for l in it("line")],
        "rects": len(it("rect")),
        "circles": len(it("circle")),
        "titles": [t.text for t in it("title")],
        "legend": [float(g.find(NS + "rect").get(k)) for g in it("g") if g.get("class") == "legend"
                   for k in ("x", "y")],
    }
json.dump(out, sys.stdout)
)");
  auto r = test::run_shell(python() + " " + test::shell_quote((dir / "parse.py").string()) + args);
  if (r.exit_code != 0) throw std::runtime_error("parse failed: " + r.output);
  return io::Json::parse(r.output);
}

bool contains(const io::Json& texts, const std::string& s) {
  for (const auto& t : texts)
    if (t.get<std::string>() == s) return true;
  return false;
}

const io::Json* dashed_line(const io::Json& lines, const std::string& stroke) {
  for (const auto& l : lines)
    if (l.contains("stroke-dasharray") && l["stroke"] == stroke) return &l;
  return nullptr;
}

}  // namespace

TEST(Svg, RocPlotIsWellFormedWithDecadesChanceAndEscapedNames) {
  if (python().empty()) GTEST_SKIP() << "no python";
  metrics::RocCurve simple;
  simple.fpr = {0, 0.01, 1};
  simple.tpr = {0, 0.1, 1};
  simple.thresholds = {INFINITY, 1, 0};
  simple.negatives = 20000;  // 1/N below 1e-4: the axis stops at 1e-4
  metrics::RocCurve small = metrics::roc_curve_from_groups({3, 2, 1}, {2.5, 0.5});  // N = 2
  RocPlotOptions o;
  o.title = "MIA <ROC>";
  std::string svg = roc_svg({{kNasty, simple}, {"small", small}}, o);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);

  // With only the N = 2 curve, no decade below 1/N is drawn: the axis starts at 0.1.
  std::string coarse = roc_svg({{"small", small}});
  RocPlotOptions fixed;
  fixed.min_rate = 1e-3;
  std::string at_1e3 = roc_svg({{"s", simple}}, fixed);
  io::Json p = parse_svgs({{"main", svg}, {"coarse", coarse}, {"fixed", at_1e3}});

  const io::Json& m = p["main"];
  EXPECT_EQ(m["root"], "{http://www.w3.org/2000/svg}svg");
  EXPECT_TRUE(contains(m["texts"], kNasty));
  EXPECT_TRUE(contains(m["texts"], "small"));
  EXPECT_TRUE(contains(m["texts"], "MIA <ROC>"));
  EXPECT_EQ(m["titles"][0], "MIA <ROC>");
  for (const char* label : {"10-4", "10-3", "10-2", "10-1", "1"}) EXPECT_TRUE(contains(m["texts"], label)) << label;
  EXPECT_FALSE(contains(m["texts"], "10-5"));
  EXPECT_TRUE(contains(m["texts"], "False positive rate"));
  // ROC legends sit bottom-right, below the curves, when that corner is free.
  ASSERT_EQ(m["legend"].size(), 2u);
  EXPECT_GT(m["legend"][0].get<double>(), m["frame"][0].get<double>() + m["frame"][2].get<double>() / 2);
  EXPECT_GT(m["legend"][1].get<double>(), m["frame"][1].get<double>() + m["frame"][3].get<double>() / 2);

  // Geometry: FPR 1e-2 is half way along a 1e-4..1 log axis, TPR 1e-1 three quarters up; 0 sits on
  // the axis minimum (bottom-left corner); (1, 1) is the top-right corner.
  const auto& f = m["frame"];
  double left = f[0], top = f[1], w = f[2], h = f[3];
  const auto& pts = m["polylines"][0];
  ASSERT_EQ(pts.size(), 3u);
  EXPECT_NEAR(pts[0][0].get<double>(), left, 0.06);
  EXPECT_NEAR(pts[0][1].get<double>(), top + h, 0.06);
  EXPECT_NEAR(pts[1][0].get<double>(), left + w / 2, 0.06);
  EXPECT_NEAR(pts[1][1].get<double>(), top + h / 4, 0.06);
  EXPECT_NEAR(pts[2][0].get<double>(), left + w, 0.06);
  EXPECT_NEAR(pts[2][1].get<double>(), top, 0.06);
  // The chance diagonal runs corner to corner.
  const io::Json* chance = dashed_line(m["lines"], "#888");
  ASSERT_NE(chance, nullptr);
  EXPECT_NEAR(std::stod((*chance)["x1"].get<std::string>()), left, 0.06);
  EXPECT_NEAR(std::stod((*chance)["y2"].get<std::string>()), top, 0.06);

  EXPECT_TRUE(contains(p["coarse"]["texts"], "10-1"));
  EXPECT_FALSE(contains(p["coarse"]["texts"], "10-2"));
  EXPECT_TRUE(contains(p["fixed"]["texts"], "10-3"));
  EXPECT_FALSE(contains(p["fixed"]["texts"], "10-4"));
}

TEST(Svg, LargeRocCurveStaysSmall) {
  core::Rng rng(5);
  std::vector<double> mem, non;
  for (int i = 0; i < 200000; ++i) mem.push_back(rng.uniform() + 0.3), non.push_back(rng.uniform());
  metrics::RocCurve c = metrics::roc_curve_from_groups(mem, non);
  ASSERT_GT(c.size(), 300000u);
  std::string svg = roc_svg({{"big", c}});
  EXPECT_LT(svg.size(), 60000u) << "points are merged at pixel resolution";
}

TEST(Svg, RocBadInput) {
  metrics::RocCurve broken;
  broken.fpr = {0, 1};
  broken.tpr = {0};
  EXPECT_NE(test::error_of([&] { roc_svg({{"broken", broken}}); }).find("\"broken\""),
            std::string::npos);
  // One non-member: FPR steps of 1, yet the axis still shows the decade 0.1..1.
  EXPECT_NE(roc_svg({{"one", metrics::roc_curve({1, 0}, {true, false})}}).find("<polyline"),
            std::string::npos);
  RocPlotOptions o;
  o.min_rate = 2;
  EXPECT_NE(test::error_of([&] { roc_svg({}, o); }).find("min_rate"), std::string::npos);
}

TEST(Svg, HistogramWithThreshold) {
  if (python().empty()) GTEST_SKIP() << "no python";
  metrics::Histogram a = metrics::histogram({0.05, 0.15, 0.15, 0.25}, {4, 0.0, 0.4});
  metrics::Histogram b = metrics::histogram({0.5, 0.6, 0.7}, {3, 0.4, 1.0});
  HistogramPlotOptions o;
  o.title = "ℓ2 to nearest training image";
  o.x_label = "distance";
  o.threshold = 0.15;
  std::string svg = histogram_svg({{"members & co", a}, {kNasty, b}}, o);
  o.density = true;
  o.threshold_label = "δ <0.15>";
  std::string dens = histogram_svg({{"a", a}}, o);
  io::Json p = parse_svgs({{"h", svg}, {"d", dens}});
  const io::Json& h = p["h"];
  EXPECT_TRUE(contains(h["texts"], "members & co"));
  EXPECT_TRUE(contains(h["texts"], kNasty));
  EXPECT_TRUE(contains(h["texts"], "threshold = 0.150"));
  EXPECT_TRUE(contains(h["texts"], "ℓ2 to nearest training image"));
  EXPECT_EQ(h["paths"].size(), 2u);
  // x runs over the union [0, 1]: the threshold line sits 15% of the way across.
  const io::Json* t = dashed_line(h["lines"], "#C00000");
  ASSERT_NE(t, nullptr);
  double left = h["frame"][0], w = h["frame"][2];
  EXPECT_NEAR(std::stod((*t)["x1"].get<std::string>()), left + 0.15 * w, 0.06);
  // Counts get whole-number ticks up to the largest count, 2.
  EXPECT_TRUE(contains(h["texts"], "2"));
  EXPECT_FALSE(contains(h["texts"], "0.5"));
  EXPECT_TRUE(contains(p["d"]["texts"], "δ <0.15>"));
  // Densities of {0.05, 0.15, 0.15, 0.25} in 0.1-wide bins reach 5; the axis label shows it.
  EXPECT_TRUE(contains(p["d"]["texts"], "5"));
  HistogramPlotOptions bad;
  bad.threshold = NAN;
  EXPECT_NE(test::error_of([&] { histogram_svg({{"a", a}}, bad); }).find("finite threshold"),
            std::string::npos);
}

TEST(Svg, LineAndBarCharts) {
  if (python().empty()) GTEST_SKIP() << "no python";
  ChartSeries s1{"white-box", {1, 10, 100, 1000}, {0.0, 0.05, 0.4, 0.9}};
  ChartSeries s2{kNasty, {1, 10, 100}, {0.0, 0.01, 0.2}};
  ChartOptions o;
  o.title = "Extraction vs duplicates";
  o.x_label = "duplicate count";
  o.y_label = "extraction rate";
  o.log_x = true;
  std::string line = chart_svg({s1, s2}, o);
  o.kind = ChartKind::kBar;
  o.log_x = false;
  std::string bar = chart_svg({s1, s2}, o);
  io::Json p = parse_svgs({{"line", line}, {"bar", bar}});
  const io::Json& l = p["line"];
  EXPECT_EQ(l["polylines"].size(), 2u);
  EXPECT_EQ(l["circles"], 7);
  for (const char* label : {"1", "10", "100", "1000", "extraction rate", "duplicate count"})
    EXPECT_TRUE(contains(l["texts"], label)) << label;
  EXPECT_TRUE(contains(l["texts"], kNasty));
  // Points are sorted by x and evenly spaced on the log axis (1, 10, 100, 1000 = the full width).
  const auto& pts = l["polylines"][0];
  double left = l["frame"][0], w = l["frame"][2], top = l["frame"][1], h = l["frame"][3];
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(pts[k][0].get<double>(), left + w * k / 3, 0.06) << k;
  EXPECT_NEAR(pts[3][1].get<double>(), top + h * 0.1, 0.06);  // 0.9 of a 0..1 axis
  // The curves rise to the top-right corner, so the legend goes top-left, clear of them.
  ASSERT_EQ(l["legend"].size(), 2u);
  EXPECT_LT(l["legend"][0].get<double>(), left + w / 2);
  EXPECT_LT(l["legend"][1].get<double>(), top + h / 2);
  const io::Json& b = p["bar"];
  // Background + frame + legend box and swatches (3) + one bar per point (7).
  EXPECT_EQ(b["rects"], 2 + 3 + 7);
  for (const char* label : {"1", "10", "100", "1000"}) EXPECT_TRUE(contains(b["texts"], label)) << label;
}

TEST(Svg, ChartBadInput) {
  EXPECT_NE(test::error_of([] { chart_svg({{"uneven", {1, 2}, {1}}}); }).find("\"uneven\""),
            std::string::npos);
  ChartOptions o;
  o.log_x = true;
  EXPECT_NE(test::error_of([&] { chart_svg({{"zero", {0, 1}, {1, 2}}}, o); }).find("x > 0"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { chart_svg({{"nan", {1}, {NAN}}}); }).find("finite"),
            std::string::npos);
}
