#include "diffmem/metrics/roc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/metrics/gaussian.h"
#include "test_support.h"

using namespace diffmem;
using namespace diffmem::metrics;
namespace fs = std::filesystem;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// 4 members {0.9, 0.8, 0.6, 0.4}, 4 non-members {0.8, 0.5, 0.4, 0.1}: two member/non-member ties.
RocCurve hand_curve() {
  return roc_curve_from_groups({0.9, 0.8, 0.6, 0.4}, {0.8, 0.5, 0.4, 0.1});
}

double roc_normal(core::Rng& rng) {
  // Box–Muller on the project's fixed RNG, so the sample is the same on every platform.
  double u1 = 1 - rng.uniform(), u2 = rng.uniform();
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

}  // namespace

TEST(Roc, HandWorkedCurveWithTies) {
  // Thresholds descending, each tie group crossing at once (fp/4, tp/4):
  //   +inf: (0,0)   0.9: M -> (0,.25)   0.8: M+N -> (.25,.5)   0.6: M -> (.25,.75)
  //   0.5: N -> (.5,.75)   0.4: M+N -> (.75,1)   0.1: N -> (1,1)
  RocCurve c = hand_curve();
  ASSERT_EQ(c.size(), 7u);
  std::vector<double> fpr{0, 0, .25, .25, .5, .75, 1}, tpr{0, .25, .5, .75, .75, 1, 1},
      thr{kInf, .9, .8, .6, .5, .4, .1};
  EXPECT_EQ(c.fpr, fpr);
  EXPECT_EQ(c.tpr, tpr);
  EXPECT_EQ(c.thresholds, thr);
  EXPECT_EQ(c.positives, 4u);
  EXPECT_EQ(c.negatives, 4u);
}

TEST(Roc, HandWorkedAucEqualsMannWhitney) {
  // Trapezoids: .25·(.25+.5)/2 + .25·.75 + .25·(.75+1)/2 + .25·1 = .09375+.1875+.21875+.25 = .75.
  // Mann–Whitney, per member (non-members below + ½ per tie): 0.9→4, 0.8→3.5, 0.6→3, 0.4→1.5;
  // U = 12 of 16 pairs = .75.
  RocCurve c = hand_curve();
  EXPECT_DOUBLE_EQ(c.auc(), 0.75);
  std::vector<double> s{0.9, 0.8, 0.6, 0.4, 0.8, 0.5, 0.4, 0.1};
  std::vector<bool> m{true, true, true, true, false, false, false, false};
  EXPECT_DOUBLE_EQ(mann_whitney_auc(s, m), 0.75);
}

TEST(Roc, HandWorkedTprAtFprIsConservative) {
  RocCurve c = hand_curve();
  EXPECT_DOUBLE_EQ(c.tpr_at_fpr(0.0), 0.25);   // (0,.25) — no false positive allowed
  EXPECT_DOUBLE_EQ(c.tpr_at_fpr(0.2), 0.25);   // no interpolation towards (.25,.5)
  EXPECT_DOUBLE_EQ(c.tpr_at_fpr(0.25), 0.75);  // a point exactly at the target counts
  EXPECT_DOUBLE_EQ(c.tpr_at_fpr(0.6), 0.75);
  EXPECT_DOUBLE_EQ(c.tpr_at_fpr(0.75), 1.0);
  // Best TPR − FPR is .5 at threshold 0.6: (0.75 + 1 − 0.25) / 2 = 0.75.
  EXPECT_DOUBLE_EQ(c.balanced_accuracy(), 0.75);
  RocSummary s = summarize(c, {0.25, 0.5});
  EXPECT_DOUBLE_EQ(s.balanced_accuracy_threshold, 0.6);
  // 4 non-members cannot measure a TPR at 1% FPR (it would be the TPR at FPR 0): NaN.
  EXPECT_TRUE(std::isnan(s.tpr_at_fpr_1pct));
  ASSERT_EQ(s.tpr_at_fpr.size(), 2u);
  EXPECT_DOUBLE_EQ(s.tpr_at_fpr[1].tpr, 0.75);
}

TEST(Roc, TieOrderDoesNotMatter) {
  // The same multiset in two input orders gives the same curve (a tie is one diagonal step).
  RocCurve a = roc_curve({1, 1, 1, 0}, {true, false, true, false});
  RocCurve b = roc_curve({1, 0, 1, 1}, {false, false, true, true});
  EXPECT_EQ(a.fpr, b.fpr);
  EXPECT_EQ(a.tpr, b.tpr);
  EXPECT_EQ(a.fpr, (std::vector<double>{0, .5, 1}));
  EXPECT_EQ(a.tpr, (std::vector<double>{0, 1, 1}));
  EXPECT_DOUBLE_EQ(a.auc(), 0.75);  // pairs (m,n): two ties at 1 count ½ each, two wins: 3 of 4
}

TEST(Roc, UninformativeScoresGiveChance) {
  RocCurve c = roc_curve({3, 3, 3, 3}, {true, false, true, false});
  EXPECT_DOUBLE_EQ(c.auc(), 0.5);
  EXPECT_DOUBLE_EQ(c.balanced_accuracy(), 0.5);
  EXPECT_EQ(summarize(c).balanced_accuracy_threshold, kInf);
}

TEST(Roc, BadInputNamesTheProblem) {
  EXPECT_NE(test::error_of([] { roc_curve({1, 2}, {true}); }).find("as many labels"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { roc_curve({1, 2}, {true, true}); }).find("non-member"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { roc_curve({1, NAN}, {true, false}); }).find("scores[1]"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { mann_whitney_auc({kInf, 0}, {true, false}); }).find("scores[0]"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { hand_curve().tpr_at_fpr(1.5); }).find("[0, 1]"), std::string::npos);
}

TEST(Roc, CompactKeepsEveryMetric) {
  core::Rng rng(7);
  std::vector<double> s;
  std::vector<bool> m;
  for (int i = 0; i < 3000; ++i) {
    bool member = rng.below(2) == 0;
    s.push_back(static_cast<double>(rng.below(200)) + (member ? 20 : 0));  // many ties
    m.push_back(member);
  }
  RocCurve c = roc_curve(s, m), k = compact(c);
  EXPECT_LT(k.size(), c.size());
  EXPECT_NEAR(k.auc(), c.auc(), 1e-14);
  EXPECT_EQ(k.balanced_accuracy(), c.balanced_accuracy());
  EXPECT_EQ(k.thresholds[k.balanced_accuracy_index()], c.thresholds[c.balanced_accuracy_index()]);
  for (double f = 0; f <= 1; f += 0.001) ASSERT_EQ(k.tpr_at_fpr(f), c.tpr_at_fpr(f)) << f;
  // A purely vertical start (members strictly above non-members) collapses to its corners.
  RocCurve v = compact(roc_curve_from_groups({5, 4, 3}, {2, 1}));
  EXPECT_EQ(v.fpr, (std::vector<double>{0, 0, 1}));
  EXPECT_EQ(v.tpr, (std::vector<double>{0, 1, 1}));
}

// Random scores with ties against numpy: ROC built by cumulative sums over distinct thresholds,
// AUC by Mann–Whitney midranks — both computed in numpy here, not by sklearn.
TEST(Roc, MatchesNumpy) {
  std::string py = test::numpy_python();
  if (py.empty()) GTEST_SKIP() << "no python with numpy";
  test::TempDir dir;
  core::Rng rng(2024);
  std::vector<double> s;
  std::vector<bool> m;
  std::ostringstream in;
  in.precision(17);
  for (int i = 0; i < 5000; ++i) {
    bool member = rng.below(3) == 0;
    double v = std::round((roc_normal(rng) + (member ? 0.7 : 0)) * 50) / 50;  // ties on a 0.02 grid
    s.push_back(v);
    m.push_back(member);
    in << v << " " << (member ? 1 : 0) << "\n";
  }
  test::write_bytes(dir / "in.txt", in.str());
  test::write_bytes(dir / "roc.py", R"(import sys, numpy as np
d = np.loadtxt(sys.argv[1], ndmin=2)
s, y = d[:, 0], d[:, 1] > 0.5
P, N = y.sum(), (~y).sum()
order = np.argsort(-s, kind="stable")
ss, yy = s[order], y[order]
last = np.r_[np.nonzero(np.diff(ss))[0], len(ss) - 1]
fpr = np.r_[0.0, np.cumsum(~yy)[last] / N]
tpr = np.r_[0.0, np.cumsum(yy)[last] / P]
thr = np.r_[np.inf, ss[last]]
u, inv, cnt = np.unique(s, return_inverse=True, return_counts=True)
mid = np.cumsum(cnt) - (cnt - 1) / 2.0
auc = (mid[inv][y].sum() - P * (P + 1) / 2.0) / (P * N)
with open(sys.argv[2], "w") as f:
    f.write("%.17g\n" % auc)
    for t in [0.0, 0.001, 0.01, 0.05, 0.1, 0.5]:
        f.write("%.17g\n" % tpr[fpr <= t].max())
    f.write("%d\n" % len(fpr))
    for a, b, c in zip(fpr, tpr, thr):
        f.write("%.17g %.17g %.17g\n" % (a, b, c))
)");
  auto r = test::run_shell(py + " " + test::shell_quote((dir / "roc.py").string()) + " " +
                           test::shell_quote((dir / "in.txt").string()) + " " +
                           test::shell_quote((dir / "out.txt").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream out(test::read_bytes(dir / "out.txt"));
  RocCurve c = roc_curve(s, m);
  double auc;
  out >> auc;
  EXPECT_NEAR(c.auc(), auc, 1e-12);
  EXPECT_NEAR(mann_whitney_auc(s, m), auc, 1e-12);
  EXPECT_NEAR(c.auc(), mann_whitney_auc(s, m), 1e-12);
  for (double t : {0.0, 0.001, 0.01, 0.05, 0.1, 0.5}) {
    double want;
    out >> want;
    EXPECT_DOUBLE_EQ(c.tpr_at_fpr(t), want) << "target " << t;
  }
  size_t n;
  out >> n;
  ASSERT_EQ(c.size(), n);
  for (size_t i = 0; i < n; ++i) {
    std::string a, b, t;
    out >> a >> b >> t;
    ASSERT_DOUBLE_EQ(c.fpr[i], std::stod(a)) << i;
    ASSERT_DOUBLE_EQ(c.tpr[i], std::stod(b)) << i;
    ASSERT_EQ(c.thresholds[i], std::stod(t)) << i;
  }
}

// Members ~ N(μ,1), non-members ~ N(0,1): at FPR α the threshold is Φ⁻¹(1−α), so
// TPR = 1 − Φ(Φ⁻¹(1−α) − μ), and AUC = P(X_m > X_n) = Φ(μ/√2).
TEST(Roc, GaussianSeparationMatchesClosedForm) {
  const int n = 200000;
  for (double mu : {1.0, 2.5}) {
    core::Rng rng(core::derive_seed(11, static_cast<uint64_t>(mu * 10)));
    std::vector<double> members(n), nonmembers(n);
    for (double& x : members) x = roc_normal(rng) + mu;
    for (double& x : nonmembers) x = roc_normal(rng);
    RocSummary s = summarize(roc_curve_from_groups(members, nonmembers));
    // Sampling s.d. (tolerances are ~4-5 of them): AUC < 0.001; TPR@1% ~ 0.004 (the threshold's
    // quantile noise sqrt(.0099/n)/φ(2.33) in z, times the member density there); TPR@0.1% ~ 0.008.
    EXPECT_NEAR(s.auc, normal_cdf(mu / std::sqrt(2.0)), 0.004) << mu;
    EXPECT_NEAR(s.tpr_at_fpr_1pct, 1 - normal_cdf(normal_quantile(0.99) - mu), 0.02) << mu;
    EXPECT_NEAR(s.tpr_at_fpr_0_1pct, 1 - normal_cdf(normal_quantile(0.999) - mu), 0.04) << mu;
    // Best balanced accuracy is at the midpoint threshold μ/2: Φ(μ/2).
    EXPECT_NEAR(s.balanced_accuracy, normal_cdf(mu / 2), 0.005) << mu;
    // The argmax sits on a flat top (curvature μ·φ(μ/2)), so it wanders ~0.05 at μ = 1.
    EXPECT_NEAR(s.balanced_accuracy_threshold, mu / 2, 0.25) << mu;
  }
}

TEST(Roc, SummaryJsonRoundTrip) {
  RocSummary s = summarize(hand_curve(), {0.5});
  io::Json j = s;
  EXPECT_DOUBLE_EQ(j["auc"].get<double>(), 0.75);
  EXPECT_TRUE(j["tpr_at_fpr_0.001"].is_null());  // not measurable with 4 non-members
  EXPECT_EQ(j["not_measurable"], io::Json::array({"tpr_at_fpr_0.001", "tpr_at_fpr_0.01"}));
  EXPECT_EQ(j["members"].get<int>(), 4);
  test::TempDir dir;
  io::write_json(dir / "summary.json", j);
  RocSummary back = io::read_json(dir / "summary.json").get<RocSummary>();
  EXPECT_EQ(back.members, 4u);
  EXPECT_TRUE(std::isnan(back.tpr_at_fpr_0_1pct));
  EXPECT_DOUBLE_EQ(back.balanced_accuracy_threshold, 0.6);
  ASSERT_EQ(back.tpr_at_fpr.size(), 1u);
  EXPECT_DOUBLE_EQ(back.tpr_at_fpr[0].tpr, 0.75);
  // A useless score's best threshold is +inf: written as null, read back as +inf.
  io::Json u = summarize(roc_curve({1, 1}, {true, false}));
  EXPECT_TRUE(u["balanced_accuracy_threshold"].is_null());
  EXPECT_EQ(u.get<RocSummary>().balanced_accuracy_threshold, kInf);
  io::Json bad = j;
  bad.erase("auc");
  EXPECT_NE(test::error_of([&] { bad.get<RocSummary>(); }).find("\"auc\""), std::string::npos);
  bad = j;
  bad["members"] = "four";
  EXPECT_NE(test::error_of([&] { bad.get<RocSummary>(); }).find("\"members\""), std::string::npos);
}

TEST(Roc, CsvRoundTrip) {
  test::TempDir dir;
  RocCurve c = hand_curve();
  write_roc_csv(dir / "roc.csv", c);
  std::string text = test::read_bytes(dir / "roc.csv");
  EXPECT_EQ(text.substr(0, text.find('\n', 18) + 1), "fpr,tpr,threshold\n0,0,inf\n");
  RocCurve back = read_roc_csv(dir / "roc.csv");
  EXPECT_EQ(back.fpr, c.fpr);
  EXPECT_EQ(back.tpr, c.tpr);
  EXPECT_EQ(back.thresholds, c.thresholds);
  EXPECT_DOUBLE_EQ(back.auc(), 0.75);
}

TEST(Roc, BadCsvNamesFileAndLine) {
  test::TempDir dir;
  fs::path p = dir / "roc.csv";
  auto err = [&](const std::string& body) {
    test::write_bytes(p, body);
    return test::error_of([&] { read_roc_csv(p); });
  };
  EXPECT_NE(err("fpr,tpr\n0,0,inf\n").find("roc.csv:1"), std::string::npos);
  EXPECT_NE(err("fpr,tpr,threshold\n0,0,inf\n0.5,0.5\n1,1,0\n").find("roc.csv:3"),
            std::string::npos);
  EXPECT_NE(err("fpr,tpr,threshold\n0,0,inf\n0.5,0.7,1\n0.4,1,0\n").find("roc.csv:4"),
            std::string::npos);
  EXPECT_NE(err("fpr,tpr,threshold\n0,0,inf\n0.5,1.5,1\n").find("[0, 1]"), std::string::npos);
  // Truncated: the curve stops before (1, 1).
  EXPECT_NE(err("fpr,tpr,threshold\n0,0,inf\n0.5,0.5,1\n").find("(1, 1)"), std::string::npos);
  EXPECT_NE(err("").find("roc.csv"), std::string::npos);
  EXPECT_NE(test::error_of([&] { read_roc_csv(dir / "missing.csv"); }).find("missing.csv"),
            std::string::npos);
}
