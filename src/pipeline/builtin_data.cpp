// The audit's data stage: the built-in data set (members with planted duplicates, plus held-out
// non-members) and the member-only training set that extraction searches.
#include "audit_internal.h"

#include <cstring>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/data/import.h"
#include "diffmem/data/subset.h"

namespace diffmem::pipeline::detail {

namespace {
// A stream of the audit seed of its own, so the member/holdout split never moves when the subset
// options change.
constexpr uint64_t kHoldoutStream = 0xa0d17;
}  // namespace

data::Dataset select_rows(const data::Dataset& ds, const std::vector<int64_t>& rows) {
  data::Dataset out;
  const int64_t bytes = ds.image_bytes();
  out.images = io::HostArray::zeros(
      io::DType::kU8, {static_cast<int64_t>(rows.size()), ds.height(), ds.width(), ds.channels()});
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(out.images.bytes.data() + i * bytes, ds.image(rows[i]), static_cast<size_t>(bytes));
    out.labels.push_back(ds.labels[rows[i]]);
    out.ids.push_back(ds.ids[rows[i]]);
    if (ds.captions) {
      if (!out.captions) out.captions.emplace();
      out.captions->push_back((*ds.captions)[rows[i]]);
    }
  }
  if (ds.captions && !out.captions) out.captions.emplace();
  if (ds.members) {
    out.members.emplace();
    for (int64_t r : rows) out.members->push_back((*ds.members)[r]);
  }
  out.manifest = ds.manifest;
  out.manifest["shape"] = out.images.shape;
  out.manifest["count"] = out.size();
  return out;
}

data::Dataset builtin_dataset(const AuditDataOptions& o, bool captions, uint64_t seed, const ProgressFn& progress) {
  check(o.n >= 1, "audit builtin.n", "at least 1 member image", std::to_string(o.n));
  check(o.holdout >= 0, "audit builtin.holdout", "0 or more held-out images",
        std::to_string(o.holdout));
  data::ImportOptions io_opt;
  io_opt.source = o.source;
  io_opt.src = o.src;
  if (captions) {
    io_opt.captions = "generated";
    io_opt.caption_seed = seed;
  }
  const data::Dataset source = data::import_dataset(io_opt, progress);

  data::SubsetOptions pool_opt;
  pool_opt.n = o.n + o.holdout;
  pool_opt.classes = o.classes;
  pool_opt.seed = seed;
  const data::Dataset pool = data::make_subset(source, pool_opt);

  const std::vector<int64_t> member_pick =
      core::sample_without_replacement(pool.size(), o.n, core::derive_seed(seed, kHoldoutStream));
  const std::set<int64_t> member_set(member_pick.begin(), member_pick.end());
  std::vector<int64_t> member_rows, holdout_rows;
  for (int64_t r = 0; r < pool.size(); ++r) (member_set.count(r) ? member_rows : holdout_rows).push_back(r);

  data::SubsetOptions dup_opt;
  dup_opt.seed = seed;
  dup_opt.duplicate_counts = o.duplicate_counts;
  dup_opt.duplicate_picks = o.duplicate_picks;
  dup_opt.caption_copies = o.caption_copies;
  const data::Dataset train = data::make_subset(select_rows(pool, member_rows), dup_opt);
  const data::Dataset holdout = select_rows(pool, holdout_rows);

  data::Dataset full;
  std::vector<int64_t> all(static_cast<size_t>(train.size()));
  for (int64_t i = 0; i < train.size(); ++i) all[i] = i;
  full = select_rows(train, all);
  full.images.shape[0] += holdout.size();
  full.images.bytes.insert(full.images.bytes.end(), holdout.images.bytes.begin(),
                           holdout.images.bytes.end());
  full.labels.insert(full.labels.end(), holdout.labels.begin(), holdout.labels.end());
  full.ids.insert(full.ids.end(), holdout.ids.begin(), holdout.ids.end());
  if (full.captions) full.captions->insert(full.captions->end(), holdout.captions->begin(), holdout.captions->end());
  full.members.emplace(static_cast<size_t>(full.size()), false);
  for (int64_t i = 0; i < train.size(); ++i) (*full.members)[i] = true;

  io::Json m = train.manifest;
  m["created_by"] = "diffmem audit (built-in data set)";
  m["options"] = {{"builtin", {{"source", o.source}, {"n", o.n}, {"holdout", o.holdout},
                               {"classes", o.classes}, {"duplicate_counts", o.duplicate_counts},
                               {"duplicate_picks", o.duplicate_picks},
                               {"captions", captions ? "generated" : "none"}}},
                  {"seed", seed}};
  m["shape"] = full.images.shape;
  m["count"] = full.size();
  m["distinct"] = o.n + o.holdout;
  m["members"] = {{"split", "audit: members with planted duplicates, then held-out non-members"},
                  {"seed", seed},
                  {"count", o.n},
                  {"of", o.n + o.holdout},
                  {"member_rows", train.size()}};
  for (auto& d : m["duplicates"]) d["member"] = true;
  full.manifest = std::move(m);
  data::validate_dataset(full, "audit built-in data set");
  return full;
}

bool builtin_captions(const AuditOptions& o) {
  return o.builtin.captions == "generated" || (o.builtin.captions == "auto" && text_to_image(o));
}

std::filesystem::path prompts_file(const report::RunDir& paths, const AuditOptions& o) {
  return o.prompts.empty() ? paths.prompts / "prompts.csv" : std::filesystem::path(o.prompts);
}

data::Dataset member_dataset(const data::Dataset& ds) {
  check(ds.members.has_value(), "audit data", "a data set with members.npy", "none");
  std::vector<int64_t> rows;
  std::set<int64_t> ids;
  for (int64_t i = 0; i < ds.size(); ++i)
    if ((*ds.members)[i]) {
      rows.push_back(i);
      ids.insert(ds.ids[i]);
    }
  data::Dataset out = select_rows(ds, rows);
  out.members.reset();
  // Planted groups outside the training set say nothing about what training memorized.
  io::Json dups = io::Json::array();
  for (const data::DuplicateGroup& g : data::duplicate_groups(ds.manifest))
    if (ids.count(g.id)) dups.push_back({{"id", g.id}, {"count", g.count}});
  out.manifest["duplicates"] = dups;
  out.manifest["distinct"] = ids.size();
  out.manifest.erase("members");
  out.manifest["created_by"] = "diffmem audit (the member rows of the data set)";
  return out;
}

}  // namespace diffmem::pipeline::detail
