// The aggregate outputs of white-box extraction: extracted.csv, the summary's histograms and
// pairs, and pairs.png (the closest generation ↔ training pairs side by side).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/io/image_file.h"
#include "diffmem/metrics/histogram.h"
#include "extract_internal.h"

namespace diffmem::attack::detail {

void write_extracted_csv(const std::filesystem::path& path, const std::vector<ExtractedImage>& rows) {
  std::string csv = "id,row,hits,best_l2,best_generation,best_seed,copies,planted\n";
  for (const ExtractedImage& e : rows) {
    char l2[32];
    std::snprintf(l2, sizeof l2, "%.9g", static_cast<double>(e.best_l2));
    csv += std::to_string(e.id) + "," + std::to_string(e.row) + "," + std::to_string(e.hits) + "," +
           l2 + "," + std::to_string(e.best_generation) + "," + std::to_string(e.best_seed) + "," +
           std::to_string(e.copies) + "," + (e.planted >= 0 ? std::to_string(e.planted) : "") + "\n";
  }
  core::write_file_atomic(path, csv);
}

io::Json histogram_json(const std::vector<double>& values, int64_t bins, double at_least) {
  metrics::HistogramOptions ho;
  ho.bins = bins;
  ho.lo = 0.0;
  double hi = at_least;
  for (double x : values)
    if (std::isfinite(x)) hi = std::max(hi, x);
  ho.hi = hi > 0 ? hi : 1.0;
  io::Json j;
  metrics::to_json(j, metrics::histogram(values, ho));
  return j;
}

io::Json match_json(const Match& m) {
  return io::Json{{"generation", m.generation}, {"shard", m.shard},     {"index", m.index},
                  {"seed", m.seed},             {"row", m.nearest_row}, {"id", m.nearest_id},
                  {"l2", m.l2},                 {"tiled_l2", m.tiled_l2},
                  {"calibrated_l2", std::isnan(m.calibrated_l2) ? io::Json(nullptr)
                                                                : io::Json(m.calibrated_l2)}};
}


void write_pairs_png(const std::filesystem::path& path, const std::vector<Match>& pairs,
                     const std::map<int64_t, data::ShardFiles>& shards, const TrainSet& train,
                     int64_t per_row) {
  if (pairs.empty()) return;
  const int64_t h = train.shape.at(1), w = train.shape.at(2), c = train.shape.at(3);
  const int64_t bytes = h * w * c;
  std::vector<int64_t> rows;
  for (const Match& m : pairs) rows.push_back(m.nearest_row);
  const io::HostArray training = train.rows(rows);
  // Each pair is its own 1×2 grid with a thin gap; the pairs are then gridded with a wider one,
  // so that which generation goes with which training image stays obvious.
  io::HostArray pair_images;
  for (size_t p = 0; p < pairs.size(); ++p) {
    const Match& m = pairs[p];
    io::HostArray two = io::HostArray::zeros(io::DType::kU8, {2, h, w, c});
    const auto it = shards.find(m.shard);
    check(it != shards.end(), "extract pairs.png", "shard " + std::to_string(m.shard), "none");
    const std::vector<uint8_t> g = read_shard_image(it->second.images, m.index);
    check(static_cast<int64_t>(g.size()) == bytes, it->second.images.string(),
          std::to_string(bytes) + " bytes per image", std::to_string(g.size()));
    std::memcpy(two.bytes.data(), g.data(), static_cast<size_t>(bytes));
    std::memcpy(two.bytes.data() + bytes, training.bytes.data() + p * bytes, static_cast<size_t>(bytes));
    io::HostArray one = io::make_grid(two, 2, 1, 255);
    if (p == 0) {
      pair_images = io::HostArray::zeros(
          io::DType::kU8, {static_cast<int64_t>(pairs.size()), one.shape[0], one.shape[1],
                           one.shape.size() > 2 ? one.shape[2] : 1});
    }
    std::memcpy(pair_images.bytes.data() + p * one.bytes.size(), one.bytes.data(), one.bytes.size());
  }
  io::write_png(path, io::make_grid(pair_images, static_cast<int>(per_row), 6, 255));
}

}  // namespace diffmem::attack::detail
