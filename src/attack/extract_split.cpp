// extract --split-train: the training set split across an MPI job's ranks, for training sets that
// do not fit one rank's memory. Each rank holds rows [N·r/R, N·(r+1)/R) and searches them for the
// generations of every shard; rank 0 merges the ranks' k nearest into the whole set's
// (search/knn_merge.h: exact on the integer path), finishes the matches (tiled ℓ2 from the nearest
// rows, read from the file; calibrated ℓ2 from the merged distances) and writes the shard's cache
// file before the next shard starts, so a killed job leaves only complete shards.
#include <torch/torch.h>

#include <cstring>

#include "diffmem/core/clock.h"
#include "diffmem/core/error.h"
#include "diffmem/core/progress.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/search/knn_merge.h"
#include "extract_internal.h"

namespace diffmem::attack::detail {
namespace fs = std::filesystem;

namespace {

void put(std::string& out, const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU).contiguous();
  out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

torch::Tensor take(const std::string& in, size_t& at, int64_t rows, int64_t cols, torch::ScalarType type,
                   int rank) {
  torch::Tensor t = torch::empty({rows, cols}, type);
  const size_t n = static_cast<size_t>(t.numel() * t.element_size());
  check(at + n <= in.size(), "extract --split-train", "rank " + std::to_string(rank) + "'s neighbours whole",
        std::to_string(in.size()) + " bytes");
  std::memcpy(t.data_ptr(), in.data() + at, n);
  at += n;
  return t;
}

// One rank's part: [rows, k, offset] then indices (i64), distances (f32) and keys (i64).
std::string encode(const search::KnnPart& p) {
  const int64_t head[3] = {p.result.indices.size(0), p.result.indices.size(1), p.offset};
  std::string out(reinterpret_cast<const char*>(head), sizeof head);
  put(out, p.result.indices.to(torch::kLong));
  put(out, p.result.distances.to(torch::kFloat));
  put(out, p.keys);
  return out;
}

search::KnnPart decode(const std::string& in, int rank) {
  int64_t head[3];
  check(in.size() >= sizeof head, "extract --split-train", "rank " + std::to_string(rank) + "'s neighbours",
        std::to_string(in.size()) + " bytes");
  std::memcpy(head, in.data(), sizeof head);
  size_t at = sizeof head;
  search::KnnPart p;
  p.offset = head[2];
  p.result.indices = take(in, at, head[0], head[1], torch::kLong, rank);
  p.result.distances = take(in, at, head[0], head[1], torch::kFloat, rank);
  p.keys = take(in, at, head[0], head[1], torch::kLong, rank);
  return p;
}

}  // namespace

std::set<int64_t> search_split_train(const std::vector<ShardPlan>& plan, const ExtractInputs& in,
                                     const search::KnnIndex& part_index, const dist::Communicator& comm,
                                     ExtractResult& result, const ProgressFn& progress) {
  const TrainSet& train = *in.train;
  // Which shards to compute: rank 0 reads the cache (it has just opened it), every rank follows.
  std::string todo;
  dist::collectively(comm, [&] {
    if (comm.rank() != 0) return;
    for (size_t i = 0; i < plan.size(); ++i)
      if (plan[i].n > 0 && load_cached(shard_cache_file(in.out, plan[i].files.index),
                                       read_seeds(plan[i].files, plan[i].n)).empty())
        todo += std::to_string(i) + " ";
  });
  std::vector<size_t> shards;
  {
    const std::string list = comm.broadcast(todo);
    size_t at = 0;
    while (at < list.size()) {
      const size_t end = list.find(' ', at);
      shards.push_back(std::stoul(list.substr(at, end - at)));
      at = end + 1;
    }
  }

  int64_t total = 0;
  for (size_t i : shards) total += plan[i].n;
  ProgressMeter meter(progress, "extract", total, "generations");
  const torch::Tensor part_rows = io::to_tensor(train.images);
  const torch::Device device(in.options->device);
  double seconds = 0;
  int64_t done = 0;
  std::set<int64_t> computed;
  for (size_t i : shards) {
    const ShardPlan& p = plan[i];
    const double ts = core::now_s();
    data::Generations g;
    torch::Tensor queries;
    std::string mine;
    dist::collectively(comm, [&] {
      g = data::load_shard(p.files);
      check(static_cast<int64_t>(g.seeds.size()) == p.n, p.files.images.string(), std::to_string(p.n) + " images",
            std::to_string(g.seeds.size()));
      queries = io::to_tensor(g.images);
      search::KnnPart part;
      part.result = part_index.search(queries);
      part.offset = train.first;
      // The integer path reports exact ‖q−b‖²; the float path's are recomputed from the rows.
      part.keys = part.result.squared.defined() ? part.result.squared.to(torch::kCPU)
                                                : search::squared_l2_u8(queries, part_rows, part.result.indices);
      mine = encode(part);
    });
    const std::vector<std::string> all = comm.all_gather(mine);
    dist::collectively(comm, [&] {
      if (comm.rank() != 0) return;
      std::vector<search::KnnPart> parts;
      for (size_t r = 0; r < all.size(); ++r) parts.push_back(decode(all[r], static_cast<int>(r)));
      search::KnnResult merged = search::merge_knn(parts, in.knn.k);
      merged.indices = merged.indices.to(device);
      merged.distances = merged.distances.to(device);
      const TrainingRows training_rows = [&](const torch::Tensor& nearest) {
        const torch::Tensor rows = nearest.clamp_min(0).to(torch::kCPU).contiguous();
        const std::vector<int64_t> wanted(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
        return search::to_unit_rows(io::to_tensor(train.rows(wanted))).to(device);
      };
      std::vector<Match> rows = match_neighbours(merged, queries, training_rows, device, train.image_shape(),
                                                 train.ids, *in.options, in.n_cal);
      for (size_t j = 0; j < rows.size(); ++j) rows[j].seed = g.seeds[j];
      write_shard_cache(shard_cache_file(in.out, p.files.index), rows);
    });
    seconds += core::now_s() - ts;
    computed.insert(p.files.index);
    meter.update(done += p.n);
  }
  meter.finish();
  // Every rank spent the time on every shard: the job's search time is rank 0's.
  result.search_seconds += seconds;
  return computed;
}

}  // namespace diffmem::attack::detail
