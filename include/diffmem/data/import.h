#pragma once
// Turns a public data set in its own format into the canonical Dataset (data/dataset.h):
//   fashion-mnist, mnist  IDX files {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//   cifar10               binary batches data_batch_1..5.bin (train) / test_batch.bin (test)
//   images                a folder of PNG/JPEG files, searched recursively in sorted path order;
//                         labels are the sorted index of the top-level sub-folder (-1 for files
//                         directly in the folder), and the manifest lists the files by id.
// ids are positions in the source (record index, or index in the sorted file list).
#include <filesystem>
#include <string>

#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/fields.h"

namespace diffmem::data {

struct ImportOptions {
  std::string source = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | images
  std::filesystem::path src;             // empty = default_source_dir(source)
  std::string split = "train";           // train | test (IDX and CIFAR-10 only)
  int channels = 0;  // 0 = the source's own (IDX 1, CIFAR 3, images: the first file's, 1 or 3)
  int size = 0;      // 0 = the source's own; else every image is resized to size×size
                     // (stb: Mitchell filter when shrinking, Catmull-Rom when growing;
                     // aspect ratio is not kept)
  int64_t limit = 0;  // 0 = all; else the first `limit` images of the source
  std::string captions;   // "" = none; "generated" = class name + a seeded phrase per image
                          // (data/captions.h); else a CSV/JSONL file → caption file (images only)
  uint64_t caption_seed = 0;  // the generated phrases' seed
};

DIFFMEM_FIELDS(ImportOptions, source, src, split, channels, size, limit, captions, caption_seed)

/// The directory a source is read from when none is given: Debian's dataset-fashion-mnist path
/// for fashion-mnist; empty for the others (they need an explicit --src).
std::filesystem::path default_source_dir(const std::string& source);

/// Reads the source into memory. The manifest holds source, src, split, shape, count, options,
/// created_by, classes (class names, when known), for folders files (relative paths by id), and
/// with captions "captions" ("generated" or the file's path). A folder image without a caption in
/// the captions file is an error naming it.
/// Throws diffmem::Error naming the file (or option) at fault.
Dataset import_dataset(const ImportOptions& options, const ProgressFn& progress = {});

}  // namespace diffmem::data
