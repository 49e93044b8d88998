// `diffmem dedup`: near-duplicate pairs and groups inside a data set (images or embeddings), the
// duplicate count of every image, and optionally the deduplicated data set (the paper's mitigation).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "command.h"
#include "flags.h"
#include "diffmem/attack/dedup.h"
#include "diffmem/core/error.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/core/runtime.h"
#include "diffmem/io/tensor_bridge.h"

namespace {
using namespace diffmem;
namespace fs = std::filesystem;

struct Args {
  attack::DedupOptions opt;
  std::unique_ptr<cli::SetFlag> set;
  std::string data, embeddings, out, write_dedup;
};

void run(Args& a) {
  cli::start();
  if (a.data.empty() && a.embeddings.empty())
    fail("dedup", "--data DATASET or --embeddings FILE.npy", "neither");
  if (!a.write_dedup.empty() && a.data.empty())
    fail("--write-deduplicated", "--data (the images to keep come from it)", "no --data");
  a.set->apply(a.opt);
  a.opt.device = core::resolve_device(cli::globals().device);

  data::Dataset ds;
  torch::Tensor rows;
  if (!a.data.empty()) ds = data::load_dataset(a.data);
  if (!a.embeddings.empty()) {
    rows = attack::load_embeddings(a.embeddings);
    if (!a.data.empty() && rows.size(0) != ds.size())
      fail(a.embeddings, std::to_string(ds.size()) + " rows, one per image of " + a.data,
           std::to_string(rows.size(0)) + " rows");
  } else {
    rows = io::to_tensor(ds.images);
  }
  io::Json extra = {{"input", a.embeddings.empty() ? "images" : "embeddings"},
                    {"data", a.data.empty() ? io::Json(nullptr) : io::Json(fs::absolute(a.data).string())},
                    {"embeddings", a.embeddings.empty() ? io::Json(nullptr)
                                                        : io::Json(fs::absolute(a.embeddings).string())}};
  const attack::DedupResult r = attack::find_duplicates(rows, a.opt, cli::terminal_progress());
  const core::RunLock lock(a.out, "--out");  // one run per folder
  const io::Json s = attack::write_dedup(a.out, r, a.opt, a.data.empty() ? std::vector<int64_t>{} : ds.ids,
                                         ds.manifest, extra);
  std::printf("%lld rows: %zu near-duplicate pairs (%s %s %g), %zu groups, %lld rows removable "
              "(largest group %lld)\n",
              static_cast<long long>(r.rows), r.pairs.size(), a.opt.metric.c_str(),
              a.opt.metric == "cosine" ? ">=" : "<=", a.opt.threshold, r.groups.size(),
              static_cast<long long>(s["removed"].get<int64_t>()),
              static_cast<long long>(s["largest_group"].get<int64_t>()));
  if (r.saturated > 0)
    std::printf("note: %lld rows had all %lld neighbours within the threshold; raise --k to list every pair\n",
                static_cast<long long>(r.saturated), static_cast<long long>(a.opt.k));
  if (s.contains("planted"))
    std::printf("planted duplicate groups found at their exact size: %lld of %zu\n",
                static_cast<long long>(s["planted_found_exactly"].get<int64_t>()), s["planted"].size());
  std::printf("results: %s/{pairs.csv,groups.csv,counts.npy,summary.json}\n", a.out.c_str());
  if (!a.write_dedup.empty()) {
    std::error_code ec;
    if (fs::exists(a.write_dedup, ec) && fs::equivalent(a.write_dedup, a.data, ec))
      fail("--write-deduplicated " + a.write_dedup, "a directory other than --data", "the same directory");
    const data::Dataset d = attack::deduplicated(ds, r, a.opt, fs::absolute(a.data).string());
    data::save_dataset(a.write_dedup, d);
    std::printf("wrote %s: %lld of %lld images kept\n", a.write_dedup.c_str(), static_cast<long long>(d.size()),
                static_cast<long long>(ds.size()));
  }
}

}  // namespace

DIFFMEM_COMMAND(450) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "dedup", "Near-duplicate pairs and groups inside a data set (images or embeddings); duplicate "
               "count per image; optionally the deduplicated data set");
  cli::add_shared(sub, cli::flags::kData, a->data);
  sub->add_option("--embeddings", a->embeddings,
                  "float32 [N,D] .npy of embeddings (rows in the data set's order when --data is given too)");
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder for pairs.csv, groups.csv, counts.npy, summary.json")->required();
  sub->add_option("--metric", a->opt.metric, "l2 (normalized l2 <= threshold) or cosine (similarity >= threshold)")
      ->check(CLI::IsMember({"l2", "cosine"}))
      ->capture_default_str();
  sub->add_option("--threshold", a->opt.threshold, "Duplicate threshold (normalized l2 on [0,1] pixels for images)")
      ->capture_default_str();
  sub->add_option("--k", a->opt.k, "Neighbours examined per row")->capture_default_str();
  sub->add_option("--write-deduplicated", a->write_dedup,
                  "Write a data set keeping one image per group (needs --data)");
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<attack::DedupOptions>());
  sub->callback([a] { run(*a); });
}
