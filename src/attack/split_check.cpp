#include "diffmem/attack/split_check.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"

namespace diffmem::attack {
namespace {

using Matrix = std::vector<std::vector<double>>;

std::string fixed(double v, int digits) {
  char b[40];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::vector<double> image_features(const uint8_t* px, int64_t h, int64_t w, int64_t c) {
  const int64_t n = h * w;
  double sum = 0, sq = 0, dark = 0, bright = 0, dx = 0, dy = 0, border = 0, centre = 0;
  int64_t n_border = 0;
  std::vector<double> channel(static_cast<size_t>(c), 0.0);
  std::vector<double> hist(16, 0.0);
  const int64_t ring = std::max<int64_t>(1, std::min(h, w) / 8);
  double rg = 0, rg2 = 0, yb = 0, yb2 = 0;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const uint8_t* p = px + (y * w + x) * c;
      double grey = 0;
      for (int64_t k = 0; k < c; ++k) {
        const double v = p[k];
        sum += v;
        sq += v * v;
        channel[static_cast<size_t>(k)] += v;
        dark += p[k] < 32;
        bright += p[k] > 223;
        grey += v;
        if (x + 1 < w) dx += std::abs(v - double(p[c + k]));
        if (y + 1 < h) dy += std::abs(v - double(p[w * c + k]));
      }
      grey /= double(c);
      hist[static_cast<size_t>(std::min(15.0, grey / 16))] += 1;
      const bool on_border = y < ring || x < ring || y >= h - ring || x >= w - ring;
      (on_border ? border : centre) += grey;
      n_border += on_border;
      if (c == 3) {
        const double a = double(p[0]) - p[1], b = 0.5 * (double(p[0]) + p[1]) - p[2];
        rg += a, rg2 += a * a, yb += b, yb2 += b * b;
      }
    }
  const double nv = double(n * c), mean = sum / nv;
  double entropy = 0;
  for (double k : hist)
    if (k > 0) entropy -= k / n * std::log2(k / n);
  std::vector<double> f = {mean / 255,
                           std::sqrt(std::max(0.0, sq / nv - mean * mean)) / 255,
                           dx / std::max<double>(1, double(h * (w - 1) * c)) / 255,
                           dy / std::max<double>(1, double((h - 1) * w * c)) / 255,
                           dark / nv,
                           bright / nv,
                           entropy,
                           (border / std::max<int64_t>(1, n_border) -
                            centre / std::max<int64_t>(1, n - n_border)) / 255};
  if (c == 3) {
    for (double ch : channel) f.push_back(ch / double(n) / 255);
    const double mrg = rg / n, myb = yb / n;
    const double srg = std::max(0.0, rg2 / n - mrg * mrg), syb = std::max(0.0, yb2 / n - myb * myb);
    f.push_back((std::sqrt(srg + syb) + 0.3 * std::sqrt(mrg * mrg + myb * myb)) / 255);
  }
  return f;
}

std::vector<double> caption_features(const std::string& s) {
  double words = 0, word_chars = 0, digits = 0, upper = 0, punct = 0;
  bool in_word = false;
  for (unsigned char ch : s) {
    digits += std::isdigit(ch) != 0;
    upper += std::isupper(ch) != 0;
    punct += std::ispunct(ch) != 0;
    if (std::isspace(ch)) {
      in_word = false;
    } else {
      word_chars += 1;
      if (!in_word) words += 1;
      in_word = true;
    }
  }
  const double n = std::max<double>(1, double(s.size()));
  return {double(s.size()), words, word_chars / std::max(1.0, words), digits / n, upper / n, punct / n};
}

// Solves A x = b (A symmetric positive definite after the ridge) by Gaussian elimination with
// partial pivoting; A and b are consumed.
std::vector<double> solve(Matrix A, std::vector<double> b) {
  const size_t n = b.size();
  for (size_t i = 0; i < n; ++i) {
    size_t piv = i;
    for (size_t r = i + 1; r < n; ++r)
      if (std::abs(A[r][i]) > std::abs(A[piv][i])) piv = r;
    std::swap(A[i], A[piv]);
    std::swap(b[i], b[piv]);
    if (std::abs(A[i][i]) < 1e-300) continue;
    for (size_t r = i + 1; r < n; ++r) {
      const double f = A[r][i] / A[i][i];
      for (size_t k = i; k < n; ++k) A[r][k] -= f * A[i][k];
      b[r] -= f * b[i];
    }
  }
  std::vector<double> x(n, 0.0);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= A[i][k] * x[k];
    x[i] = std::abs(A[i][i]) < 1e-300 ? 0.0 : s / A[i][i];
  }
  return x;
}

// The design row: 1, z, z² of the raw features standardized with (mu, sd).
std::vector<double> design(const std::vector<double>& f, const std::vector<double>& mu,
                           const std::vector<double>& sd) {
  std::vector<double> x = {1.0};
  for (size_t k = 0; k < f.size(); ++k) x.push_back((f[k] - mu[k]) / sd[k]);
  for (size_t k = 0; k < f.size(); ++k) x.push_back(x[k + 1] * x[k + 1]);
  return x;
}

struct Fit {
  std::vector<double> mu, sd, w;
  double predict(const std::vector<double>& f) const {
    const std::vector<double> x = design(f, mu, sd);
    double z = 0;
    for (size_t k = 0; k < x.size(); ++k) z += w[k] * x[k];
    return 1 / (1 + std::exp(-z));
  }
};

// Ridge logistic regression by Newton's method on the rows `train`.
Fit fit(const Matrix& F, const std::vector<bool>& y, const std::vector<size_t>& train, double l2) {
  const size_t d = F[0].size();
  Fit m;
  m.mu.assign(d, 0.0);
  m.sd.assign(d, 0.0);
  for (size_t i : train)
    for (size_t k = 0; k < d; ++k) m.mu[k] += F[i][k] / double(train.size());
  for (size_t i : train)
    for (size_t k = 0; k < d; ++k) m.sd[k] += (F[i][k] - m.mu[k]) * (F[i][k] - m.mu[k]) / double(train.size());
  for (double& s : m.sd) s = s > 1e-24 ? std::sqrt(s) : 1.0;  // a constant feature standardizes to 0
  Matrix X;
  for (size_t i : train) X.push_back(design(F[i], m.mu, m.sd));
  const size_t p = X[0].size();
  const double lambda = l2 * double(train.size());
  m.w.assign(p, 0.0);
  for (int it = 0; it < 50; ++it) {
    Matrix H(p, std::vector<double>(p, 0.0));
    std::vector<double> g(p, 0.0);
    for (size_t r = 0; r < X.size(); ++r) {
      double z = 0;
      for (size_t k = 0; k < p; ++k) z += m.w[k] * X[r][k];
      const double pr = 1 / (1 + std::exp(-z)), wt = std::max(pr * (1 - pr), 1e-12);
      const double err = (y[train[r]] ? 1.0 : 0.0) - pr;
      for (size_t a = 0; a < p; ++a) {
        g[a] += err * X[r][a];
        for (size_t b = a; b < p; ++b) H[a][b] += wt * X[r][a] * X[r][b];
      }
    }
    for (size_t a = 0; a < p; ++a) {
      for (size_t b = 0; b < a; ++b) H[a][b] = H[b][a];
      if (a > 0) H[a][a] += lambda, g[a] -= lambda * m.w[a];  // the intercept is not penalized
    }
    const std::vector<double> step = solve(H, g);
    double largest = 0;
    for (size_t k = 0; k < p; ++k) m.w[k] += step[k], largest = std::max(largest, std::abs(step[k]));
    if (largest < 1e-9) break;
  }
  return m;
}

}  // namespace

std::vector<std::vector<double>> split_features(const data::Dataset& ds, bool captions,
                                                std::vector<std::string>& names) {
  names = {"mean", "std", "edges_x", "edges_y", "dark", "bright", "entropy", "border_minus_centre"};
  if (ds.channels() == 3)
    for (const char* n : {"red", "green", "blue", "colourfulness"}) names.push_back(n);
  const bool use_captions = captions && ds.captions.has_value();
  if (use_captions)
    for (const char* n : {"caption_chars", "caption_words", "caption_word_length", "caption_digits",
                          "caption_upper", "caption_punctuation"})
      names.push_back(n);
  Matrix F;
  F.reserve(static_cast<size_t>(ds.size()));
  for (int64_t i = 0; i < ds.size(); ++i) {
    std::vector<double> f = image_features(ds.image(i), ds.height(), ds.width(), ds.channels());
    if (use_captions) {
      const auto cf = caption_features((*ds.captions)[static_cast<size_t>(i)]);
      f.insert(f.end(), cf.begin(), cf.end());
    }
    F.push_back(std::move(f));
  }
  return F;
}

std::string split_check_unavailable(const data::Dataset& ds, const std::vector<bool>& is_member,
                                    int64_t folds) {
  std::set<int64_t> ids[2];
  for (size_t i = 0; i < is_member.size() && i < ds.ids.size(); ++i) ids[is_member[i] ? 1 : 0].insert(ds.ids[i]);
  for (int c = 1; c >= 0; --c)
    if (static_cast<int64_t>(ids[c].size()) < folds)
      return std::string("too few distinct ") + (c ? "members" : "non-members") + " for " +
             std::to_string(folds) + "-fold cross-validation (" + std::to_string(ids[c].size()) + ")";
  return "";
}

SplitCheckResult split_check(const data::Dataset& ds_rows, const std::vector<bool>& rows_member,
                             const SplitCheckOptions& o) {
  check(o.folds >= 2, "split_check.folds", "at least 2 folds", std::to_string(o.folds));
  check(o.l2 > 0 && std::isfinite(o.l2), "split_check.l2", "a penalty > 0", fixed(o.l2, 6));
  metrics::validate(o.bootstrap);
  check(static_cast<int64_t>(rows_member.size()) == ds_rows.size(), "split check",
        std::to_string(ds_rows.size()) + " member flags (one per row)", std::to_string(rows_member.size()));
  // The unit is the distinct image: planted copies (rows sharing an id and a flag) count once, or
  // an image copied 16 times would weigh 16 times in the fit and in the AUC.
  std::map<std::pair<bool, int64_t>, int64_t> first;
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < ds_rows.size(); ++i)
    if (first.emplace(std::make_pair(bool(rows_member[size_t(i)]), ds_rows.ids[size_t(i)]), i).second) keep.push_back(i);
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {int64_t(keep.size()), ds_rows.height(), ds_rows.width(),
                                                     ds_rows.channels()});
  std::vector<bool> is_member;
  for (size_t k = 0; k < keep.size(); ++k) {
    std::copy_n(ds_rows.image(keep[k]), ds_rows.image_bytes(), ds.images.bytes.data() + k * ds_rows.image_bytes());
    ds.ids.push_back(ds_rows.ids[size_t(keep[k])]);
    ds.labels.push_back(ds_rows.labels[size_t(keep[k])]);
    is_member.push_back(rows_member[size_t(keep[k])]);
    if (ds_rows.captions) {
      if (!ds.captions) ds.captions.emplace();
      ds.captions->push_back((*ds_rows.captions)[size_t(keep[k])]);
    }
  }
  SplitCheckResult r;
  r.ids = ds.ids;
  r.members = is_member;
  const Matrix F = split_features(ds, o.captions, r.features);

  // Folds: per class, the distinct images in a seeded order, dealt round-robin.
  std::vector<std::vector<size_t>> by_class(2);
  for (size_t i = 0; i < is_member.size(); ++i) by_class[is_member[i] ? 1 : 0].push_back(i);
  for (int c = 0; c < 2; ++c)
    check(static_cast<int64_t>(by_class[c].size()) >= o.folds, "split check",
          "at least " + std::to_string(o.folds) + " distinct " + (c ? "members" : "non-members") + " (one per fold)",
          std::to_string(by_class[c].size()));
  std::vector<int64_t> fold(is_member.size(), 0);
  for (int c = 0; c < 2; ++c) {
    core::Rng(core::derive_seed(o.seed, uint64_t(c))).shuffle(by_class[c]);
    for (size_t k = 0; k < by_class[c].size(); ++k) fold[by_class[c][k]] = static_cast<int64_t>(k) % o.folds;
  }
  r.scores.assign(is_member.size(), 0.5);
  for (int64_t f = 0; f < o.folds; ++f) {
    std::vector<size_t> train;
    for (size_t i = 0; i < fold.size(); ++i)
      if (fold[i] != f) train.push_back(i);
    const Fit m = fit(F, is_member, train, o.l2);
    for (size_t i = 0; i < fold.size(); ++i)
      if (fold[i] == f) r.scores[i] = m.predict(F[i]);
  }
  r.summary = metrics::summarize(r.scores, is_member, {}, o.bootstrap);
  r.biased = r.summary.ci ? r.summary.ci->auc.low > 0.5 : r.summary.auc > 0.5;

  // Which statistics carry the signal: a fit on every row, largest standardized weights first.
  std::vector<size_t> all(is_member.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  const Fit m = fit(F, is_member, all, o.l2);
  std::vector<std::pair<double, std::string>> w;
  const size_t d = r.features.size();
  for (size_t k = 0; k < 2 * d; ++k)
    w.push_back({m.w[k + 1], r.features[k % d] + (k < d ? "" : "²")});
  std::sort(w.begin(), w.end(), [](auto& a, auto& b) { return std::abs(a.first) > std::abs(b.first); });
  for (size_t k = 0; k < std::min<size_t>(5, w.size()); ++k)
    r.strongest.push_back(w[k].second + " (" + (w[k].first >= 0 ? "+" : "") + fixed(w[k].first, 2) + ")");
  return r;
}

data::Dataset join_for_split_check(const data::Dataset& a, const data::Dataset& b, const std::string& where_b,
                                   std::vector<bool>& is_member) {
  check(a.size() > 0 && b.size() > 0, where_b, "images in both data sets",
        std::to_string(a.size()) + " members and " + std::to_string(b.size()) + " non-members");
  check(a.height() == b.height() && a.width() == b.width() && a.channels() == b.channels(), where_b,
        "images of the members' shape " + std::to_string(a.height()) + "x" + std::to_string(a.width()) + "x" +
            std::to_string(a.channels()),
        std::to_string(b.height()) + "x" + std::to_string(b.width()) + "x" + std::to_string(b.channels()));
  data::Dataset d;
  d.images = a.images;
  d.images.shape[0] = a.size() + b.size();
  d.images.bytes.insert(d.images.bytes.end(), b.images.bytes.begin(), b.images.bytes.end());
  d.labels = a.labels;
  d.labels.insert(d.labels.end(), b.labels.begin(), b.labels.end());
  d.ids = a.ids;
  const int64_t shift = *std::max_element(a.ids.begin(), a.ids.end()) + 1 -
                        *std::min_element(b.ids.begin(), b.ids.end());
  for (int64_t id : b.ids) d.ids.push_back(id + shift);
  if (a.captions && b.captions) {
    d.captions = *a.captions;
    d.captions->insert(d.captions->end(), b.captions->begin(), b.captions->end());
  }
  is_member.assign(static_cast<size_t>(a.size()), true);
  is_member.resize(static_cast<size_t>(d.size()), false);
  return d;
}

std::string split_check_verdict(const SplitCheckResult& r) {
  std::string auc = fixed(r.summary.auc, 3);
  if (r.summary.ci && r.summary.ci->auc.valid())
    auc += " [" + fixed(r.summary.ci->auc.low, 3) + ", " + fixed(r.summary.ci->auc.high, 3) + "]";
  if (r.biased)
    return "biased split: image statistics alone tell members from non-members (AUC " + auc +
           "); an attack's AUC near this one measures the split, not memorization";
  return "no sign of a biased split: image statistics alone do not tell members from non-members (AUC " +
         auc + ")";
}

io::Json split_check_brief(const io::Json& full) {
  if (full.contains("skipped")) return full;
  return {{"auc", full["auc"]}, {"ci_auc", full.contains("ci") ? full["ci"]["auc"] : io::Json()},
          {"biased", full["biased"]}, {"verdict", full["verdict"]}};
}

io::Json split_check_json(const SplitCheckResult& r, const SplitCheckOptions& o) {
  io::Json j;
  metrics::to_json(j, r.summary);
  j["method"] = "ridge logistic regression on image statistics (and their squares), " +
                std::to_string(o.folds) + "-fold cross-validation grouped by image id";
  j["features"] = r.features;
  j["options"] = io::fields_json(o);
  j["biased"] = r.biased;
  j["verdict"] = split_check_verdict(r);
  j["strongest"] = r.strongest;
  return j;
}

}  // namespace diffmem::attack
