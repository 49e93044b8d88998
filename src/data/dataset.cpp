#include "diffmem/data/dataset.h"

#include <cstring>

#include <unistd.h>

#include "diffmem/core/error.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/data/captions.h"
#include "diffmem/io/npy.h"

namespace diffmem::data {
namespace fs = std::filesystem;

namespace {

const char* kImages = "images.npy";
const char* kLabels = "labels.npy";
const char* kIds = "ids.npy";
const char* kManifest = "manifest.json";
const char* kMembers = "members.npy";

void require_file(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) fail(p.string(), "a file", "none");
}

std::string dtype_desc(io::DType d) { return io::dtype_name(d); }

std::vector<int64_t> read_i64_vector(const fs::path& p, int64_t n) {
  require_file(p);
  io::HostArray a = io::read_npy(p);
  check(a.dtype == io::DType::kI64, p.string(), "dtype I64", dtype_desc(a.dtype));
  check(a.shape.size() == 1 && a.shape[0] == n, p.string(),
        "shape (" + std::to_string(n) + ",) to match images.npy", io::shape_str(a.shape));
  std::vector<int64_t> v(static_cast<size_t>(n));
  if (n > 0) std::memcpy(v.data(), a.bytes.data(), v.size() * sizeof(int64_t));
  return v;
}

io::HostArray i64_array(const std::vector<int64_t>& v) {
  io::HostArray a = io::HostArray::zeros(io::DType::kI64, {static_cast<int64_t>(v.size())});
  if (!v.empty()) std::memcpy(a.bytes.data(), v.data(), v.size() * sizeof(int64_t));
  return a;
}

}  // namespace

const uint8_t* Dataset::image(int64_t i) const {
  if (i < 0 || i >= size())
    fail("Dataset::image", "an index in [0, " + std::to_string(size()) + ")", std::to_string(i));
  return images.bytes.data() + static_cast<size_t>(i * image_bytes());
}

void validate_dataset(const Dataset& ds, const std::string& where) {
  const auto& s = ds.images.shape;
  check(ds.images.dtype == io::DType::kU8, where, "images of dtype U8",
        dtype_desc(ds.images.dtype));
  check(s.size() == 4, where, "images of shape [N,H,W,C]", io::shape_str(s));
  check(s[0] >= 0 && s[1] > 0 && s[2] > 0, where, "images with N >= 0 and H, W > 0",
        io::shape_str(s));
  check(s[3] == 1 || s[3] == 3, where, "images with 1 or 3 channels", io::shape_str(s));
  check(ds.images.bytes.size() == static_cast<size_t>(s[0] * s[1] * s[2] * s[3]), where,
        "images holding N*H*W*C bytes", std::to_string(ds.images.bytes.size()) + " bytes");
  const auto n = static_cast<size_t>(s[0]);
  check(ds.labels.size() == n, where, std::to_string(n) + " labels",
        std::to_string(ds.labels.size()));
  check(ds.ids.size() == n, where, std::to_string(n) + " ids", std::to_string(ds.ids.size()));
  if (ds.members)
    check(ds.members->size() == n, where, std::to_string(n) + " member flags",
          std::to_string(ds.members->size()));
  if (ds.captions)
    check(ds.captions->size() == n, where, std::to_string(n) + " captions", std::to_string(ds.captions->size()));
}

Dataset load_dataset(const fs::path& dir) {
  DatasetInfo info = load_dataset_info(dir);
  Dataset ds;
  ds.images = io::read_npy(info.images);
  const int64_t n = info.shape[0];
  ds.labels = read_i64_vector(dir / kLabels, n);
  ds.ids = std::move(info.ids);
  ds.manifest = std::move(info.manifest);
  ds.members = load_members(dir, n);
  ds.captions = load_captions(dir, n);
  validate_dataset(ds, info.images.string());  // images.npy as read, against its header's checks
  return ds;
}

DatasetInfo load_dataset_info(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(dir.string(), "a dataset directory", "none");
  // The manifest is written last, so its absence means an incomplete or foreign directory.
  require_file(dir / kManifest);
  require_file(dir / kImages);
  DatasetInfo info;
  info.images = dir / kImages;
  const io::NpyHeader h = io::read_npy_header(info.images);
  const std::string ip = info.images.string();
  check(h.dtype == io::DType::kU8, ip, "dtype U8", dtype_desc(h.dtype));
  check(h.shape.size() == 4, ip, "a 4-D shape (N, H, W, C)", io::shape_str(h.shape));
  check(h.shape[1] > 0 && h.shape[2] > 0 && (h.shape[3] == 1 || h.shape[3] == 3), ip,
        "H, W > 0 and 1 or 3 channels", io::shape_str(h.shape));
  info.shape = h.shape;
  info.ids = read_i64_vector(dir / kIds, h.shape[0]);
  info.manifest = io::read_json(dir / kManifest);
  check(info.manifest.is_object(), (dir / kManifest).string(), "a JSON object", info.manifest.type_name());
  return info;
}

void save_dataset(const fs::path& dir, const Dataset& ds) {
  validate_dataset(ds, dir.string());
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir.string(), "cannot create directory: " + ec.message());
  // The new data set is written whole into a staging folder first: a full disk or a kill there
  // leaves the old one as it was. Only then are the files renamed into place (renames need no
  // space), manifest.json last, since a folder without it is not a data set.
  core::remove_stale_temporaries(dir);
  const fs::path stage = dir / (".staging." + std::to_string(::getpid()));
  fs::remove_all(stage, ec);
  try {
    fs::create_directories(stage, ec);
    if (ec) fail(stage.string(), "cannot create directory: " + ec.message());
    io::write_npy(stage / kImages, ds.images);
    io::write_npy(stage / kLabels, i64_array(ds.labels));
    io::write_npy(stage / kIds, i64_array(ds.ids));
    if (ds.members) save_members(stage, *ds.members);
    if (ds.captions) save_captions(stage, *ds.captions);
    io::write_json(stage / kManifest, ds.manifest);
  } catch (...) {
    fs::remove_all(stage, ec);
    throw;
  }
  fs::remove(dir / kManifest, ec);
  for (const char* name : {kImages, kLabels, kIds, kMembers, "captions.jsonl", kManifest}) {
    if (fs::exists(stage / name)) {
      fs::rename(stage / name, dir / name, ec);
      if (ec) fail((dir / name).string(), "cannot move the new file into place: " + ec.message());
    } else {
      fs::remove(dir / name, ec);  // the new data set has none (members, captions)
    }
  }
  fs::remove_all(stage, ec);
}

std::optional<std::vector<bool>> load_members(const fs::path& dir, int64_t expected_n) {
  const fs::path p = dir / kMembers;
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  io::HostArray a = io::read_npy(p);
  check(a.dtype == io::DType::kBool, p.string(), "dtype BOOL (numpy '|b1')", dtype_desc(a.dtype));
  check(a.shape.size() == 1, p.string(), "a 1-D shape", io::shape_str(a.shape));
  if (expected_n >= 0)
    check(a.shape[0] == expected_n, p.string(),
          "shape (" + std::to_string(expected_n) + ",) to match images.npy",
          io::shape_str(a.shape));
  std::vector<bool> m(static_cast<size_t>(a.shape[0]));
  for (size_t i = 0; i < m.size(); ++i) {
    const uint8_t b = a.bytes[i];
    check(b <= 1, p.string(), "bytes 0 or 1", std::to_string(b) + " at index " + std::to_string(i));
    m[i] = b != 0;
  }
  return m;
}

void save_members(const fs::path& dir, const std::vector<bool>& members) {
  io::HostArray a =
      io::HostArray::zeros(io::DType::kBool, {static_cast<int64_t>(members.size())});
  for (size_t i = 0; i < members.size(); ++i) a.bytes[i] = members[i] ? 1 : 0;
  io::write_npy(dir / "members.npy", a);
}

}  // namespace diffmem::data
