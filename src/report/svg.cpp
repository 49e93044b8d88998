#include "diffmem/report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/core/format.h"
#include "diffmem/report/html.h"

namespace diffmem::report {
namespace {

const char* const kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                               "#E69F00", "#56B4E9", "#000000", "#999999"};
const char* color(size_t i) { return kColors[i % (sizeof kColors / sizeof kColors[0])]; }

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A tick label with no more digits than the tick step needs ("0.25", "100", "1e+06").
std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-9) v = 0;
  char buf[40];
  if (std::abs(v) >= 1e6) {
    std::snprintf(buf, sizeof buf, "%g", v);
  } else {
    int digits = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", std::min(digits, 10), v);
  }
  return buf;
}

// One axis: data interval [lo, hi] onto pixels [p0, p1] (p1 < p0 for a y axis).
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double p0 = 0, p1 = 1;
  double map(double v) const {
    double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                   : (v - lo) / (hi - lo);
    return p0 + t * (p1 - p0);
  }
};

// Pixels the data covers, so the legend can go where it hides the least.
using Occupied = std::vector<std::pair<double, double>>;
void add_segment(Occupied& occ, double x0, double y0, double x1, double y1) {
  for (int k = 0; k <= 8; ++k) occ.emplace_back(x0 + (x1 - x0) * k / 8, y0 + (y1 - y0) * k / 8);
}

// Round steps of 1, 2, 5 × 10^k, about `target` of them across [lo, hi].
double nice_step(double lo, double hi, int target = 5) {
  double raw = (hi - lo) / target;
  if (!(raw > 0)) return 1;
  double mag = std::pow(10, std::floor(std::log10(raw)));
  double r = raw / mag;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

// The canvas: a plot rectangle inside margins that leave room for title, ticks and labels.
class Canvas {
 public:
  Canvas(int width, int height, const std::string& title, const std::string& x_label,
         const std::string& y_label)
      : w_(std::max(width, 160)), h_(std::max(height, 120)) {
    left_ = 62, right_ = w_ - 14, top_ = title.empty() ? 14 : 34, bottom_ = h_ - 44;
    out_ = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w_) +
           "\" height=\"" + std::to_string(h_) + "\" viewBox=\"0 0 " + std::to_string(w_) + " " +
           std::to_string(h_) + "\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\"";
    if (!title.empty()) out_ += " aria-label=\"" + html_escape(title) + "\"";
    out_ += ">\n";
    if (!title.empty()) out_ += "<title>" + html_escape(title) + "</title>\n";
    out_ += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
    if (!title.empty()) text(w_ / 2.0, 20, title, "middle", "font-size=\"14\" font-weight=\"bold\"");
    if (!x_label.empty()) text((left_ + right_) / 2.0, h_ - 8, x_label, "middle", "font-size=\"12\"");
    if (!y_label.empty()) {
      double x = 14, y = (top_ + bottom_) / 2.0;
      text(x, y, y_label, "middle",
           "font-size=\"12\" transform=\"rotate(-90 " + px(x) + " " + px(y) + ")\"");
    }
  }
  Axis x_axis(double lo, double hi, bool log) const { return {lo, hi, log, left_, right_}; }
  Axis y_axis(double lo, double hi, bool log) const { return {lo, hi, log, bottom_, top_}; }
  double left() const { return left_; }
  double right() const { return right_; }
  double top() const { return top_; }
  double bottom() const { return bottom_; }

  void raw(const std::string& s) { out_ += s; }
  void text(double x, double y, const std::string& s, const char* anchor,
            const std::string& extra = "") {
    out_ += "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" text-anchor=\"" + anchor + "\"" +
            (extra.empty() ? "" : " " + extra) + ">" + html_escape(s) + "</text>\n";
  }
  void line(double x1, double y1, double x2, double y2, const std::string& style) {
    out_ += "<line x1=\"" + px(x1) + "\" y1=\"" + px(y1) + "\" x2=\"" + px(x2) + "\" y2=\"" +
            px(y2) + "\" " + style + "/>\n";
  }
  // Gridline and label for one tick; the label is markup (a decade's superscript) or plain text.
  void x_tick(const Axis& a, double v, const std::string& label_markup) {
    double x = a.map(v);
    line(x, top_, x, bottom_, "stroke=\"#e4e4e4\"");
    line(x, bottom_, x, bottom_ + 4, "stroke=\"#444\"");
    out_ += "<text x=\"" + px(x) + "\" y=\"" + px(bottom_ + 16) + "\" text-anchor=\"middle\">" +
            label_markup + "</text>\n";
  }
  void y_tick(const Axis& a, double v, const std::string& label_markup) {
    double y = a.map(v);
    line(left_, y, right_, y, "stroke=\"#e4e4e4\"");
    line(left_ - 4, y, left_, y, "stroke=\"#444\"");
    out_ += "<text x=\"" + px(left_ - 7) + "\" y=\"" + px(y + 4) + "\" text-anchor=\"end\">" +
            label_markup + "</text>\n";
  }
  void linear_ticks(const Axis& a, bool is_x, double min_step = 0) {
    double step = std::max(nice_step(a.lo, a.hi), min_step);
    for (double v = std::ceil(a.lo / step - 1e-9) * step; v <= a.hi + step * 1e-9; v += step) {
      std::string label = html_escape(tick_label(v, step));
      is_x ? x_tick(a, v, label) : y_tick(a, v, label);
    }
  }
  void frame() {
    out_ += "<rect x=\"" + px(left_) + "\" y=\"" + px(top_) + "\" width=\"" + px(right_ - left_) +
            "\" height=\"" + px(bottom_ - top_) + "\" fill=\"none\" stroke=\"#444\"/>\n";
  }
  // Legend box in the plot corner covering the fewest data pixels (ties: the corners in the order
  // top-right, top-left, bottom-right, bottom-left, starting from `preferred`); swatch line or box.
  void legend(const std::vector<std::string>& names, bool boxes, const Occupied& occ,
              int preferred = 0, const char* box_opacity = "0.45") {
    if (names.empty()) return;
    size_t longest = 0;
    for (const auto& n : names) longest = std::max(longest, n.size());
    double bw = 34 + 6.2 * static_cast<double>(std::min<size_t>(longest, 60));
    double bh = 8 + 16.0 * static_cast<double>(names.size());
    double x0 = 0, y0 = 0;
    size_t best = SIZE_MAX;
    for (int k = 0; k < 4; ++k) {
      int corner = (preferred + k) % 4;
      double cx = corner % 2 == 0 ? right_ - bw - 8 : left_ + 8;
      double cy = corner < 2 ? top_ + 8 : bottom_ - bh - 8;
      size_t hits = 0;
      for (const auto& [x, y] : occ)
        hits += x >= cx - 2 && x <= cx + bw + 2 && y >= cy - 2 && y <= cy + bh + 2;
      if (hits < best) best = hits, x0 = cx, y0 = cy;
    }
    out_ += "<g class=\"legend\">\n<rect x=\"" + px(x0) + "\" y=\"" + px(y0) + "\" width=\"" +
            px(bw) + "\" height=\"" + px(bh) +
            "\" fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n";
    for (size_t i = 0; i < names.size(); ++i) {
      double y = y0 + 12 + 16.0 * static_cast<double>(i);
      if (boxes)
        out_ += "<rect x=\"" + px(x0 + 6) + "\" y=\"" + px(y - 5) + "\" width=\"18\" height=\"9\" " +
                "fill=\"" + color(i) + "\" fill-opacity=\"" + box_opacity + "\" stroke=\"" + color(i) +
                "\"/>\n";
      else
        line(x0 + 6, y, x0 + 24, y, std::string("stroke=\"") + color(i) + "\" stroke-width=\"2\"");
      text(x0 + 29, y + 4, names[i], "start");
    }
    out_ += "</g>\n";
  }
  std::string finish() { return out_ + "</svg>\n"; }

 private:
  int w_, h_;
  double left_, right_, top_, bottom_;
  std::string out_;
};

// Polyline points, merging points within half a pixel of the last one kept (the last is kept).
std::string polyline(const std::vector<double>& xs, const std::vector<double>& ys, Occupied& occ) {
  std::string pts;
  double lx = 0, ly = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    bool last = i + 1 == xs.size();
    if (i > 0 && !last && std::abs(xs[i] - lx) < 0.5 && std::abs(ys[i] - ly) < 0.5) continue;
    if (!pts.empty()) add_segment(occ, lx, ly, xs[i], ys[i]);
    pts += (pts.empty() ? "" : " ") + px(xs[i]) + "," + px(ys[i]);
    lx = xs[i], ly = ys[i];
  }
  if (xs.size() == 1) occ.emplace_back(xs[0], ys[0]);
  return pts;
}

std::string decade_label(int k) {
  if (k == 0) return "1";
  return "10<tspan dy=\"-5\" font-size=\"8\">" + std::to_string(k) + "</tspan>";
}

}  // namespace

std::string roc_svg(const std::vector<RocSeries>& curves, const RocPlotOptions& o) {
  double min_rate = o.min_rate;
  if (min_rate == 0) {
    // The finest FPR the data can resolve: 1/N, or the smallest nonzero step when N is unknown.
    double finest = 1;
    for (const RocSeries& c : curves) {
      if (c.curve.negatives > 0) finest = std::min(finest, 1.0 / static_cast<double>(c.curve.negatives));
      for (double f : c.curve.fpr)
        if (f > 0) finest = std::min(finest, f);
    }
    // At least one decade is shown, even for a single non-member (FPR steps of 1).
    min_rate = std::clamp(std::pow(10, std::floor(std::log10(finest) + 1e-9)), 1e-4, 0.1);
  }
  if (!(min_rate > 0 && min_rate < 1)) fail("roc_svg", "min_rate in (0, 1)", core::exact_number(min_rate));
  Canvas cv(o.width, o.height, o.title, o.x_label, o.y_label);
  Axis ax = cv.x_axis(min_rate, 1, true), ay = cv.y_axis(min_rate, 1, true);
  for (int k = static_cast<int>(std::ceil(std::log10(min_rate) - 1e-9)); k <= 0; ++k) {
    cv.x_tick(ax, std::pow(10, k), decade_label(k));
    cv.y_tick(ay, std::pow(10, k), decade_label(k));
  }
  cv.frame();
  if (o.chance_line)
    cv.line(ax.map(min_rate), ay.map(min_rate), ax.map(1), ay.map(1),
            "stroke=\"#888\" stroke-dasharray=\"4 4\"");
  std::vector<std::string> names;
  Occupied occ;
  for (size_t i = 0; i < curves.size(); ++i) {
    const metrics::RocCurve& c = curves[i].curve;
    check(c.fpr.size() == c.tpr.size(), "roc_svg: curve \"" + curves[i].name + "\"",
          "as many TPRs as FPRs (" + std::to_string(c.fpr.size()) + ")", std::to_string(c.tpr.size()));
    if (const auto& b = curves[i].band; b && !b->fpr.empty()) {  // low edge out, high edge back
      std::string pts;
      for (size_t k = 0, n = b->fpr.size(); k < 2 * n; ++k)
        pts += px(ax.map(std::clamp(b->fpr[k < n ? k : 2 * n - 1 - k], min_rate, 1.0))) + "," +
               px(ay.map(std::clamp(k < n ? b->low[k] : b->high[2 * n - 1 - k], min_rate, 1.0))) + " ";
      cv.raw("<polygon fill=\"" + std::string(color(i)) + "\" fill-opacity=\"0.18\" points=\"" + pts + "\"/>\n");
    }
    std::vector<double> xs, ys;
    for (size_t k = 0; k < c.fpr.size(); ++k) {
      xs.push_back(ax.map(std::clamp(c.fpr[k], min_rate, 1.0)));
      ys.push_back(ay.map(std::clamp(c.tpr[k], min_rate, 1.0)));
    }
    cv.raw("<polyline fill=\"none\" stroke=\"" + std::string(color(i)) +
           "\" stroke-width=\"1.8\" points=\"" + polyline(xs, ys, occ) + "\"/>\n");
    names.push_back(curves[i].name);
  }
  cv.legend(names, /*boxes=*/false, occ, /*preferred=bottom-right*/ 2);
  return cv.finish();
}

std::string histogram_svg(const std::vector<HistogramSeries>& series,
                          const HistogramPlotOptions& o) {
  double lo = INFINITY, hi = -INFINITY, ymax = 0;
  std::vector<std::vector<double>> heights;
  for (const HistogramSeries& s : series) {
    const metrics::Histogram& h = s.histogram;
    check(h.bins() >= 1 && std::isfinite(h.lo) && std::isfinite(h.hi) && h.lo < h.hi,
          "histogram_svg: series \"" + s.name + "\"", "at least one bin over a finite range",
          std::to_string(h.bins()) + " bins over [" + core::exact_number(h.lo) + ", " + core::exact_number(h.hi) + "]");
    lo = std::min(lo, h.lo);
    hi = std::max(hi, h.hi);
    std::vector<double> v = o.density ? h.density() : std::vector<double>(h.counts.begin(), h.counts.end());
    for (double x : v) ymax = std::max(ymax, x);
    heights.push_back(std::move(v));
  }
  if (o.threshold) {
    if (!std::isfinite(*o.threshold)) fail("histogram_svg", "a finite threshold", core::exact_number(*o.threshold));
    lo = std::min(lo, *o.threshold);
    hi = std::max(hi, *o.threshold);
  }
  if (!(lo < hi)) lo = std::isfinite(lo) ? lo - 0.5 : 0, hi = std::isfinite(hi) ? hi + 0.5 : 1;
  // Counts are whole numbers: never a tick step below 1 for them.
  double ystep = std::max(nice_step(0, ymax > 0 ? ymax : 1), o.density ? 0.0 : 1.0);
  double ytop = std::max(ystep, std::ceil(ymax / ystep - 1e-9) * ystep);
  Canvas cv(o.width, o.height, o.title, o.x_label, o.y_label);
  Axis ax = cv.x_axis(lo, hi, false), ay = cv.y_axis(0, ytop, false);
  cv.linear_ticks(ax, true);
  cv.linear_ticks(ay, false, o.density ? 0.0 : 1.0);
  cv.frame();
  std::vector<std::string> names;
  Occupied occ;
  for (size_t i = 0; i < series.size(); ++i) {
    const metrics::Histogram& h = series[i].histogram;
    // One closed step outline per series: up and across each bin, back down at the end.
    std::string d = "M" + px(ax.map(h.edge(0))) + "," + px(ay.map(0));
    for (int64_t b = 0; b < h.bins(); ++b) {
      double y = ay.map(heights[i][static_cast<size_t>(b)]);
      if (heights[i][static_cast<size_t>(b)] > 0)
        add_segment(occ, ax.map(h.center(b)), y, ax.map(h.center(b)), ay.map(0));
      d += " L" + px(ax.map(h.edge(b))) + "," + px(y) + " L" + px(ax.map(h.edge(b + 1))) + "," + px(y);
    }
    d += " L" + px(ax.map(h.hi)) + "," + px(ay.map(0)) + " Z";
    cv.raw("<path d=\"" + d + "\" fill=\"" + color(i) + "\" fill-opacity=\"0.35\" stroke=\"" +
           color(i) + "\" stroke-width=\"1.2\"/>\n");
    names.push_back(series[i].name);
  }
  if (o.threshold) {
    double x = ax.map(*o.threshold);
    cv.line(x, cv.top(), x, cv.bottom(), "stroke=\"#C00000\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"");
    std::string label = o.threshold_label.empty() ? "threshold = " + tick_label(*o.threshold, 1e-3)
                                                  : o.threshold_label;
    bool right_half = x > (cv.left() + cv.right()) / 2;
    cv.text(right_half ? x - 4 : x + 4, cv.top() + 12, label, right_half ? "end" : "start",
            "fill=\"#C00000\"");
  }
  cv.legend(names, /*boxes=*/true, occ);
  return cv.finish();
}

std::string chart_svg(const std::vector<ChartSeries>& series, const ChartOptions& o) {
  const bool bars = o.kind == ChartKind::kBar;
  double xlo = INFINITY, xhi = -INFINITY, ymax = 0;
  std::set<double> categories;
  for (const ChartSeries& s : series) {
    const std::string where = "chart_svg: series \"" + s.name + "\"";
    check(s.x.size() == s.y.size(), where, "as many y values as x values (" +
          std::to_string(s.x.size()) + ")", std::to_string(s.y.size()));
    for (size_t k = 0; k < s.x.size(); ++k) {
      if (!std::isfinite(s.x[k]) || !std::isfinite(s.y[k]))
        fail(where + " point " + std::to_string(k), "finite x and y", core::exact_number(s.x[k]) + ", " + core::exact_number(s.y[k]));
      if (o.log_x && !bars && !(s.x[k] > 0))
        fail(where + " point " + std::to_string(k), "x > 0 on a log x axis", core::exact_number(s.x[k]));
      xlo = std::min(xlo, s.x[k]);
      xhi = std::max(xhi, s.x[k]);
      ymax = std::max(ymax, s.y[k]);
      categories.insert(s.x[k]);
    }
  }
  double ylo = o.y_min.value_or(0);
  double yhi = o.y_max ? *o.y_max : ymax;
  if (!o.y_max) {
    double step = nice_step(ylo, yhi > ylo ? yhi : ylo + 1);
    yhi = std::max(ylo + step, std::ceil(yhi / step - 1e-9) * step);
  }
  if (!(ylo < yhi)) fail("chart_svg", "y_min < y_max", core::exact_number(ylo) + " >= " + core::exact_number(yhi));
  Canvas cv(o.width, o.height, o.title, o.x_label, o.y_label);
  Axis ay = cv.y_axis(ylo, yhi, false);
  cv.linear_ticks(ay, false);
  std::vector<std::string> names;
  for (const ChartSeries& s : series) names.push_back(s.name);
  Occupied occ;
  if (bars) {
    // One slot per distinct x; each series gets its own bar within the slot.
    std::vector<double> cats(categories.begin(), categories.end());
    const double slot = (cv.right() - cv.left()) / static_cast<double>(std::max<size_t>(cats.size(), 1));
    const double bw = slot * 0.8 / static_cast<double>(std::max<size_t>(series.size(), 1));
    const size_t every = cats.size() / 16 + 1;  // thin the labels when slots get narrow
    for (size_t c = 0; c < cats.size(); c += every)
      cv.text(cv.left() + slot * (static_cast<double>(c) + 0.5), cv.bottom() + 16,
              tick_label(cats[c], cats[c] == std::floor(cats[c]) ? 1 : 1e-3), "middle");
    for (size_t i = 0; i < series.size(); ++i)
      for (size_t k = 0; k < series[i].x.size(); ++k) {
        size_t c = static_cast<size_t>(std::lower_bound(cats.begin(), cats.end(), series[i].x[k]) - cats.begin());
        double x = cv.left() + slot * (static_cast<double>(c) + 0.1) + bw * static_cast<double>(i);
        double y0 = ay.map(std::clamp(0.0, ylo, yhi)), y1 = ay.map(std::clamp(series[i].y[k], ylo, yhi));
        add_segment(occ, x, y1, x + bw, y1);
        add_segment(occ, x + bw / 2, y0, x + bw / 2, y1);
        cv.raw("<rect x=\"" + px(x) + "\" y=\"" + px(std::min(y0, y1)) + "\" width=\"" + px(bw) +
               "\" height=\"" + px(std::abs(y0 - y1)) + "\" fill=\"" + color(i) + "\"/>\n");
      }
    cv.frame();
    cv.legend(names, /*boxes=*/true, occ, 0, "1");
    return cv.finish();
  }
  if (!std::isfinite(xlo)) xlo = o.log_x ? 1 : 0, xhi = o.log_x ? 10 : 1;
  Axis ax;
  if (o.log_x) {
    double lo = std::pow(10, std::floor(std::log10(xlo) + 1e-9));
    double hi = std::pow(10, std::ceil(std::log10(xhi) - 1e-9));
    if (hi <= lo) hi = lo * 10;
    ax = cv.x_axis(lo, hi, true);
    for (int k = static_cast<int>(std::round(std::log10(lo))); k <= std::round(std::log10(hi)); ++k)
      cv.x_tick(ax, std::pow(10, k), k >= 0 && k <= 5 ? html_escape(tick_label(std::pow(10, k), 1))
                                                      : decade_label(k));
  } else {
    if (!(xlo < xhi)) xlo -= 0.5, xhi += 0.5;
    double step = nice_step(xlo, xhi);
    ax = cv.x_axis(std::floor(xlo / step + 1e-9) * step, std::ceil(xhi / step - 1e-9) * step, false);
    cv.linear_ticks(ax, true);
  }
  cv.frame();
  for (size_t i = 0; i < series.size(); ++i) {
    std::vector<size_t> idx(series[i].x.size());
    for (size_t k = 0; k < idx.size(); ++k) idx[k] = k;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return series[i].x[a] < series[i].x[b]; });
    std::vector<double> xs, ys;
    for (size_t k : idx) {
      xs.push_back(ax.map(series[i].x[k]));
      ys.push_back(ay.map(std::clamp(series[i].y[k], ylo, yhi)));
    }
    cv.raw("<polyline fill=\"none\" stroke=\"" + std::string(color(i)) +
           "\" stroke-width=\"1.8\" points=\"" + polyline(xs, ys, occ) + "\"/>\n");
    for (size_t k = 0; k < xs.size(); ++k)
      cv.raw("<circle cx=\"" + px(xs[k]) + "\" cy=\"" + px(ys[k]) + "\" r=\"2.5\" fill=\"" + color(i) + "\"/>\n");
  }
  cv.legend(names, /*boxes=*/false, occ);
  return cv.finish();
}

}  // namespace diffmem::report
