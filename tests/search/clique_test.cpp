#include "diffmem/search/clique.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include "diffmem/core/error.h"

namespace diffmem::search {
namespace {

Graph random_graph(int64_t n, double p, std::mt19937_64& rng) {
  std::bernoulli_distribution edge(p);
  Graph g(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j)
      if (edge(rng)) g.add_edge(i, j);
  return g;
}

// Every maximum clique by enumerating all 2^n vertex subsets.
std::set<std::vector<int64_t>> brute_force(const Graph& g) {
  const int64_t n = g.size();
  std::set<std::vector<int64_t>> best;
  size_t best_size = 0;
  for (uint64_t mask = 1; mask < (uint64_t{1} << n); ++mask) {
    std::vector<int64_t> m;
    for (int64_t v = 0; v < n; ++v)
      if (mask >> v & 1) m.push_back(v);
    if (m.size() < best_size || !is_clique(g, m)) continue;
    if (m.size() > best_size) {
      best.clear();
      best_size = m.size();
    }
    best.insert(m);
  }
  return best;
}

TEST(Clique, MatchesBruteForceOnRandomGraphs) {
  int checked = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t n = 1 + static_cast<int64_t>(seed % 14);
    const double p = 0.1 + 0.8 * static_cast<double>((seed * 7919) % 100) / 100.0;
    const Graph g = random_graph(n, p, rng);
    const auto truth = brute_force(g);
    const MaxCliqueResult one = maximum_clique(g);
    ASSERT_EQ(one.cliques.size(), 1u) << "seed " << seed;
    EXPECT_EQ(one.size, static_cast<int64_t>(truth.begin()->size())) << "seed " << seed;
    EXPECT_TRUE(truth.count(one.cliques[0])) << "seed " << seed;
    const MaxCliqueResult all = maximum_cliques(g, 1 << 20);
    const std::set<std::vector<int64_t>> found(all.cliques.begin(), all.cliques.end());
    EXPECT_EQ(found, truth) << "seed " << seed;
    EXPECT_EQ(found.size(), all.cliques.size()) << "seed " << seed << ": a clique reported twice";
    ++checked;
  }
  EXPECT_EQ(checked, 300);
}

TEST(Clique, LimitCapsTheListButKeepsTheSize) {
  // Three disjoint triangles: three maximum cliques of size 3.
  Graph g(9);
  for (int64_t t = 0; t < 3; ++t) {
    g.add_edge(3 * t, 3 * t + 1);
    g.add_edge(3 * t, 3 * t + 2);
    g.add_edge(3 * t + 1, 3 * t + 2);
  }
  EXPECT_EQ(maximum_cliques(g, 10).cliques.size(), 3u);
  const MaxCliqueResult two = maximum_cliques(g, 2);
  EXPECT_EQ(two.size, 3);
  EXPECT_EQ(two.cliques.size(), 2u);
  EXPECT_THROW(maximum_cliques(g, 0), Error);
}

TEST(Clique, PlantedCliqueInALargeSparseGraph) {
  // 2,000 vertices (32 words per row) with a planted 25-clique spread over the index range.
  std::mt19937_64 rng(7);
  Graph g = random_graph(2000, 0.01, rng);
  std::vector<int64_t> planted;
  for (int64_t i = 0; i < 25; ++i) planted.push_back(17 + i * 79);
  for (size_t i = 0; i < planted.size(); ++i)
    for (size_t j = i + 1; j < planted.size(); ++j) g.add_edge(planted[i], planted[j]);
  const MaxCliqueResult r = maximum_clique(g);
  EXPECT_EQ(r.size, 25);
  EXPECT_EQ(r.cliques.at(0), planted);
}

TEST(Clique, DenseRandomGraphFinishesAndAgreesWithAllMode) {
  // G(150, 0.5): many maximal cliques; the colour bound keeps this to a fraction of a second.
  std::mt19937_64 rng(3);
  const Graph g = random_graph(150, 0.5, rng);
  const auto t0 = std::chrono::steady_clock::now();
  const MaxCliqueResult one = maximum_clique(g);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 10.0);
  EXPECT_TRUE(is_clique(g, one.cliques.at(0)));
  EXPECT_EQ(maximum_cliques(g, 1000).size, one.size);
  EXPECT_GE(one.size, 9);  // ω(G(150,1/2)) is 10 or 11 almost surely; 9 would already be rare
}

TEST(Clique, EdgeCases) {
  EXPECT_EQ(maximum_clique(Graph(0)).size, 0);
  EXPECT_TRUE(maximum_clique(Graph(0)).cliques.empty());
  const MaxCliqueResult lonely = maximum_clique(Graph(5));
  EXPECT_EQ(lonely.size, 1);
  EXPECT_EQ(lonely.cliques.at(0), std::vector<int64_t>{0});
  EXPECT_EQ(maximum_cliques(Graph(5), 100).cliques.size(), 5u);
  Graph g(3);
  EXPECT_THROW(g.add_edge(1, 1), Error);
  EXPECT_THROW(g.add_edge(0, 3), Error);
  g.add_edge(0, 1);
  g.add_edge(1, 2);
  EXPECT_EQ(g.edge_count(), 2);
  g.isolate(1);
  EXPECT_EQ(g.edge_count(), 0);
  EXPECT_FALSE(g.has_edge(0, 1));
}

TEST(Clique, GraphFromDistances) {
  const torch::Tensor d = torch::tensor({0.0f, 0.1f, 0.2f, std::nanf(""),  //
                                         0.1f, 0.0f, 0.15f, 0.5f,          //
                                         0.2f, 0.15f, 0.0f, 0.05f,         //
                                         std::nanf(""), 0.5f, 0.05f, 0.0f})
                              .view({4, 4});
  const Graph g = graph_from_distances(d, 0.15);
  EXPECT_TRUE(g.has_edge(0, 1));
  EXPECT_TRUE(g.has_edge(1, 2));  // the threshold itself is an edge
  EXPECT_TRUE(g.has_edge(2, 3));
  EXPECT_FALSE(g.has_edge(0, 2));
  EXPECT_FALSE(g.has_edge(0, 3));  // NaN
  EXPECT_FALSE(g.has_edge(1, 3));
  EXPECT_FALSE(g.has_edge(0, 0));
  EXPECT_EQ(g.edge_count(), 3);
  EXPECT_THROW(graph_from_distances(torch::zeros({3, 4}), 0.1), Error);
  EXPECT_THROW(graph_from_distances(torch::zeros({3, 3}, torch::kInt), 0.1), Error);
}

}  // namespace
}  // namespace diffmem::search
