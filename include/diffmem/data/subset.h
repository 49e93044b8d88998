#pragma once
// Seeded subsets of a Dataset: class filter, size, a member/non-member split (LiRA convention)
// and planted duplicates (Carlini et al. Fig. 5: how often an image must be seen to be memorized).
#include <cstdint>
#include <string>
#include <vector>

#include "diffmem/data/dataset.h"
#include "diffmem/io/fields.h"

namespace diffmem::data {

struct SubsetOptions {
  int64_t n = 0;                  // distinct images to keep; 0 = all that pass the class filter
  std::vector<int64_t> classes;   // labels to keep; empty = all
  uint64_t seed = 0;              // every random choice derives from it
  std::string split = "none";     // none | half: members.npy marks a seeded half of the
                                  // distinct images (copies share their image's flag)
  std::vector<int64_t> duplicate_counts;  // e.g. {1,2,4,8,16,32}: picked images appear exactly
                                          // `count` times in the output (copies keep their id)
  int64_t duplicate_picks = 1;    // distinct images picked per count value
  std::string caption_copies = "same";  // captioned data: planted copies keep their image's
                                        // caption (same: duplicated image-caption pairs, as in
                                        // LAION) or each get a varied one (varied)
};

DIFFMEM_FIELDS(SubsetOptions, n, classes, seed, split, duplicate_counts, duplicate_picks, caption_copies)

/// One planted group: the image with source id `id` appears `count` times.
struct DuplicateGroup {
  int64_t id = -1;
  int64_t count = 0;
};

/// Builds the subset. Rows are shuffled by seed so copies are spread out; the manifest keeps the
/// parent's provenance (source, src, split, classes, files) and adds created_by, options, shape,
/// count, distinct, duplicates [{id, count[, member][, caption]}] (caption: the image's own) and,
/// with a split, members {split, seed, count, of}. Captions follow their rows. Same source and options give the same bytes. Throws diffmem::Error on options the
/// data cannot satisfy (too few images, a class that is absent, picks exceeding the subset).
Dataset make_subset(const Dataset& source, const SubsetOptions& options);

/// The "duplicates" array of a manifest (empty when none were planted).
std::vector<DuplicateGroup> duplicate_groups(const io::Json& manifest);

}  // namespace diffmem::data
