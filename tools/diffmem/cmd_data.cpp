// `diffmem data import|subset|show`: bring a data set into the canonical form, cut seeded subsets
// (splits, planted duplicates) from it, and look at it.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "flags.h"
#include "diffmem/core/error.h"
#include "diffmem/data/captions.h"
#include "diffmem/data/dataset.h"
#include "diffmem/data/grid.h"
#include "diffmem/data/import.h"
#include "diffmem/data/subset.h"
#include "diffmem/io/image_file.h"

namespace {
namespace fs = std::filesystem;
using namespace diffmem;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string shape_of(const data::Dataset& ds) { return io::shape_str(ds.images.shape); }

void add_import(CLI::App& data) {
  struct Args {
    data::ImportOptions opt;
    std::string out;
  };
  auto a = std::make_shared<Args>();
  auto* sub = data.add_subcommand("import", "Import Fashion-MNIST, MNIST, CIFAR-10 or a folder of "
                                            "PNG/JPEG files into a dataset directory");
  sub->add_option("--from", a->opt.source, "Source format")
      ->check(CLI::IsMember({"fashion-mnist", "mnist", "cifar10", "images"}))
      ->capture_default_str();
  sub->add_option("--src", a->opt.src,
                  "Source directory (default for fashion-mnist: " +
                      data::default_source_dir("fashion-mnist").string() + ")");
  cli::add_shared(sub, cli::flags::kOut, a->out, "the dataset directory to write")->required();
  sub->add_option("--split", a->opt.split, "train or test (IDX, CIFAR-10)")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();
  sub->add_option("--limit", a->opt.limit, "Keep the first N images (0 = all)")
      ->capture_default_str();
  sub->add_option("--size", a->opt.size,
                  "Resize to SxS (0 = keep; stb filter: Mitchell down, Catmull-Rom up)")
      ->capture_default_str();
  sub->add_option("--channels", a->opt.channels, "1 or 3 (0 = the source's own)")
      ->capture_default_str();
  sub->add_option("--captions", a->opt.captions,
                  "Captions for text-to-image training: 'generated' (class name + a seeded phrase per "
                  "image), or for --from images a CSV/JSONL of file -> caption (columns file|file_name|"
                  "image|path and caption|text|prompt)");
  sub->add_option("--caption-seed", a->opt.caption_seed, "Seed of the generated captions' phrases")
      ->capture_default_str();
  sub->callback([a] {
    cli::start();
    auto t0 = std::chrono::steady_clock::now();
    data::Dataset ds = data::import_dataset(a->opt, cli::terminal_progress());
    data::save_dataset(a->out, ds);
    std::printf("imported %lld images %s (%s, split %s) from %s\n",
                static_cast<long long>(ds.size()), shape_of(ds).c_str(),
                a->opt.source.c_str(), ds.manifest["split"].get<std::string>().c_str(),
                ds.manifest["src"].get<std::string>().c_str());
    std::printf("wrote %s (images.npy labels.npy ids.npy%s manifest.json) in %.1f s\n", a->out.c_str(),
                ds.captions ? " captions.jsonl" : "", seconds_since(t0));
  });
}

void add_subset(CLI::App& data) {
  struct Args {
    data::SubsetOptions opt;
    std::string in, out;
  };
  auto a = std::make_shared<Args>();
  auto* sub = data.add_subcommand(
      "subset", "Seeded subset of a dataset: classes, size, member/non-member halves, planted "
                "duplicates");
  cli::add_shared(sub, cli::flags::kData, a->in, "the dataset directory to read")->required();
  cli::add_shared(sub, cli::flags::kOut, a->out, "the dataset directory to write")->required();
  sub->add_option("--n", a->opt.n, "Distinct images to keep (0 = all)")->capture_default_str();
  sub->add_option("--classes", a->opt.classes, "Labels to keep, e.g. 0,3")->delimiter(',');
  sub->add_option("--split", a->opt.split,
                  "half: members.npy marks a seeded half of the distinct images")
      ->check(CLI::IsMember({"none", "half"}))
      ->capture_default_str();
  sub->add_option("--duplicate-counts", a->opt.duplicate_counts,
                  "Plant images that appear exactly these many times, e.g. 1,2,4,8,16,32")
      ->delimiter(',');
  sub->add_option("--duplicate-picks", a->opt.duplicate_picks,
                  "Distinct images planted per count")
      ->capture_default_str();
  sub->add_option("--caption-copies", a->opt.caption_copies,
                  "Captioned data: planted copies keep their image's caption (same) or each get a varied one")
      ->check(CLI::IsMember({"same", "varied"}))
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kSeed, a->opt.seed, "of every random choice")->capture_default_str();
  sub->callback([a] {
    cli::start();
    std::error_code ec;
    if (fs::exists(a->out, ec) && fs::exists(a->in, ec) && fs::equivalent(a->in, a->out, ec))
      fail("--out " + a->out, "a directory other than --data", "the same directory");
    data::Dataset src = data::load_dataset(a->in);
    data::Dataset ds = data::make_subset(src, a->opt);
    ds.manifest["parent"]["dir"] = fs::absolute(a->in).lexically_normal().string();
    data::save_dataset(a->out, ds);
    std::printf("subset of %s: %lld images %s, %lld distinct, seed %llu\n", a->in.c_str(),
                static_cast<long long>(ds.size()), shape_of(ds).c_str(),
                static_cast<long long>(ds.manifest["distinct"].get<int64_t>()),
                static_cast<unsigned long long>(a->opt.seed));
    for (const auto& g : data::duplicate_groups(ds.manifest))
      std::printf("  planted id %lld x%lld\n", static_cast<long long>(g.id),
                  static_cast<long long>(g.count));
    if (ds.members) {
      const auto& m = ds.manifest["members"];
      std::printf("members.npy: %lld of %lld distinct images are members (%lld rows)\n",
                  static_cast<long long>(m["count"].get<int64_t>()),
                  static_cast<long long>(m["of"].get<int64_t>()),
                  static_cast<long long>(m["member_rows"].get<int64_t>()));
    }
    std::printf("wrote %s\n", a->out.c_str());
  });
}

void add_show(CLI::App& data) {
  struct Args {
    data::GridOptions opt;
    std::string dir, out;
  };
  auto a = std::make_shared<Args>();
  auto* sub = data.add_subcommand("show", "Write a PNG grid of a dataset's images");
  sub->add_option("dir", a->dir, "Dataset directory")->required();
  cli::add_shared(sub, cli::flags::kOut, a->out, "the PNG file to write")->required();
  sub->add_option("--n", a->opt.n, "Show the first N images")->capture_default_str();
  sub->add_option("--cols", a->opt.cols, "Images per row")->capture_default_str();
  sub->add_option("--indices", a->opt.indices, "Rows to show, e.g. 0,5,9 (overrides --n)")
      ->delimiter(',');
  sub->add_option("--scale", a->opt.scale, "Nearest-neighbour magnification")
      ->capture_default_str();
  sub->callback([a] {
    cli::start();
    data::Dataset ds = data::load_dataset(a->dir);
    io::HostArray grid = data::dataset_grid(ds, a->opt);
    io::write_png(a->out, grid);
    std::printf("wrote %s: %zu of %lld images, %lldx%lld pixels\n", a->out.c_str(),
                data::grid_rows(ds, a->opt).size(), static_cast<long long>(ds.size()),
                static_cast<long long>(grid.shape[1]), static_cast<long long>(grid.shape[0]));
  });
}

void add_prompts(CLI::App& data) {
  struct Args {
    std::string in, out;
  };
  auto a = std::make_shared<Args>();
  auto* sub = data.add_subcommand(
      "prompts", "A prompts file of a captioned data set (one row per distinct image, with its duplicate "
                 "count and image) for diffmem screen / extract-blackbox");
  cli::add_shared(sub, cli::flags::kData, a->in, "the captioned dataset directory")->required();
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder for prompts.csv and images/")->required();
  sub->callback([a] {
    cli::start();
    const data::Dataset ds = data::load_dataset(a->in);
    const int64_t n = data::write_caption_prompts(ds, a->out);
    std::printf("wrote %s/prompts.csv: %lld prompts (id,prompt,duplicates,planted,%strain_image)\n", a->out.c_str(),
                static_cast<long long>(n), ds.members ? "member," : "");
  });
}

}  // namespace

DIFFMEM_COMMAND(100) {
  auto* data = app.add_subcommand("data", "Import data sets, cut subsets and splits, plant "
                                          "duplicates, show images");
  data->require_subcommand(1);
  add_import(*data);
  add_subset(*data);
  add_show(*data);
  add_prompts(*data);
}
