#include "diffmem/attack/blackbox.h"
#include "diffmem/attack/blackbox_distances.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "diffmem/core/error.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/search/clique.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

void validate(const BlackboxOptions& o) {
  check(o.size >= 0, "--size", "0 (native) or a positive size", std::to_string(o.size));
  check(o.tiles.grid >= 1, "--tiles", "at least 1 tile per side", std::to_string(o.tiles.grid));
  check(o.edge_threshold >= 0 && std::isfinite(o.edge_threshold), "--edge-threshold",
        "a finite distance >= 0", std::to_string(o.edge_threshold));
  check(o.min_clique >= 1, "--min-clique", "at least 1", std::to_string(o.min_clique));
  check(o.delta >= 0, "--delta", "a distance >= 0", std::to_string(o.delta));
  check(o.max_cliques >= 0, "--max-cliques", "0 (all) or more", std::to_string(o.max_cliques));
  check(o.tie_limit >= 1, "BlackboxOptions.tie_limit", "at least 1", std::to_string(o.tie_limit));
}

torch::Tensor group_distances(const torch::Tensor& images, const BlackboxOptions& options) {
  check(images.defined() && images.dim() == 4 && images.scalar_type() == torch::kByte,
        "attack::group_distances", "uint8 images [N,H,W,C]",
        images.defined() ? c10::str(images.sizes()) : "an undefined tensor");
  return self_pairwise_tiled_l2(images.to(torch::Device(options.device)), options.tiles);
}

namespace {

CliqueFinding describe(const std::vector<int64_t>& members, const float* d, int64_t n,
                       int64_t min_clique) {
  CliqueFinding f;
  f.members = members;
  f.flagged = static_cast<int64_t>(members.size()) >= min_clique;
  double total = 0, best_sum = std::numeric_limits<double>::infinity();
  for (int64_t a : members) {
    double s = 0;
    for (int64_t b : members)
      if (b != a) s += d[a * n + b];
    total += s;
    if (s < best_sum) {
      best_sum = s;
      f.medoid = a;
    }
  }
  const double k = static_cast<double>(members.size());
  f.mean_distance = members.size() >= 2 ? total / (k * (k - 1)) : std::nan("");
  return f;
}

}  // namespace

GroupAnalysis analyze_group(const torch::Tensor& images, const BlackboxOptions& options,
                            const torch::Tensor& train) {
  validate(options);
  const auto t0 = std::chrono::steady_clock::now();
  GroupAnalysis r;
  r.images = images.defined() && images.dim() == 4 ? images.size(0) : 0;
  if (r.images == 0) return r;
  const torch::Tensor dist = group_distances(images, options);
  search::Graph g = search::graph_from_distances(dist, options.edge_threshold);
  const torch::Tensor d = dist.to(torch::kCPU).contiguous();
  const float* dp = d.data_ptr<float>();
  r.edges = g.edge_count();
  for (;;) {
    const search::MaxCliqueResult found = options.tie_limit > 1
                                              ? search::maximum_cliques(g, options.tie_limit)
                                              : search::maximum_clique(g);
    // Among equally large cliques, the tightest is the likeliest single memorized image.
    CliqueFinding best;
    for (const auto& c : found.cliques) {
      CliqueFinding f = describe(c, dp, r.images, options.min_clique);
      if (best.medoid < 0 || f.mean_distance < best.mean_distance) best = std::move(f);
    }
    if (!r.cliques.empty() && !best.flagged) break;
    r.cliques.push_back(best);
    const bool more = options.max_cliques == 0 || static_cast<int64_t>(r.cliques.size()) < options.max_cliques;
    if (!more || !best.flagged) break;
    for (int64_t v : best.members) g.isolate(v);
    if (g.edge_count() == 0 && options.min_clique > 1) break;
  }
  r.flagged = r.cliques[0].flagged;
  if (train.defined()) {
    check(train.dim() == 3 && train.sizes() == images.sizes().slice(1), "attack::analyze_group",
          "a training image of shape " + c10::str(images.sizes().slice(1)), c10::str(train.sizes()));
    const torch::Tensor m = images[r.cliques[0].medoid].to(torch::kFloat).div(255.0);
    const torch::Tensor t = train.to(torch::kFloat).div(255.0);
    r.train_l2 = (m - t).square().mean().sqrt().item<double>();
    r.within_delta = r.train_l2 <= options.delta;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

torch::Tensor read_working_image(const fs::path& path, int64_t height, int64_t width,
                                 int64_t channels) {
  io::HostArray a = io::read_image(path, static_cast<int>(channels));
  if (a.shape.size() == 2) a.shape.push_back(1);
  if (height > 0 && width > 0 && (a.shape[0] != height || a.shape[1] != width))
    a = io::resize_image(a, static_cast<int>(height), static_cast<int>(width));
  return io::to_tensor(a);
}

std::vector<fs::path> list_image_files(const fs::path& dir) {
  check(fs::is_directory(dir), dir.string(), "a folder of generated images", "no such folder");
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".ppm" ||
        ext == ".pgm" || ext == ".npy")
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

bool is_npy(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".npy";
}

// A .npy file of generations as [n,H,W,3] u8 at its own size.
torch::Tensor read_npy_images(const fs::path& path) {
  io::HostArray a = io::read_npy(path);
  check(a.dtype == io::DType::kU8 && (a.shape.size() == 3 || a.shape.size() == 4), path.string(),
        "uint8 images [N,H,W,C] or [H,W,C]",
        io::dtype_name(a.dtype) + " of " + std::to_string(a.shape.size()) + " dimensions");
  torch::Tensor t = io::to_tensor(a);
  if (t.dim() == 3) t = t.unsqueeze(0);
  check(t.size(3) == 1 || t.size(3) == 3, path.string(), "1 or 3 channels",
        std::to_string(t.size(3)));
  check(t.size(1) > 0 && t.size(2) > 0, path.string(), "images of at least 1x1 pixels",
        c10::str(t.sizes()));
  return t.size(3) == 1 ? t.expand({-1, -1, -1, 3}).contiguous() : t;
}

// [N,H,W,C] u8 images resized to height × width, one image per task.
torch::Tensor resize_images(const torch::Tensor& images, int64_t height, int64_t width) {
  const torch::Tensor src = images.to(torch::kCPU).contiguous();
  torch::Tensor out = torch::empty({src.size(0), height, width, src.size(3)}, torch::kByte);
  at::parallel_for(0, src.size(0), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const io::HostArray r = io::resize_image(io::from_tensor(src[i]), static_cast<int>(height),
                                               static_cast<int>(width));
      out[i].copy_(io::to_tensor(r));
    }
  });
  return out;
}

}  // namespace

LoadedGroup load_image_folder(const fs::path& dir, const BlackboxOptions& options) {
  LoadedGroup g;
  g.files = list_image_files(dir);
  if (g.files.empty()) {
    g.images = torch::empty({0, std::max<int64_t>(options.size, 1), std::max<int64_t>(options.size, 1), 3}, torch::kByte);
    return g;
  }
  const int64_t n_files = static_cast<int64_t>(g.files.size());
  // Arrays first (read whole, no decoding), so that the working size and the image count are
  // known before the image files are decoded straight into their rows.
  std::vector<torch::Tensor> arrays(g.files.size());
  std::vector<int64_t> first_row(g.files.size() + 1, 0);
  int64_t h = options.size, w = options.size;
  torch::Tensor first;
  for (int64_t f = 0; f < n_files; ++f) {
    const bool npy = is_npy(g.files[size_t(f)]);
    if (npy) arrays[size_t(f)] = read_npy_images(g.files[size_t(f)]);
    if (f == 0 && h == 0) {
      if (!npy) first = read_working_image(g.files[0], 0, 0);  // at its own size
      const torch::Tensor& t = npy ? arrays[0] : first;
      h = t.size(npy ? 1 : 0);
      w = t.size(npy ? 2 : 1);
    }
    first_row[size_t(f) + 1] = first_row[size_t(f)] + (npy ? arrays[size_t(f)].size(0) : 1);
  }
  g.images = torch::empty({first_row.back(), h, w, 3}, torch::kByte);
  for (int64_t f = 0; f < n_files; ++f) {
    const std::string name = g.files[size_t(f)].filename().string();
    if (!arrays[size_t(f)].defined()) {
      g.labels.push_back(name);
      continue;
    }
    torch::Tensor t = arrays[size_t(f)];
    if (t.size(1) != h || t.size(2) != w) t = resize_images(t, h, w);
    g.images.narrow(0, first_row[size_t(f)], t.size(0)).copy_(t);
    for (int64_t i = 0; i < t.size(0); ++i) g.labels.push_back(name + "#" + std::to_string(i));
  }
  // PNG decoding is as costly as the distances for a 500-image group: decode in parallel.
  at::parallel_for(0, n_files, 1, [&](int64_t b, int64_t e) {
    for (int64_t f = b; f < e; ++f) {
      if (arrays[size_t(f)].defined()) continue;
      g.images[first_row[size_t(f)]].copy_(f == 0 && first.defined() ? first
                                                 : read_working_image(g.files[size_t(f)], h, w));
    }
  });
  return g;
}

torch::Tensor to_working_size(const torch::Tensor& images, const BlackboxOptions& options) {
  if (options.size == 0 || (images.size(1) == options.size && images.size(2) == options.size))
    return images;
  return resize_images(images, options.size, options.size);
}

}  // namespace diffmem::attack
