#include "diffmem/data/subset.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/data/captions.h"
#include "diffmem/core/rng.h"

namespace diffmem::data {

namespace {

// Independent random streams of one seed: changing how many duplicates are planted never changes
// which images were selected, and so on.
enum Stream : uint64_t { kSelect = 1, kPick = 2, kOrder = 3, kSplit = 4 };

void check_subset_options(const SubsetOptions& o) {
  check(o.n >= 0, "subset n", "n >= 0", std::to_string(o.n));
  check(o.split == "none" || o.split == "half", "subset split", "none or half",
        "'" + o.split + "'");
  check(o.duplicate_picks >= 1, "subset duplicate_picks", "at least 1",
        std::to_string(o.duplicate_picks));
  for (int64_t c : o.duplicate_counts)
    check(c >= 1, "subset duplicate_counts", "counts >= 1", std::to_string(c));
  check(o.caption_copies == "same" || o.caption_copies == "varied", "subset caption_copies", "same or varied",
        "'" + o.caption_copies + "'");
}

std::vector<int64_t> filter_classes(const Dataset& src, const std::vector<int64_t>& classes) {
  std::vector<int64_t> rows;
  if (classes.empty()) {
    rows.resize(static_cast<size_t>(src.size()));
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
    return rows;
  }
  const std::set<int64_t> keep(classes.begin(), classes.end());
  std::set<int64_t> seen;
  for (int64_t i = 0; i < src.size(); ++i) {
    if (keep.count(src.labels[i])) {
      rows.push_back(i);
      seen.insert(src.labels[i]);
    }
  }
  for (int64_t c : keep)
    check(seen.count(c) == 1, "subset classes", "labels present in the data set",
          "no image of class " + std::to_string(c));
  return rows;
}

}  // namespace

Dataset make_subset(const Dataset& source, const SubsetOptions& o) {
  check_subset_options(o);
  validate_dataset(source, "subset source");

  const std::vector<int64_t> candidates = filter_classes(source, o.classes);
  const int64_t avail = static_cast<int64_t>(candidates.size());
  const int64_t n = o.n == 0 ? avail : o.n;
  check(n <= avail && n > 0, "subset n",
        "between 1 and " + std::to_string(avail) + " (images after the class filter)",
        std::to_string(n));
  std::vector<int64_t> selected;
  for (int64_t k : core::sample_without_replacement(avail, n, core::derive_seed(o.seed, kSelect)))
    selected.push_back(candidates[k]);
  std::sort(selected.begin(), selected.end());

  // Only images that occur once may be planted, so that `count` is the exact number of copies
  // even when the source itself already holds copies.
  std::map<int64_t, int64_t> id_count;
  for (int64_t r : selected) ++id_count[source.ids[r]];
  std::vector<int64_t> eligible;
  for (int64_t r : selected)
    if (id_count[source.ids[r]] == 1) eligible.push_back(r);
  const int64_t groups = static_cast<int64_t>(o.duplicate_counts.size()) * o.duplicate_picks;
  check(groups <= static_cast<int64_t>(eligible.size()), "subset duplicate_counts",
        "at most " + std::to_string(eligible.size()) + " picks (distinct images in the subset)",
        std::to_string(groups) + " (" + std::to_string(o.duplicate_counts.size()) + " counts x " +
            std::to_string(o.duplicate_picks) + " picks)");
  const std::vector<int64_t> picks = core::sample_without_replacement(
      static_cast<int64_t>(eligible.size()), groups, core::derive_seed(o.seed, kPick));

  std::vector<int64_t> rows = selected;
  std::vector<DuplicateGroup> planted;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t row = eligible[picks[g]];
    const int64_t count = o.duplicate_counts[g / o.duplicate_picks];
    planted.push_back({source.ids[row], count});
    rows.insert(rows.end(), static_cast<size_t>(count - 1), row);
  }
  core::Rng(core::derive_seed(o.seed, kOrder)).shuffle(rows);

  Dataset out;
  if (source.captions) out.captions.emplace();
  std::map<int64_t, int64_t> copies_seen;  // id → rows of it written so far
  const int64_t bytes = source.image_bytes();
  out.images = io::HostArray::zeros(io::DType::kU8, {static_cast<int64_t>(rows.size()),
                                                     source.height(), source.width(),
                                                     source.channels()});
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(out.images.bytes.data() + i * bytes, source.image(rows[i]),
                static_cast<size_t>(bytes));
    out.labels.push_back(source.labels[rows[i]]);
    out.ids.push_back(source.ids[rows[i]]);
    if (source.captions) {
      const std::string& c = (*source.captions)[static_cast<size_t>(rows[i])];
      const int64_t copy = copies_seen[source.ids[rows[i]]]++;
      out.captions->push_back(o.caption_copies == "varied" && copy > 0
                                  ? varied_caption(c, o.seed, source.ids[rows[i]], copy)
                                  : c);
    }
  }

  std::vector<int64_t> distinct = out.ids;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());

  io::Json m = source.manifest;
  for (const char* k : {"duplicates", "members", "distinct", "parent"}) m.erase(k);
  m["parent"] = io::Json::object();
  for (const char* k : {"created_by", "count", "shape", "options"})
    if (source.manifest.contains(k)) m["parent"][k] = source.manifest[k];
  m["created_by"] = "diffmem data subset";
  m["options"] = io::fields_json(o);
  m["shape"] = out.images.shape;
  m["count"] = out.size();
  m["distinct"] = distinct.size();

  std::set<int64_t> member_ids;
  if (o.split == "half") {
    const int64_t u = static_cast<int64_t>(distinct.size());
    for (int64_t k : core::sample_without_replacement(u, u / 2, core::derive_seed(o.seed, kSplit)))
      member_ids.insert(distinct[k]);
    out.members.emplace(rows.size());
    int64_t member_rows = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      (*out.members)[i] = member_ids.count(out.ids[i]) == 1;
      member_rows += (*out.members)[i];
    }
    m["members"] = {{"split", "half"},
                    {"seed", o.seed},
                    {"count", member_ids.size()},
                    {"of", u},
                    {"member_rows", member_rows}};
  }
  io::Json dups = io::Json::array();
  for (const DuplicateGroup& g : planted) {
    io::Json e = {{"id", g.id}, {"count", g.count}};
    if (o.split == "half") e["member"] = member_ids.count(g.id) == 1;
    if (source.captions) {
      const auto it = std::find(source.ids.begin(), source.ids.end(), g.id);
      e["caption"] = (*source.captions)[static_cast<size_t>(it - source.ids.begin())];
    }
    dups.push_back(e);
  }
  m["duplicates"] = dups;
  out.manifest = std::move(m);
  validate_dataset(out, "subset");
  return out;
}

std::vector<DuplicateGroup> duplicate_groups(const io::Json& manifest) {
  std::vector<DuplicateGroup> groups;
  if (!manifest.contains("duplicates")) return groups;
  const io::Json& d = manifest["duplicates"];
  check(d.is_array(), "manifest duplicates", "an array", d.type_name());
  for (const io::Json& e : d) {
    check(e.is_object() && e.contains("id") && e.contains("count") && e["id"].is_number_integer() &&
              e["count"].is_number_integer(),
          "manifest duplicates", "entries {id, count} of integers", e.dump());
    groups.push_back({e["id"].get<int64_t>(), e["count"].get<int64_t>()});
  }
  return groups;
}

}  // namespace diffmem::data
