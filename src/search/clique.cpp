#include "diffmem/search/clique.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"

namespace diffmem::search {
namespace {

inline int64_t popcount(const uint64_t* s, int64_t w) {
  int64_t c = 0;
  for (int64_t i = 0; i < w; ++i) c += __builtin_popcountll(s[i]);
  return c;
}
inline bool any(const uint64_t* s, int64_t w) {
  for (int64_t i = 0; i < w; ++i)
    if (s[i]) return true;
  return false;
}
inline void set_bit(uint64_t* s, int64_t v) { s[v >> 6] |= uint64_t{1} << (v & 63); }
inline void clear_bit(uint64_t* s, int64_t v) { s[v >> 6] &= ~(uint64_t{1} << (v & 63)); }

// Calls f(v) for every set bit of s in ascending order; f may not change s.
template <typename F>
void for_each_bit(const uint64_t* s, int64_t w, F&& f) {
  for (int64_t i = 0; i < w; ++i) {
    for (uint64_t b = s[i]; b; b &= b - 1) f(i * 64 + __builtin_ctzll(b));
  }
}

class Search {
 public:
  Search(const Graph& g, bool all, int64_t limit) : g_(g), w_(g.words()), all_(all), limit_(limit) {}

  MaxCliqueResult run() {
    const int64_t n = g_.size();
    if (n == 0) return {};
    std::vector<uint64_t> p(w_, 0), x(w_, 0);
    for (int64_t v = 0; v < n; ++v) set_bit(p.data(), v);
    expand(p.data(), x.data(), 0);
    for (auto& c : result_.cliques) std::sort(c.begin(), c.end());
    result_.size = best_;
    return std::move(result_);
  }

 private:
  // A branch whose clique can reach at most `reach` vertices is worth searching only if that
  // beats the best so far, or ties it while more maximum cliques are wanted.
  bool hopeless(int64_t reach) const {
    const bool want_ties = all_ && static_cast<int64_t>(result_.cliques.size()) < limit_;
    return want_ties ? reach < best_ : reach <= best_;
  }

  uint64_t* scratch(int64_t depth, int which) {
    const size_t need = static_cast<size_t>(depth + 1);
    if (pool_.size() < need) pool_.resize(need);
    std::vector<uint64_t>& level = pool_[depth];
    if (level.empty()) level.assign(static_cast<size_t>(5 * w_), 0);
    return level.data() + which * w_;
  }

  // Greedy colouring of P; stops as soon as the colours make `r + colours` not hopeless.
  bool colour_bound_prunes(const uint64_t* p, int64_t depth) {
    uint64_t* left = scratch(depth, 3);
    uint64_t* cls = scratch(depth, 4);
    std::copy(p, p + w_, left);
    int64_t colours = 0;
    const int64_t r = static_cast<int64_t>(r_.size());
    while (any(left, w_)) {
      ++colours;
      if (!hopeless(r + colours)) return false;
      std::copy(left, left + w_, cls);
      for (int64_t i = 0; i < w_; ++i) {
        while (cls[i]) {
          const int64_t v = i * 64 + __builtin_ctzll(cls[i]);
          clear_bit(left, v);
          clear_bit(cls, v);
          const uint64_t* nv = g_.row(v);
          for (int64_t k = i; k < w_; ++k) cls[k] &= ~nv[k];
        }
      }
    }
    return true;
  }

  void report() {
    const int64_t r = static_cast<int64_t>(r_.size());
    if (r > best_) {
      best_ = r;
      result_.cliques.clear();
    }
    if (r == best_ && static_cast<int64_t>(result_.cliques.size()) < (all_ ? limit_ : 1)) {
      result_.cliques.push_back(r_);
    }
  }

  void expand(uint64_t* p, uint64_t* x, int64_t depth) {
    ++result_.branches;
    const int64_t r = static_cast<int64_t>(r_.size());
    int64_t np = popcount(p, w_);
    if (np == 0) {
      if (!any(x, w_)) report();
      return;
    }
    if (hopeless(r + np) || colour_bound_prunes(p, depth)) return;

    // Tomita's pivot: the vertex of P ∪ X with most neighbours in P; only its non-neighbours
    // need branching, since a maximal clique avoiding all of them would contain the pivot.
    int64_t pivot = -1, pivot_deg = -1;
    auto consider = [&](int64_t u) {
      const uint64_t* nu = g_.row(u);
      int64_t d = 0;
      for (int64_t i = 0; i < w_; ++i) d += __builtin_popcountll(p[i] & nu[i]);
      if (d > pivot_deg) {
        pivot_deg = d;
        pivot = u;
      }
    };
    for_each_bit(p, w_, consider);
    for_each_bit(x, w_, consider);

    uint64_t* branch = scratch(depth, 0);
    const uint64_t* npiv = g_.row(pivot);
    for (int64_t i = 0; i < w_; ++i) branch[i] = p[i] & ~npiv[i];
    uint64_t* np_next = scratch(depth, 1);
    uint64_t* nx_next = scratch(depth, 2);
    for (int64_t i = 0; i < w_; ++i) {
      while (branch[i]) {
        const int64_t v = i * 64 + __builtin_ctzll(branch[i]);
        branch[i] &= branch[i] - 1;
        const uint64_t* nv = g_.row(v);
        for (int64_t k = 0; k < w_; ++k) {
          np_next[k] = p[k] & nv[k];
          nx_next[k] = x[k] & nv[k];
        }
        r_.push_back(v);
        expand(np_next, nx_next, depth + 1);
        r_.pop_back();
        clear_bit(p, v);
        set_bit(x, v);
        --np;
        if (hopeless(r + np)) return;
      }
    }
  }

  const Graph& g_;
  const int64_t w_;
  const bool all_;
  const int64_t limit_;
  int64_t best_ = 0;
  std::vector<int64_t> r_;
  std::vector<std::vector<uint64_t>> pool_;  // per depth: branch, P', X', colouring scratch ×2
  MaxCliqueResult result_;
};

}  // namespace

Graph::Graph(int64_t n) : n_(n), words_((n + 63) / 64) {
  check(n >= 0, "search::Graph", "a vertex count >= 0", std::to_string(n));
  adj_.assign(static_cast<size_t>(n_ * words_), 0);
}

void Graph::add_edge(int64_t a, int64_t b) {
  check(a >= 0 && b >= 0 && a < n_ && b < n_ && a != b, "search::Graph::add_edge",
        "two different vertices in [0, " + std::to_string(n_) + ")",
        std::to_string(a) + " and " + std::to_string(b));
  set_bit(adj_.data() + a * words_, b);
  set_bit(adj_.data() + b * words_, a);
}

void Graph::isolate(int64_t v) {
  check(v >= 0 && v < n_, "search::Graph::isolate", "a vertex in [0, " + std::to_string(n_) + ")",
        std::to_string(v));
  uint64_t* rv = adj_.data() + v * words_;
  for_each_bit(rv, words_, [&](int64_t u) { clear_bit(adj_.data() + u * words_, v); });
  std::fill(rv, rv + words_, 0);
}

bool Graph::has_edge(int64_t a, int64_t b) const {
  if (a < 0 || b < 0 || a >= n_ || b >= n_) return false;
  return (row(a)[b >> 6] >> (b & 63)) & 1;
}

int64_t Graph::degree(int64_t v) const { return popcount(row(v), words_); }

int64_t Graph::edge_count() const {
  return popcount(adj_.data(), static_cast<int64_t>(adj_.size())) / 2;
}

Graph graph_from_distances(const torch::Tensor& distances, double threshold) {
  const char* where = "search::graph_from_distances";
  check(distances.defined() && distances.dim() == 2 && distances.size(0) == distances.size(1),
        where, "a square [N,N] distance matrix",
        distances.defined() ? "shape " + c10::str(distances.sizes()) : "an undefined tensor");
  check(distances.is_floating_point(), where, "a floating-point distance matrix",
        std::string(c10::toString(distances.scalar_type())));
  const int64_t n = distances.size(0);
  // Thresholding on the device leaves only N² bytes to copy back.
  const torch::Tensor edges = distances.le(threshold).triu(1).to(torch::kCPU).contiguous();
  const bool* e = edges.data_ptr<bool>();
  Graph g(n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j)
      if (e[i * n + j]) g.add_edge(i, j);
  }
  return g;
}

bool is_clique(const Graph& g, const std::vector<int64_t>& members) {
  for (size_t i = 0; i < members.size(); ++i) {
    for (size_t j = i + 1; j < members.size(); ++j)
      if (!g.has_edge(members[i], members[j])) return false;
  }
  return true;
}

MaxCliqueResult maximum_clique(const Graph& g) { return Search(g, false, 1).run(); }

MaxCliqueResult maximum_cliques(const Graph& g, int64_t limit) {
  check(limit >= 1, "search::maximum_cliques", "limit >= 1", std::to_string(limit));
  return Search(g, true, limit).run();
}

}  // namespace diffmem::search
