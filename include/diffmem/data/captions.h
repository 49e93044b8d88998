#pragma once
// Captions of a data set's images, for text-to-image models: captions.jsonl in a dataset
// directory, one JSON object {"caption": "..."} per row of images.npy, in row order.
//
// Where they come from (data import):
//   - a file mapping image files to captions, the LAION / COCO shape: CSV with a header naming a
//     file column (file, file_name, image or path) and a caption column (caption, text or prompt),
//     or JSONL objects with those keys (Hugging Face imagefolder's metadata.jsonl is one); paths
//     are relative to the imported folder;
//   - generated: the class name plus a phrase chosen per image from the seed and the image's id
//     ("a faded striped coat on a hanger"), for data sets that have classes and no captions.
// Copies planted by data subset keep their image's caption, or get a varied one.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace diffmem::data {

struct Dataset;

/// captions.jsonl of `dir` if present, checked to hold `expected_n` rows (when ≥ 0); errors name
/// the file and the line.
std::optional<std::vector<std::string>> load_captions(const std::filesystem::path& dir, int64_t expected_n = -1);
/// Writes dir/captions.jsonl atomically.
void save_captions(const std::filesystem::path& dir, const std::vector<std::string>& captions);

/// file → caption from a CSV or JSONL captions file (see above). Errors name the file and row:
/// no file or caption column, an empty caption, a file named twice.
std::map<std::string, std::string> read_caption_map(const std::filesystem::path& path);

/// A generated caption for the image with source id `id` of class `class_name`.
std::string generated_caption(const std::string& class_name, uint64_t seed, int64_t id);

/// Copy `copy` (≥ 1) of a planted image with caption `caption`, varied: the caption with a phrase
/// added that depends on the seed, the id and the copy, so copies of one image read differently.
std::string varied_caption(const std::string& caption, uint64_t seed, int64_t id, int64_t copy);

/// One prompt per distinct image of a captioned data set, for the text-to-image attacks (screen,
/// extract-blackbox, their ground truth): dir/prompts.csv with the columns id (the image's source
/// id), prompt (its first row's caption), duplicates (rows holding the image), planted (1 when a
/// model trained on the data set sees the image more than once: duplicates > 1 and, with a split,
/// a member), member (1/0, with a split), train_image (images/<id>.png); and the images.
/// Returns the number of prompts. Throws diffmem::Error naming --data without captions.
int64_t write_caption_prompts(const Dataset& ds, const std::filesystem::path& dir);

/// How captions name an image's class: Fashion-MNIST's "T-shirt/top" as "t-shirt", "Trouser" as
/// "pair of trousers", MNIST's "3" as "handwritten digit 3"; other names lower-cased.
std::string caption_class_name(const std::string& source, const std::string& class_name);

}  // namespace diffmem::data
