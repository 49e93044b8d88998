#pragma once
// The options of the black-box filter (blackbox.h) and of its run over groups (blackbox_run.h),
// torch-free, with their field lists (io/fields.h). The filter's `device` is where it computes,
// never part of a result, so it is not a field (group caches stay valid across devices).
#include <cstdint>
#include <string>

#include "diffmem/io/fields.h"
#include "diffmem/search/search_options.h"

namespace diffmem::attack {

struct BlackboxOptions {
  int64_t size = 0;               ///< working size (square); 0 = the group's first image's H×W
  search::TiledOptions tiles;     ///< 4×4 same-position tiles, max (paper)
  double edge_threshold = 0.15;   ///< tiled ℓ2 at or below which two generations are connected
  int64_t min_clique = 10;        ///< a clique this large flags the group (paper: 10 of 500)
  double delta = 0.15;            ///< normalized ℓ2 at or below which the training image is extracted
  int64_t max_cliques = 1;        ///< cliques reported per group, largest first; 0 = every one >= min_clique
  int64_t tie_limit = 64;         ///< maximum cliques compared to pick the tightest among equals
  std::string device = "cpu";     ///< where the distances are computed ("cpu", "cuda", ...)
};

DIFFMEM_VISIT_FIELDS(BlackboxOptions) {
  v("size", o.size);
  v("tiles", o.tiles);
  v("edge_threshold", o.edge_threshold);
  v("min_clique", o.min_clique);
  v("delta", o.delta);
  v("max_cliques", o.max_cliques);
  v("tie_limit", o.tie_limit);
  v.note("resize_filter", "stb_image_resize default (Mitchell shrinking, Catmull-Rom growing)");
  v.note("distance", "tiled normalized l2, max over same-position tiles");
}

/// Throws diffmem::Error naming the option on a value out of range.
void validate(const BlackboxOptions& o);

struct BlackboxRunOptions {
  BlackboxOptions analysis;
  int64_t grid_members = 15;  ///< clique members shown beside the medoid in each PNG
  bool reuse = true;          ///< reuse out/groups/<group>.json when nothing changed
};

DIFFMEM_FIELDS(BlackboxRunOptions, analysis, grid_members, reuse)

}  // namespace diffmem::attack
