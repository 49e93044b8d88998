#include "diffmem/metrics/histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "test_support.h"

using namespace diffmem;
using namespace diffmem::metrics;

TEST(Histogram, HandWorkedBinsAndEdges) {
  // [0, 1] in 4 bins: edges 0, .25, .5, .75, 1; a value on an inner edge goes right, hi goes into
  // the last bin, values outside are counted apart.
  HistogramOptions o;
  o.bins = 4;
  o.lo = 0;
  o.hi = 1;
  Histogram h = histogram({0, 0.1, 0.25, 0.5, 0.74, 0.75, 1.0, -0.1, 1.1, NAN}, o);
  EXPECT_EQ(h.counts, (std::vector<uint64_t>{2, 1, 2, 2}));
  EXPECT_EQ(h.below, 1u);
  EXPECT_EQ(h.above, 1u);
  EXPECT_EQ(h.nan, 1u);
  EXPECT_EQ(h.total(), 7u);
  EXPECT_DOUBLE_EQ(h.edge(1), 0.25);
  EXPECT_DOUBLE_EQ(h.center(3), 0.875);
  // density integrates to 1: Σ density·width.
  double area = 0;
  for (int64_t i = 0; i < h.bins(); ++i) area += h.density()[i] * 0.25;
  EXPECT_DOUBLE_EQ(area, 1.0);
}

TEST(Histogram, AutoRangeAndDegenerateRange) {
  Histogram h = histogram({2, 4, 3, INFINITY}, HistogramOptions{2, {}, {}});
  EXPECT_EQ(h.lo, 2);
  EXPECT_EQ(h.hi, 4);
  EXPECT_EQ(h.counts, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(h.above, 1u);  // +inf is outside the finite range
  Histogram same = histogram({5, 5}, HistogramOptions{1, {}, {}});
  EXPECT_EQ(same.lo, 4.5);
  EXPECT_EQ(same.hi, 5.5);
  EXPECT_EQ(same.counts[0], 2u);
  Histogram empty = histogram({}, HistogramOptions{3, {}, {}});
  EXPECT_EQ(empty.lo, 0);
  EXPECT_EQ(empty.hi, 1);
  EXPECT_EQ(empty.total(), 0u);
  EXPECT_EQ(empty.density(), (std::vector<double>{0, 0, 0}));
}

TEST(Histogram, BadOptions) {
  EXPECT_NE(test::error_of([] { histogram({1}, HistogramOptions{0, {}, {}}); }).find("bins >= 1"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { histogram({1}, HistogramOptions{3, 2.0, 1.0}); }).find("lo <= hi"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { histogram({1}, HistogramOptions{3, NAN, 1.0}); }).find("finite"),
            std::string::npos);
}

TEST(Histogram, JsonRoundTrip) {
  HistogramOptions o{7, 0.5, {}};
  io::Json j = o;
  EXPECT_TRUE(j["hi"].is_null());
  HistogramOptions back = j.get<HistogramOptions>();
  EXPECT_EQ(back.bins, 7);
  EXPECT_EQ(*back.lo, 0.5);
  EXPECT_FALSE(back.hi.has_value());
  Histogram h = histogram({0.1, 0.2, 0.9, 3}, HistogramOptions{3, 0.0, 1.0});
  Histogram hb = io::Json(h).get<Histogram>();
  EXPECT_EQ(hb.counts, h.counts);
  EXPECT_EQ(hb.above, 1u);
  io::Json bad = h;
  bad["counts"] = "x";
  EXPECT_NE(test::error_of([&] { bad.get<Histogram>(); }).find("\"counts\""), std::string::npos);
  io::Json bad_bins = {{"bins", 2.5}};
  EXPECT_NE(test::error_of([&] { bad_bins.get<HistogramOptions>(); }).find("bins: expected an integer"),
            std::string::npos);
}

TEST(Quantile, HandWorked) {
  // Sorted {1, 2, 4, 8}: position q·3; q = .5 → 1.5 → 2 + .5·(4 − 2) = 3.
  EXPECT_DOUBLE_EQ(quantile({8, 1, 4, 2}, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(median({8, 1, 4, 2}), 3.0);
  EXPECT_DOUBLE_EQ(quantile({8, 1, 4, 2}, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(quantile({8, 1, 4, 2}, 1.0), 8.0);
  EXPECT_DOUBLE_EQ(quantile({8, 1, 4, 2}, 0.9), 4 + 0.7 * 4);  // position 2.7
  EXPECT_EQ(quantiles({3}, {0, 0.3, 1}), (std::vector<double>{3, 3, 3}));
  EXPECT_NE(test::error_of([] { quantile({}, 0.5); }).find("at least one"), std::string::npos);
  EXPECT_NE(test::error_of([] { quantile({1, NAN}, 0.5); }).find("values[1]"), std::string::npos);
  EXPECT_NE(test::error_of([] { quantile({1}, 1.5); }).find("[0, 1]"), std::string::npos);
}

// Random values (some exactly on bin edges) against np.histogram and np.quantile.
TEST(Histogram, MatchesNumpy) {
  std::string py = test::numpy_python();
  if (py.empty()) GTEST_SKIP() << "no python with numpy";
  test::TempDir dir;
  core::Rng rng(99);
  const double lo = -0.3, hi = 1.7;
  const int64_t bins = 37;
  Histogram probe = histogram({}, HistogramOptions{bins, lo, hi});
  std::vector<double> v;
  for (int i = 0; i < 20000; ++i) v.push_back(rng.uniform() * 2.4 - 0.5);
  for (int64_t i = 0; i <= bins; ++i) v.push_back(probe.edge(i));  // the edges themselves
  std::ostringstream in;
  in.precision(17);
  for (double x : v) in << x << "\n";
  test::write_bytes(dir / "in.txt", in.str());
  test::write_bytes(dir / "h.py", R"(import sys, numpy as np
v = np.loadtxt(sys.argv[1])
c, e = np.histogram(v, bins=37, range=(-0.3, 1.7))
q = np.quantile(v, [0, 0.001, 0.01, 0.25, 0.5, 0.77, 0.99, 1])
with open(sys.argv[2], "w") as f:
    f.write(" ".join(str(x) for x in c) + "\n")
    f.write(" ".join("%.17g" % x for x in e) + "\n")
    f.write(" ".join("%.17g" % x for x in q) + "\n")
)");
  auto r = test::run_shell(py + " " + test::shell_quote((dir / "h.py").string()) + " " +
                           test::shell_quote((dir / "in.txt").string()) + " " +
                           test::shell_quote((dir / "out.txt").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream out(test::read_bytes(dir / "out.txt"));
  Histogram h = histogram(v, HistogramOptions{bins, lo, hi});
  for (int64_t i = 0; i < bins; ++i) {
    uint64_t c;
    out >> c;
    EXPECT_EQ(h.counts[i], c) << "bin " << i;
  }
  for (int64_t i = 0; i <= bins; ++i) {
    double e;
    out >> e;
    EXPECT_EQ(h.edge(i), e) << "edge " << i;
  }
  std::vector<double> want(8);
  for (double& w : want) out >> w;
  std::vector<double> got = quantiles(v, {0, 0.001, 0.01, 0.25, 0.5, 0.77, 0.99, 1});
  for (size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(got[i], want[i]) << i;
  EXPECT_EQ(h.total() + h.below + h.above, v.size());
}
