#include "diffmem/attack/screen.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/runtime.h"
#include "diffmem/attack/blackbox_prompts.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/io/csv.h"
#include "diffmem/metrics/roc.h"

namespace diffmem::attack {
namespace fs = std::filesystem;
namespace {

std::string number(double v) {
  if (std::isnan(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

io::Json detector_summary(const std::vector<ScreenRow>& rows, double ScreenRow::*score) {
  std::vector<double> s;
  std::vector<bool> member;
  for (const auto& r : rows) {
    if (r.label < 0 || std::isnan(r.*score)) return io::Json(nullptr);
    s.push_back(r.*score);
    member.push_back(r.label == 1);
  }
  const auto pos = std::count(member.begin(), member.end(), true);
  if (pos == 0 || pos == static_cast<long>(member.size()))
    return io::Json("not measurable: the labels hold one class only");
  io::Json j;
  metrics::to_json(j, metrics::summarize(metrics::roc_curve(s, member)));
  return j;
}

// Per duplicates count of the positive prompts: those positives against every negative (the
// issue's "per duplicate count"), for each detector; empty without a duplicates column.
io::Json by_duplicates(const std::vector<ScreenRow>& rows) {
  std::vector<int64_t> counts;
  for (const auto& r : rows)
    if (r.label == 1 && r.duplicates >= 0) counts.push_back(r.duplicates);
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  io::Json out = io::Json::array();
  for (int64_t d : counts) {
    std::vector<ScreenRow> subset;
    for (const auto& r : rows)
      if (r.label == 0 || r.duplicates == d) subset.push_back(r);
    const auto positives = std::count_if(subset.begin(), subset.end(), [](const ScreenRow& r) { return r.label == 1; });
    out.push_back({{"duplicates", d},
                   {"positives", positives},
                   {"negatives", static_cast<int64_t>(subset.size()) - positives},
                   {"wen", detector_summary(subset, &ScreenRow::wen)},
                   {"anisotropy", detector_summary(subset, &ScreenRow::anisotropy)}});
  }
  return out;
}

std::string raw_bytes(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel()) * sizeof(double));
}

// Every generation's probe, the batches spread over the ranks (batch c on rank c % size) and
// gathered back in generation order on every rank.
diffusion::SdProbe probe_by_batches(const diffusion::SdPipeline& pipe, const std::vector<std::string>& prompts,
                                    const std::vector<uint64_t>& seeds, const ScreenOptions& o,
                                    const ProgressFn& progress, const dist::Communicator& comm) {
  if (comm.size() == 1) return pipe.probe(prompts, seeds, o.pipeline, o.probe, progress);
  const int64_t n = static_cast<int64_t>(prompts.size()), batch = o.pipeline.batch;
  const int64_t steps = o.probe.first_steps;
  const auto generations_of = [&](int rank) {  // in order
    std::vector<size_t> g;
    for (int64_t c = rank; c * batch < n; c += comm.size())
      for (int64_t i = c * batch; i < std::min(n, (c + 1) * batch); ++i) g.push_back(static_cast<size_t>(i));
    return g;
  };
  std::vector<std::string> my_prompts;
  std::vector<uint64_t> my_seeds;
  for (size_t g : generations_of(comm.rank())) {
    my_prompts.push_back(prompts[g]);
    my_seeds.push_back(seeds[g]);
  }
  std::string mine;
  dist::collectively(comm, [&] {
    if (my_prompts.empty()) return;
    const diffusion::SdProbe p = pipe.probe(my_prompts, my_seeds, o.pipeline, o.probe, progress);
    const int64_t images = p.unet_images;
    mine = std::string(reinterpret_cast<const char*>(&images), sizeof images) + raw_bytes(p.first_norms) +
           raw_bytes(p.low_cosine);
  });
  diffusion::SdProbe all;
  all.first_norms = torch::empty({n, steps}, torch::kFloat64);
  all.low_cosine = torch::empty({n}, torch::kFloat64);
  const std::vector<std::string> parts = comm.all_gather(mine);
  for (int r = 0; r < comm.size(); ++r) {
    const std::string& part = parts[static_cast<size_t>(r)];
    if (part.empty()) continue;
    int64_t images = 0;
    std::memcpy(&images, part.data(), sizeof images);
    all.unet_images += images;
    const double* v = reinterpret_cast<const double*>(part.data() + sizeof images);
    const int64_t count = static_cast<int64_t>((part.size() - sizeof images) / sizeof(double)) / (steps + 1);
    const double* cos = v + count * steps;
    const std::vector<size_t> theirs = generations_of(r);
    check(static_cast<int64_t>(theirs.size()) == count, "screen",
          "rank " + std::to_string(r) + "'s measurements of " + std::to_string(theirs.size()) + " generations",
          std::to_string(count));
    for (size_t k = 0; k < theirs.size(); ++k) {
      const int64_t g = static_cast<int64_t>(theirs[k]);
      std::memcpy(all.first_norms[g].data_ptr<double>(), v + k * steps, static_cast<size_t>(steps) * sizeof(double));
      all.low_cosine[g] = cos[k];
    }
  }
  return all;
}

}  // namespace

void validate(const ScreenOptions& o) {
  check(!o.model.empty(), "--model", "a Stable Diffusion pipeline folder", "none");
  check(!o.prompts.empty(), "--prompts", "a prompts file", "none");
  check(o.per_prompt >= 1, "--per-prompt", "at least 1", std::to_string(o.per_prompt));
  check(std::isfinite(o.gamma_norm) && std::isfinite(o.gamma_cosine), "gamma_norm/gamma_cosine",
        "finite weights", number(o.gamma_norm) + ", " + number(o.gamma_cosine));
  diffusion::validate(o.pipeline, o.probe, "screen options (--steps, --guidance, --first-steps, --low-from-end)");
}

ScreenResult run_screen(const ScreenOptions& o, const fs::path& out, const std::string& device,
                        const ProgressFn& progress, const dist::Communicator& comm) {
  std::unique_ptr<diffusion::SdPipeline> pipe;
  dist::collectively(comm, [&] {
    validate(o);
    read_prompts(o.prompts, o.label);  // a bad file fails before the model loads
    pipe = std::make_unique<diffusion::SdPipeline>(
        diffusion::SdPipeline::load(o.model, torch::Device(core::resolve_device(device))));
  });
  return run_screen(o, *pipe, out, progress, comm);
}

ScreenResult run_screen(const ScreenOptions& o, const diffusion::SdPipeline& pipe, const fs::path& out,
                        const ProgressFn& progress, const dist::Communicator& comm) {
  std::vector<PromptEntry> file;
  dist::collectively(comm, [&] {
    validate(o);
    file = read_prompts(o.prompts, o.label);
    if (comm.rank() == 0) fs::create_directories(out);
  });
  const auto t0 = std::chrono::steady_clock::now();

  const int64_t n = static_cast<int64_t>(file.size());
  std::vector<std::string> prompts;
  std::vector<uint64_t> seeds;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < o.per_prompt; ++j) {
      prompts.push_back(file[static_cast<size_t>(i)].prompt);
      seeds.push_back(o.seed + static_cast<uint64_t>(i * o.per_prompt + j));
    }
  const diffusion::SdProbe probe = probe_by_batches(pipe, prompts, seeds, o, progress, comm);
  const auto norms = probe.first_norms.view({n, o.per_prompt, -1});
  const auto wen = norms.mean({1, 2}), first = norms.select(2, 0).mean(1);
  const auto cosine = probe.low_cosine.view({n, o.per_prompt}).mean(1);

  ScreenResult r;
  for (int64_t i = 0; i < n; ++i) {
    ScreenRow row;
    row.index = i;
    row.id = file[static_cast<size_t>(i)].id;
    row.prompt = file[static_cast<size_t>(i)].prompt;
    row.wen = wen[i].item<double>();
    row.first_norm = first[i].item<double>();
    row.low_cosine = cosine[i].item<double>();
    row.anisotropy = o.probe.low_from_end > 0 ? o.gamma_norm * row.first_norm + o.gamma_cosine * row.low_cosine
                                              : std::nan("");
    row.label = file[static_cast<size_t>(i)].label;
    row.duplicates = file[static_cast<size_t>(i)].duplicates;
    r.rows.push_back(row);
  }
  r.unet_images = probe.unet_images;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool labeled = n > 0 && file[0].label >= 0;
  io::Json& s = r.summary;
  s["prompts"] = n;
  s["per_prompt"] = o.per_prompt;
  s["unet_images"] = r.unet_images;
  s["unet_images_per_prompt"] = n ? static_cast<double>(r.unet_images) / static_cast<double>(n) : 0.0;
  // What generate-and-filter spends per prompt at the paper's 500 generations of this trajectory.
  s["generate_and_filter_unet_images_per_prompt"] = 500 * pipe.unet_images_per_image(o.pipeline);
  s["timing"] = {{"seconds", r.seconds}};
  s["detectors"]["wen"] = detector_summary(r.rows, &ScreenRow::wen);
  s["detectors"]["anisotropy"] = detector_summary(r.rows, &ScreenRow::anisotropy);
  s["labels"] = labeled ? io::Json(o.label) : io::Json(nullptr);
  if (labeled) s["by_duplicates"] = by_duplicates(r.rows);
  if (comm.rank() != 0) return r;  // rank 0 writes what one process would

  // screen.csv, highest wen first (ties: file order).
  std::vector<size_t> order(r.rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r.rows[a].wen > r.rows[b].wen; });
  std::string csv = "rank,index,id,prompt,wen,anisotropy,first_norm,low_cosine";
  csv += labeled ? "," + io::csv_field(o.label) + "\n" : "\n";
  for (size_t k = 0; k < order.size(); ++k) {
    const ScreenRow& row = r.rows[order[k]];
    csv += std::to_string(k + 1) + "," + std::to_string(row.index) + "," + io::csv_field(row.id) + "," +
           io::csv_field(row.prompt) + "," +
           number(row.wen) + "," + number(row.anisotropy) + "," + number(row.first_norm) + "," +
           number(row.low_cosine) + (labeled ? "," + std::to_string(row.label) : std::string()) + "\n";
  }
  core::write_file_atomic(out / "screen.csv", csv);
  io::write_json(out / "summary.json", s);
  io::Json m = io::fields_json(o);
  m["created_by"] = "diffmem screen";
  io::write_json(out / "manifest.json", m);
  log::info("screen: " + std::to_string(n) + " prompts, " + std::to_string(r.unet_images) + " U-Net evaluations");
  return r;
}

}  // namespace diffmem::attack
