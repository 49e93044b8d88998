// Files of a dedup run and the deduplicated data set (the mitigation experiment's training set).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "diffmem/attack/dedup.h"
#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/data/subset.h"
#include "diffmem/io/npy.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

io::Json write_dedup(const fs::path& out, const DedupResult& r, const DedupOptions& options,
                     const std::vector<int64_t>& ids_in, const io::Json& manifest,
                     const io::Json& extra) {
  std::vector<int64_t> ids = ids_in;
  if (ids.empty()) {
    ids.resize(static_cast<size_t>(r.rows));
    for (int64_t i = 0; i < r.rows; ++i) ids[i] = i;
  }
  check(static_cast<int64_t>(ids.size()) == r.rows, "attack::write_dedup",
        std::to_string(r.rows) + " ids", std::to_string(ids.size()));
  const bool cosine = options.metric == "cosine";

  std::string pairs = cosine ? "i,j,id_i,id_j,distance,similarity\n" : "i,j,id_i,id_j,distance\n";
  char buf[64];
  for (const DuplicatePair& p : r.pairs) {
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(p.distance));
    pairs += std::to_string(p.i) + "," + std::to_string(p.j) + "," + std::to_string(ids[p.i]) + "," +
             std::to_string(ids[p.j]) + "," + buf;
    if (cosine) {
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(p.similarity));
      pairs += std::string(",") + buf;
    }
    pairs += "\n";
  }
  core::write_file_atomic(out / "pairs.csv", pairs);

  std::string groups = "group,size,row,id\n";
  for (size_t g = 0; g < r.groups.size(); ++g)
    for (int64_t row : r.groups[g])
      groups += std::to_string(g) + "," + std::to_string(r.groups[g].size()) + "," +
                std::to_string(row) + "," + std::to_string(ids[row]) + "\n";
  core::write_file_atomic(out / "groups.csv", groups);

  io::HostArray counts = io::HostArray::zeros(io::DType::kI64, {r.rows});
  std::memcpy(counts.bytes.data(), r.counts.data(), r.counts.size() * sizeof(int64_t));
  io::write_npy(out / "counts.npy", counts);

  const io::Json opts = io::fields_json(options);
  io::write_json(out / "options.json", opts);

  std::map<int64_t, int64_t> sizes;  // group size -> number of groups
  int64_t in_groups = 0, largest = 1;
  for (const auto& g : r.groups) {
    ++sizes[static_cast<int64_t>(g.size())];
    in_groups += static_cast<int64_t>(g.size());
    largest = std::max<int64_t>(largest, static_cast<int64_t>(g.size()));
  }
  io::Json size_json = io::Json::array();
  for (const auto& [s, n] : sizes) size_json.push_back({{"size", s}, {"groups", n}});

  io::Json s = extra.is_object() ? extra : io::Json::object();
  s["rows"] = r.rows;
  s["metric"] = options.metric;
  s["threshold"] = options.threshold;
  s["k"] = options.k;
  s["pairs"] = r.pairs.size();
  s["groups"] = r.groups.size();
  s["rows_in_groups"] = in_groups;
  s["removed"] = in_groups - static_cast<int64_t>(r.groups.size());
  s["kept"] = r.rows - (in_groups - static_cast<int64_t>(r.groups.size()));
  s["largest_group"] = largest;
  s["group_sizes"] = size_json;
  s["saturated"] = r.saturated;
  s["timing"] = {{"seconds", r.seconds}};

  // Planted duplicates (data subset --duplicate-counts): the group size found for each.
  const std::vector<data::DuplicateGroup> planted = data::duplicate_groups(manifest);
  if (!planted.empty()) {
    std::map<int64_t, int64_t> first_row;
    for (int64_t i = 0; i < r.rows; ++i) first_row.emplace(ids[i], i);
    io::Json pj = io::Json::array();
    int64_t exact = 0;
    for (const auto& g : planted) {
      const auto it = first_row.find(g.id);
      const int64_t found = it == first_row.end() ? 0 : r.counts[it->second];
      exact += found == g.count;
      pj.push_back({{"id", g.id}, {"count", g.count}, {"found", found}});
    }
    s["planted"] = pj;
    s["planted_found_exactly"] = exact;
  }
  s["options"] = opts;
  io::write_json(out / "summary.json", s);
  return s;
}

data::Dataset deduplicated(const data::Dataset& source, const DedupResult& r,
                           const DedupOptions& options, const std::string& from) {
  check(source.size() == r.rows, "attack::deduplicated",
        "a data set of " + std::to_string(r.rows) + " rows (the rows deduplicated)",
        std::to_string(source.size()));
  const std::vector<int64_t> keep = r.keep();
  data::Dataset out;
  const int64_t bytes = source.image_bytes();
  out.images = io::HostArray::zeros(io::DType::kU8, {static_cast<int64_t>(keep.size()), source.height(),
                                                     source.width(), source.channels()});
  if (source.members) out.members.emplace();
  for (size_t i = 0; i < keep.size(); ++i) {
    std::memcpy(out.images.bytes.data() + i * bytes, source.image(keep[i]), static_cast<size_t>(bytes));
    out.labels.push_back(source.labels[keep[i]]);
    out.ids.push_back(source.ids[keep[i]]);
    if (source.members) out.members->push_back((*source.members)[keep[i]]);
  }
  io::Json m = source.manifest.is_object() ? source.manifest : io::Json::object();
  if (m.contains("duplicates")) {
    m["duplicates_before_dedup"] = m["duplicates"];
    m.erase("duplicates");
  }
  if (out.members && m.contains("members") && m["members"].is_object())
    m["members"]["member_rows"] = std::count(out.members->begin(), out.members->end(), true);
  m["created_by"] = "diffmem dedup --write-deduplicated";
  m["shape"] = out.images.shape;
  m["count"] = out.size();
  m["distinct"] = std::set<int64_t>(out.ids.begin(), out.ids.end()).size();
  m["dedup"] = {{"from", from},
                {"metric", options.metric},
                {"threshold", options.threshold},
                {"k", options.k},
                {"kept", keep.size()},
                {"removed", r.rows - static_cast<int64_t>(keep.size())}};
  out.manifest = std::move(m);
  data::validate_dataset(out, "deduplicated");
  return out;
}

}  // namespace diffmem::attack
