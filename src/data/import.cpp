#include "diffmem/data/import.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/data/captions.h"
#include "diffmem/io/cifar.h"
#include "diffmem/io/idx.h"
#include "diffmem/io/image_file.h"
#include "image_ops.h"

namespace diffmem::data {
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                  "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                  "Bag",         "Ankle boot"};
const std::vector<std::string> kMnistClasses = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> kCifarClasses = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};

bool exists_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

void check_import_options(const ImportOptions& o) {
  static const std::set<std::string> sources = {"fashion-mnist", "mnist", "cifar10", "images"};
  check(sources.count(o.source) == 1, "import source", "fashion-mnist, mnist, cifar10 or images",
        "'" + o.source + "'");
  check(o.split == "train" || o.split == "test", "import split", "train or test",
        "'" + o.split + "'");
  check(o.channels == 0 || o.channels == 1 || o.channels == 3, "import channels", "0, 1 or 3",
        std::to_string(o.channels));
  check(o.size >= 0, "import size", "a size >= 0", std::to_string(o.size));
  check(o.limit >= 0, "import limit", "a limit >= 0", std::to_string(o.limit));
  check(o.captions.empty() || o.captions == "generated" || o.source == "images", "import captions",
        "\"generated\" for " + o.source + " (a captions file maps the files of an image folder)", o.captions);
}

/// `train-images-idx3-ubyte` may come gzipped, plain, or (some MNIST mirrors) with a dot.
fs::path find_idx(const fs::path& dir, const std::string& prefix, const std::string& kind) {
  const std::string dash = prefix + "-" + kind + "-ubyte";
  const std::string dot = prefix + "." + kind + "-ubyte";
  for (const std::string& name : {dash + ".gz", dash, dot + ".gz", dot})
    if (exists_file(dir / name)) return dir / name;
  fail((dir / (dash + ".gz")).string(), "an IDX file (" + dash + " or " + dash + ".gz)",
       "no such file");
}

void check_labels(const std::vector<int64_t>& labels, size_t n_classes, const fs::path& file) {
  for (size_t i = 0; i < labels.size(); ++i)
    check(labels[i] >= 0 && labels[i] < static_cast<int64_t>(n_classes), file.string(),
          "labels in [0, " + std::to_string(n_classes) + ")",
          std::to_string(labels[i]) + " at index " + std::to_string(i));
}

struct Raw {
  io::HostArray images;  // U8 [N,H,W,C] in the source's own size and channels
  std::vector<int64_t> labels;
  io::Json extra = io::Json::object();  // source-specific manifest fields
};

Raw read_idx_source(const fs::path& dir, const ImportOptions& o) {
  const std::string prefix = o.split == "train" ? "train" : "t10k";
  const fs::path images_file = find_idx(dir, prefix, "images-idx3");
  const fs::path labels_file = find_idx(dir, prefix, "labels-idx1");
  Raw r;
  r.images = io::read_idx(images_file);
  check(r.images.shape.size() == 3, images_file.string(), "images of shape [N,H,W]",
        io::shape_str(r.images.shape));
  io::HostArray labels = io::read_idx(labels_file);
  check(labels.shape.size() == 1, labels_file.string(), "labels of shape [N]",
        io::shape_str(labels.shape));
  check(labels.shape[0] == r.images.shape[0], labels_file.string(),
        std::to_string(r.images.shape[0]) + " labels to match " + images_file.filename().string(),
        std::to_string(labels.shape[0]));
  r.images.shape.push_back(1);
  int64_t n = r.images.shape[0];
  if (o.limit > 0 && o.limit < n) {
    n = o.limit;
    r.images.shape[0] = n;
    r.images.bytes.resize(static_cast<size_t>(n * r.images.shape[1] * r.images.shape[2]));
  }
  r.labels.assign(labels.bytes.begin(), labels.bytes.begin() + n);
  const auto& names = o.source == "mnist" ? kMnistClasses : kFashionClasses;
  check_labels(r.labels, names.size(), labels_file);
  r.extra["classes"] = names;
  r.extra["files"] = {images_file.filename().string(), labels_file.filename().string()};
  return r;
}

Raw read_cifar_source(fs::path dir, const ImportOptions& o) {
  // The official archive unpacks into cifar-10-batches-bin/; accept its parent as --src.
  if (!exists_file(dir / "test_batch.bin") && fs::is_directory(dir / "cifar-10-batches-bin"))
    dir /= "cifar-10-batches-bin";
  std::vector<fs::path> files;
  if (o.split == "train") {
    for (int b = 1; b <= 5; ++b)
      files.push_back(dir / ("data_batch_" + std::to_string(b) + ".bin"));
  } else {
    files.push_back(dir / "test_batch.bin");
  }
  Raw r;
  std::vector<std::string> used;
  r.images = io::HostArray::zeros(io::DType::kU8, {0, 32, 32, 3});
  for (const fs::path& f : files) {
    if (o.limit > 0 && static_cast<int64_t>(r.labels.size()) >= o.limit) break;
    if (!exists_file(f)) fail(f.string(), "a CIFAR-10 binary batch", "no such file");
    io::CifarBatch b = io::read_cifar_batch(f);
    check_labels(b.labels, kCifarClasses.size(), f);
    int64_t take = b.images.shape[0];
    if (o.limit > 0) take = std::min<int64_t>(take, o.limit - r.labels.size());
    r.images.bytes.insert(r.images.bytes.end(), b.images.bytes.begin(),
                          b.images.bytes.begin() + take * 32 * 32 * 3);
    r.labels.insert(r.labels.end(), b.labels.begin(), b.labels.begin() + take);
    used.push_back(f.filename().string());
  }
  r.images.shape[0] = static_cast<int64_t>(r.labels.size());
  r.extra["classes"] = kCifarClasses;
  r.extra["files"] = used;
  return r;
}

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

/// Image files under `dir`, relative, sorted byte-wise; hidden files and folders are skipped
/// (e.g. macOS "._x.jpg" resource forks that are not images).
std::vector<std::string> list_images(const fs::path& dir) {
  std::vector<std::string> rel;
  std::error_code ec;
  auto it = fs::recursive_directory_iterator(dir, ec);
  if (ec) fail(dir.string(), "cannot list directory: " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) fail(it->path().string(), "cannot list directory: " + ec.message());
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && is_image_file(it->path()))
      rel.push_back(fs::relative(it->path(), dir).generic_string());
  }
  std::sort(rel.begin(), rel.end());
  return rel;
}

Raw read_image_folder(const fs::path& dir, const ImportOptions& o,
                      const ProgressFn& progress) {
  const std::vector<std::string> all = list_images(dir);
  check(!all.empty(), dir.string(), "a folder with PNG/JPEG files", "none");
  // Class index from the sorted top-level folder names of all files, so --limit never renumbers.
  std::vector<std::string> classes;
  for (const std::string& f : all) {
    auto slash = f.find('/');
    if (slash != std::string::npos) classes.push_back(f.substr(0, slash));
  }
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());

  const size_t n = o.limit > 0 ? std::min<size_t>(all.size(), o.limit) : all.size();
  int channels = o.channels;
  if (channels == 0) {
    const io::HostArray first = io::read_image(dir / all[0], 0);
    channels = first.shape.at(2) >= 3 ? 3 : 1;  // gray(+alpha) → 1, RGB(A) → 3
  }
  Raw r;
  ProgressMeter meter(progress, "import", static_cast<int64_t>(n), "images");
  std::vector<std::string> files(all.begin(), all.begin() + n);
  int64_t h = o.size, w = o.size;
  for (size_t i = 0; i < n; ++i) {
    const fs::path p = dir / files[i];
    io::HostArray img = io::read_image(p, channels);
    if (o.size > 0) {
      if (img.shape[0] != h || img.shape[1] != w)
        img = io::resize_image(img, static_cast<int>(h), static_cast<int>(w));
    } else if (i == 0) {
      h = img.shape[0];
      w = img.shape[1];
    } else {
      check(img.shape[0] == h && img.shape[1] == w, p.string(),
            std::to_string(h) + "x" + std::to_string(w) + " pixels like " + files[0] +
                " (or pass a size)",
            std::to_string(img.shape[0]) + "x" + std::to_string(img.shape[1]));
    }
    if (i == 0)
      r.images =
          io::HostArray::zeros(io::DType::kU8, {static_cast<int64_t>(n), h, w, channels});
    std::memcpy(r.images.bytes.data() + i * img.bytes.size(), img.bytes.data(), img.bytes.size());
    const auto slash = files[i].find('/');
    r.labels.push_back(slash == std::string::npos
                           ? -1
                           : std::lower_bound(classes.begin(), classes.end(),
                                              files[i].substr(0, slash)) -
                                 classes.begin());
    meter.update(static_cast<int64_t>(i + 1));
  }
  meter.finish();
  r.extra["classes"] = classes;
  r.extra["files"] = files;
  return r;
}

}  // namespace

fs::path default_source_dir(const std::string& source) {
  if (source == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  return {};
}

Dataset import_dataset(const ImportOptions& options, const ProgressFn& progress) {
  check_import_options(options);
  fs::path src = options.src.empty() ? default_source_dir(options.source) : options.src;
  if (src.empty()) fail("import src", "a source path for " + options.source, "none given");
  std::error_code ec;
  if (!fs::is_directory(src, ec)) fail(src.string(), "a directory with the source files", "none");
  src = fs::absolute(src).lexically_normal();

  Raw raw;
  if (options.source == "images")
    raw = read_image_folder(src, options, progress);
  else if (options.source == "cifar10")
    raw = read_cifar_source(src, options);
  else
    raw = read_idx_source(src, options);

  const bool folder = options.source == "images";
  // Folders were resized per file while reading; whole-array sources are adapted here.
  Dataset ds;
  ds.images = folder ? std::move(raw.images)
                     : adapt_images(raw.images, options.channels, options.size);
  ds.labels = std::move(raw.labels);
  ds.ids.resize(ds.labels.size());
  for (size_t i = 0; i < ds.ids.size(); ++i) ds.ids[i] = static_cast<int64_t>(i);

  io::Json& m = ds.manifest;
  m["created_by"] = "diffmem data import";
  m["source"] = options.source;
  m["src"] = src.string();
  m["split"] = folder ? "all" : options.split;
  m["shape"] = ds.images.shape;
  m["count"] = ds.size();
  m["options"] = io::fields_json(options);
  if (options.size > 0)
    m["resize_filter"] =
        "stb_image_resize default: Mitchell when shrinking, Catmull-Rom when growing";
  m["classes"] = raw.extra["classes"];
  // For folders `files[id]` is the image's path relative to src; else the files read.
  m[folder ? "files" : "source_files"] = raw.extra["files"];
  if (!options.captions.empty()) {
    ds.captions.emplace();
    if (options.captions == "generated") {
      const auto classes = m["classes"].is_array() ? m["classes"].get<std::vector<std::string>>() : std::vector<std::string>{};
      for (size_t i = 0; i < ds.ids.size(); ++i) {
        const int64_t label = ds.labels[i];
        check(label >= 0 && label < static_cast<int64_t>(classes.size()), "import captions",
              "a class name for every image to caption (\"generated\")",
              "image " + std::to_string(ds.ids[i]) + " without one");
        ds.captions->push_back(generated_caption(caption_class_name(options.source, classes[static_cast<size_t>(label)]),
                                                 options.caption_seed, ds.ids[i]));
      }
    } else {
      const auto map = read_caption_map(options.captions);
      const auto files = m["files"].get<std::vector<std::string>>();
      for (const std::string& f : files) {
        const auto it = map.find(fs::path(f).lexically_normal().generic_string());
        check(it != map.end(), options.captions, "a caption for every imported image", "none for '" + f + "'");
        ds.captions->push_back(it->second);
      }
    }
    m["captions"] = options.captions;
  }
  validate_dataset(ds, src.string());
  return ds;
}

}  // namespace diffmem::data
