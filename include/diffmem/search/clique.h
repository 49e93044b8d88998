#pragma once
// Exact maximum cliques in similarity graphs (the black-box attack of Carlini et al. §4.2 calls a
// clique of ≥ 10 near-identical generations a memorized image).
//
// Bron–Kerbosch with Tomita's pivot (the vertex of P ∪ X with most neighbours in P), pruned by two
// upper bounds on what a branch can still reach: |R| + |P|, and |R| + the number of colours of a
// greedy colouring of P (Tomita & Seki's MCQ bound). Sets are bitsets of 64-bit words, so each
// intersection costs n/64 word operations; a few thousand vertices are cheap. The search is exact
// and worst-case exponential (dense random graphs); similarity graphs, which are unions of tight
// clusters, finish in milliseconds.
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace diffmem::search {

/// Undirected simple graph on vertices 0..n-1, adjacency as one bitset row per vertex.
class Graph {
 public:
  explicit Graph(int64_t n = 0);

  int64_t size() const { return n_; }
  /// 64-bit words per adjacency row.
  int64_t words() const { return words_; }
  /// Adds the edge a–b (a != b; both in range, else diffmem::Error).
  void add_edge(int64_t a, int64_t b);
  /// Removes every edge of v (v stays, isolated).
  void isolate(int64_t v);
  bool has_edge(int64_t a, int64_t b) const;
  int64_t degree(int64_t v) const;
  int64_t edge_count() const;
  /// The adjacency row of v: words() words, bit j of word j/64 set when v–j is an edge.
  const uint64_t* row(int64_t v) const { return adj_.data() + v * words_; }

 private:
  int64_t n_ = 0;
  int64_t words_ = 0;
  std::vector<uint64_t> adj_;
};

/// distances: [N,N] f32/f64 CPU or CUDA (copied to the CPU), symmetric -> the graph with an edge
/// i–j (i != j) wherever distances[i][j] <= threshold (NaN is never an edge). Only the upper
/// triangle is read, so a matrix that is symmetric up to rounding gives a symmetric graph.
Graph graph_from_distances(const torch::Tensor& distances, double threshold);

/// True when every two of `members` are adjacent (an empty or one-vertex set is a clique).
bool is_clique(const Graph& g, const std::vector<int64_t>& members);

struct MaxCliqueResult {
  /// Maximum cliques found, each sorted ascending, in the order the search met them; all have
  /// the maximum size. An empty graph gives none; a graph with vertices but no edges gives
  /// one-vertex cliques.
  std::vector<std::vector<int64_t>> cliques;
  int64_t size = 0;      ///< the clique number ω(G)
  int64_t branches = 0;  ///< search-tree nodes visited (for benchmarks)
};

/// One maximum clique (the first the search meets; deterministic for a given graph).
MaxCliqueResult maximum_clique(const Graph& g);

/// Maximum cliques of the graph, up to `limit` of them (limit >= 1). Every clique of size ω(G) is
/// found when there are at most `limit`; the search prunes less than maximum_clique, so it is slower.
MaxCliqueResult maximum_cliques(const Graph& g, int64_t limit);

}  // namespace diffmem::search
