// The per-shard part of white-box extraction: distances of one shard's generations to the training
// set, and the CSV files that carry them (shard cache, matches.csv).
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/io/npy.h"
#include "extract_internal.h"

namespace diffmem::attack {
namespace detail {
namespace fs = std::filesystem;

namespace {
// Rows per tiled-ℓ2 chunk: bounds the two [rows,D] f32 copies whatever the shard size.
constexpr int64_t kTileChunk = 1024;

std::string fmt_float(float v) {
  if (std::isnan(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}
}  // namespace

std::vector<Match> match_images(const search::KnnIndex& index, const torch::Tensor& images,
                                const search::ImageShape& shape, const std::vector<int64_t>& ids,
                                const ExtractOptions& options, int64_t n_calibration) {
  if (images.size(0) == 0) return {};
  return match_neighbours(index.search(images), images,
                          [&](const torch::Tensor& nearest) { return index.unit_rows(nearest); },
                          index.device(), shape, ids, options, n_calibration);
}

std::vector<Match> match_neighbours(const search::KnnResult& knn, const torch::Tensor& images,
                                    const TrainingRows& training_rows, const torch::Device& device,
                                    const search::ImageShape& shape, const std::vector<int64_t>& ids,
                                    const ExtractOptions& options, int64_t n_calibration) {
  const int64_t n = images.size(0);
  std::vector<Match> rows(static_cast<size_t>(n));
  if (n == 0) return rows;
  const torch::Tensor nearest = knn.indices.select(1, 0).contiguous();
  const torch::Tensor l2 = knn.distances.select(1, 0).contiguous();

  torch::Tensor tiled = torch::empty({n}, l2.options());
  search::TiledOptions to;
  to.grid = options.tiles;
  for (int64_t r0 = 0; r0 < n; r0 += kTileChunk) {
    const int64_t r = std::min(kTileChunk, n - r0);
    torch::Tensor g = search::to_unit_rows(images.narrow(0, r0, r).to(device));
    torch::Tensor t = training_rows(nearest.narrow(0, r0, r));
    tiled.narrow(0, r0, r).copy_(search::tiled_l2(g, t, shape, to));
  }

  torch::Tensor calibrated;
  if (n_calibration > 0) {
    search::CalibratedOptions co;
    co.alpha = options.alpha;
    co.n = n_calibration;
    calibrated = search::calibrated_l2_from_knn(knn.distances, co).score;
    // All n neighbours at distance 0 (a generation equal to an image copied ≥ n times): 0/0 is a
    // perfect copy, not an undefined score.
    calibrated.masked_fill_(l2.eq(0), 0.0f);
  }

  const torch::Tensor near_c = nearest.to(torch::kCPU);
  const torch::Tensor l2_c = l2.to(torch::kCPU);
  const torch::Tensor tiled_c = tiled.to(torch::kCPU);
  const torch::Tensor cal_c = calibrated.defined() ? calibrated.to(torch::kCPU) : torch::Tensor();
  const int64_t* pn = near_c.data_ptr<int64_t>();
  const float* pl = l2_c.data_ptr<float>();
  const float* pt = tiled_c.data_ptr<float>();
  const float* pc = cal_c.defined() ? cal_c.data_ptr<float>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    Match& m = rows[static_cast<size_t>(i)];
    m.index = i;
    m.nearest_row = pn[i];
    m.nearest_id = pn[i] >= 0 ? ids.at(static_cast<size_t>(pn[i])) : -1;
    m.l2 = pl[i];
    m.tiled_l2 = pt[i];
    m.calibrated_l2 = pc ? pc[i] : std::numeric_limits<float>::quiet_NaN();
  }
  return rows;
}

io::HostArray TrainSet::rows(const std::vector<int64_t>& wanted) const {
  if (!whole()) return io::read_npy_rows(images_npy, wanted);
  const int64_t bytes = shape[1] * shape[2] * shape[3];
  io::HostArray a = io::HostArray::zeros(io::DType::kU8, {static_cast<int64_t>(wanted.size()), shape[1],
                                                          shape[2], shape[3]});
  for (size_t i = 0; i < wanted.size(); ++i) {
    check(wanted[i] >= 0 && wanted[i] < size(), images_npy.string(), "a row below " + std::to_string(size()),
          std::to_string(wanted[i]));
    std::memcpy(a.bytes.data() + i * bytes, images.bytes.data() + wanted[i] * bytes, static_cast<size_t>(bytes));
  }
  return a;
}

TrainSet load_train_whole(const fs::path& dir) {
  data::Dataset ds = data::load_dataset(dir);
  TrainSet t;
  t.images_npy = dir / "images.npy";
  t.shape = ds.images.shape;
  t.ids = std::move(ds.ids);
  t.manifest = std::move(ds.manifest);
  t.images = std::move(ds.images);
  return t;
}

TrainSet load_train_part(const fs::path& dir, int rank, int size) {
  data::DatasetInfo info = data::load_dataset_info(dir);
  const int64_t n = info.shape[0];
  check(n >= size, "--split-train", "at least one training image per rank (" + std::to_string(size) + " ranks)",
        std::to_string(n) + " images in " + info.images.string());
  TrainSet t;
  t.first = n * rank / size;
  t.images = io::read_npy_rows(info.images, t.first, n * (rank + 1) / size - t.first);
  t.images_npy = std::move(info.images);
  t.shape = std::move(info.shape);
  t.ids = std::move(info.ids);
  t.manifest = std::move(info.manifest);
  return t;
}

fs::path shard_cache_file(const fs::path& out, int64_t shard) {
  char name[64];
  std::snprintf(name, sizeof name, "matches-%05lld.csv", static_cast<long long>(shard));
  return out / "shards" / name;
}

void write_shard_cache(const fs::path& path, const std::vector<Match>& rows) {
  std::string s = "index,seed,nearest_row,nearest_id,l2,tiled_l2,calibrated_l2\n";
  for (const Match& m : rows) {
    s += std::to_string(m.index) + "," + std::to_string(m.seed) + "," +
         std::to_string(m.nearest_row) + "," + std::to_string(m.nearest_id) + "," +
         fmt_float(m.l2) + "," + fmt_float(m.tiled_l2) + "," + fmt_float(m.calibrated_l2) + "\n";
  }
  core::write_file_atomic(path, s);
}

std::string matches_header() {
  return "generation,shard,seed,nearest_row,nearest_id,l2,tiled_l2,calibrated_l2,extracted";
}

std::string match_line(const Match& m) {
  return std::to_string(m.generation) + "," + std::to_string(m.shard) + "," +
         std::to_string(m.seed) + "," + std::to_string(m.nearest_row) + "," +
         std::to_string(m.nearest_id) + "," + fmt_float(m.l2) + "," + fmt_float(m.tiled_l2) + "," +
         fmt_float(m.calibrated_l2) + "," + (m.extracted ? "1" : "0");
}

std::vector<uint8_t> read_shard_image(const fs::path& images_npy, int64_t index) {
  const io::NpyHeader h = io::read_npy_header(images_npy);
  check(h.dtype == io::DType::kU8 && h.shape.size() == 4 && index >= 0 && index < h.shape[0],
        images_npy.string(), "uint8 [n,H,W,C] images holding image " + std::to_string(index),
        io::dtype_name(h.dtype) + " " + io::shape_str(h.shape));
  return io::read_npy_rows(images_npy, index, 1).bytes;
}

}  // namespace detail

std::vector<Match> read_matches_csv(const std::filesystem::path& path) {
  std::istringstream in(core::read_file(path));
  std::string line;
  if (!std::getline(in, line)) fail(path.string(), "a CSV header", "an empty file");
  std::vector<std::string> cols;
  {
    std::stringstream ss(line);
    std::string c;
    while (std::getline(ss, c, ',')) cols.push_back(c);
  }
  std::vector<Match> rows;
  int64_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string c;
    while (std::getline(ss, c, ',')) f.push_back(c);
    if (!line.empty() && line.back() == ',') f.emplace_back();
    if (f.size() != cols.size())
      fail(path.string() + ":" + std::to_string(lineno), std::to_string(cols.size()) + " fields",
           std::to_string(f.size()));
    Match m;
    try {
      for (size_t i = 0; i < cols.size(); ++i) {
        const std::string& k = cols[i];
        const std::string& v = f[i];
        auto as_float = [&] { return v.empty() ? std::numeric_limits<float>::quiet_NaN() : std::stof(v); };
        if (k == "generation") m.generation = std::stoll(v);
        else if (k == "shard") m.shard = std::stoll(v);
        else if (k == "index") m.index = std::stoll(v);
        else if (k == "seed") m.seed = std::stoll(v);
        else if (k == "nearest_row") m.nearest_row = std::stoll(v);
        else if (k == "nearest_id") m.nearest_id = std::stoll(v);
        else if (k == "l2") m.l2 = as_float();
        else if (k == "tiled_l2") m.tiled_l2 = as_float();
        else if (k == "calibrated_l2") m.calibrated_l2 = as_float();
        else if (k == "extracted") m.extracted = v == "1";
      }
    } catch (const std::logic_error&) {
      fail(path.string() + ":" + std::to_string(lineno), "numbers", "\"" + line + "\"");
    }
    rows.push_back(m);
  }
  return rows;
}

}  // namespace diffmem::attack
