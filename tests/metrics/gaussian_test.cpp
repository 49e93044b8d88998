#include "diffmem/metrics/gaussian.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "diffmem/core/error.h"
#include "test_support.h"

using namespace diffmem;
using namespace diffmem::metrics;

TEST(Gaussian, MeanVarianceHandWorked) {
  // {1, 2, 3, 6}: mean 3, squared deviations 4+1+0+9 = 14 → 14/4 (ddof 0), 14/3 (ddof 1).
  MeanVariance a = mean_variance({1, 2, 3, 6});
  EXPECT_DOUBLE_EQ(a.mean, 3);
  EXPECT_DOUBLE_EQ(a.variance, 3.5);
  EXPECT_EQ(a.count, 4u);
  EXPECT_DOUBLE_EQ(mean_variance({1, 2, 3, 6}, 0, 1).variance, 14.0 / 3);
  EXPECT_DOUBLE_EQ(mean_variance({5, 5, 5}, 1e-4).variance, 1e-4);  // the floor
  EXPECT_DOUBLE_EQ(mean_variance({1, 2, 3, 6}, 1.0).variance, 3.5);  // floor below: no effect
  // Far from zero the two-pass form keeps the variance (E[x²] − E[x]² would lose it all).
  EXPECT_NEAR(mean_variance({1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 6}).variance, 3.5, 1e-6);
  EXPECT_NE(test::error_of([] { mean_variance({}); }).find("more values"), std::string::npos);
  EXPECT_NE(test::error_of([] { mean_variance({1}, 0, 1); }).find("more values"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { mean_variance({1, INFINITY}); }).find("values[1]"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { mean_variance({1, 2}, -1); }).find("floor"), std::string::npos);
}

TEST(Gaussian, LogPdf) {
  // log N(0; 0, 1) = −log √(2π); variance 4 at x − mean = 2: −½·4/4 − ½·log 4 − log √(2π).
  EXPECT_NEAR(normal_log_pdf(0, 0, 1), -0.5 * std::log(2 * M_PI), 1e-15);
  EXPECT_NEAR(normal_log_pdf(3, 1, 4), -0.5 - 0.5 * std::log(4.0) - 0.5 * std::log(2 * M_PI),
              1e-15);
  EXPECT_NE(test::error_of([] { normal_log_pdf(0, 0, 0); }).find("variance > 0"),
            std::string::npos);
}

TEST(Gaussian, CdfAndQuantileAreInverse) {
  EXPECT_DOUBLE_EQ(normal_cdf(0), 0.5);
  EXPECT_DOUBLE_EQ(normal_quantile(0.5), 0);
  EXPECT_NEAR(normal_cdf(-1) + normal_cdf(1), 1.0, 1e-16);
  for (double p : {1e-300, 1e-20, 1e-6, 0.001, 0.01, 0.02425, 0.1, 0.3, 0.7, 0.99, 0.999}) {
    double z = normal_quantile(p);
    EXPECT_NEAR(normal_cdf(z) / p, 1.0, 1e-13) << p;
  }
  // Upper half: the tail mass 1 − q is exact for q >= 0.5, so check Φ(−z) against it.
  for (double q : {0.5, 0.6, 0.9, 0.975, 0.99, 0.999, 1 - 1e-6, 1 - 1e-12}) {
    double z = normal_quantile(q);
    EXPECT_NEAR(normal_cdf(-z) / (1 - q), 1.0, 1e-13) << q;
  }
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-14);  // the familiar 1.96
  EXPECT_EQ(normal_quantile(0), -INFINITY);
  EXPECT_EQ(normal_quantile(1), INFINITY);
  EXPECT_NE(test::error_of([] { normal_quantile(1.5); }).find("[0, 1]"), std::string::npos);
  EXPECT_NE(test::error_of([] { normal_quantile(NAN); }).find("[0, 1]"), std::string::npos);
}

TEST(Gaussian, LogSurvivalIsSmoothAcrossItsTwoForms) {
  // Past z = 30 the asymptotic series takes over; erfc still works up to z ≈ 37, so compare there.
  for (double z : {30.0, 31.5, 33.0, 35.0, 37.0}) {
    double direct = std::log(0.5 * std::erfc(z / std::sqrt(2.0)));
    EXPECT_NEAR(normal_log_sf(z), direct, 1e-12 * std::abs(direct)) << z;
  }
  EXPECT_NEAR(normal_log_sf(0), std::log(0.5), 1e-15);
  EXPECT_TRUE(std::isfinite(normal_log_sf(100)));
  EXPECT_NEAR(normal_log_sf(-3), std::log(normal_cdf(3)), 1e-15);
}

// Against Python's statistics.NormalDist (Wichura's AS241, an independent algorithm).
TEST(Gaussian, MatchesPythonNormalDist) {
  std::string py = test::numpy_python();
  if (py.empty()) GTEST_SKIP() << "no python";
  std::vector<double> ps{1e-12, 1e-5, 0.001, 0.0123, 0.2, 0.5, 0.64, 0.95, 0.999, 1 - 1e-9};
  std::ostringstream code;
  code.precision(17);
  code << "from statistics import NormalDist as D\nfor p in [";
  for (double p : ps) code << p << ",";
  code << "]: print('%.17g %.17g' % (D().inv_cdf(p), D().cdf(p * 8 - 4)))\n";
  test::TempDir dir;
  test::write_bytes(dir / "n.py", code.str());
  auto r = test::run_shell(py + " " + test::shell_quote((dir / "n.py").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream out(r.output);
  for (double p : ps) {
    double inv, cdf;
    ASSERT_TRUE(out >> inv >> cdf);
    EXPECT_NEAR(normal_quantile(p), inv, 1e-13 * std::max(1.0, std::abs(inv))) << p;
    EXPECT_NEAR(normal_cdf(p * 8 - 4), cdf, 1e-15) << p;
  }
}
