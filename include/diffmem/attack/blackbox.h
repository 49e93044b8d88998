#pragma once
// The filter of the black-box attack (Carlini et al. §4.2): within one group of generations (one
// prompt), connect every two images whose tiled ℓ2 is at most the edge threshold and call a clique
// of at least min_clique images a memorized image. No training data is needed; when a suspected
// training image is known, its normalized ℓ2 to the clique's medoid says whether it was extracted.
//
// Images of a group are brought to one working size first: `size` × `size` (or the group's first
// image's size when size = 0) with stb's default filter (io::resize_image: Mitchell when shrinking,
// Catmull-Rom when growing), channels as read.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/attack/blackbox_options.h"
#include "diffmem/io/json.h"
#include "diffmem/search/distances.h"

namespace diffmem::attack {



struct CliqueFinding {
  std::vector<int64_t> members;        ///< indices into the group, ascending
  double mean_distance = 0;            ///< mean tiled ℓ2 over the clique's pairs; NaN for one member
  int64_t medoid = -1;                 ///< the member with the least summed distance to the others
  bool flagged = false;                ///< members.size() >= min_clique
};

struct GroupAnalysis {
  int64_t images = 0;
  int64_t edges = 0;
  /// cliques[0] is the largest (the tightest among equally large ones); later entries come from
  /// removing earlier cliques' members and searching again (max_cliques > 1). Empty only for an
  /// empty group.
  std::vector<CliqueFinding> cliques;
  bool flagged = false;      ///< cliques[0].flagged
  double train_l2 = -1;      ///< normalized ℓ2 of the training image to cliques[0]'s medoid; -1 = none
  bool within_delta = false;
  double seconds = 0;        ///< distances + cliques
};

/// images: [N,H,W,C] u8 CPU (the working size). train: [H,W,C] u8 at the same size, or undefined.
GroupAnalysis analyze_group(const torch::Tensor& images, const BlackboxOptions& options,
                            const torch::Tensor& train = {});

/// [N,N] f32 on options.device: tiled ℓ2 between every two images (self_pairwise_tiled_l2: one
/// batched GEMM over the tiles). images: [N,H,W,C] u8.
torch::Tensor group_distances(const torch::Tensor& images, const BlackboxOptions& options);

/// Reads one image file at the working size: channels 3 (grey is replicated), resized to
/// `height`×`width` unless it already has that size (or height/width is 0). Returns [H,W,C] u8.
torch::Tensor read_working_image(const std::filesystem::path& path, int64_t height, int64_t width,
                                 int64_t channels = 3);

/// Image files of a generations folder (.png .jpg .jpeg .bmp .ppm .pgm, and .npy arrays; any
/// case), sorted by name; hidden files (a generator's temporaries) are skipped.
std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& dir);

struct LoadedGroup {
  torch::Tensor images;  ///< [N,H,W,C] u8 at the working size
  std::vector<std::filesystem::path> files;
  std::vector<std::string> labels;  ///< one per image: the file name ("name.npy#i" in an array)
};

/// Reads every image of `dir` at the working size (options.size, or the first file's size). A
/// .npy file holds uint8 images [N,H,W,C] or one [H,W,C] (C 1 or 3), read without decoding, so a
/// generator that writes arrays skips PNG altogether.
LoadedGroup load_image_folder(const std::filesystem::path& dir, const BlackboxOptions& options);

/// Resizes [N,H,W,C] u8 images to the working size (a copy only where sizes differ).
torch::Tensor to_working_size(const torch::Tensor& images, const BlackboxOptions& options);

}  // namespace diffmem::attack
