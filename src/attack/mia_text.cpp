#include "diffmem/attack/mia_text.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "diffmem/attack/mia_lira.h"
#include "diffmem/attack/mia_scores.h"
#include "diffmem/attack/split_check.h"
#include "diffmem/core/memory.h"
#include "diffmem/core/log.h"
#include "diffmem/core/error.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/io/json.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/metrics/roc.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

TextMiaErrors text_mia_errors(const fs::path& model, const data::Dataset& ds, const TextMiaOptions& o,
                              const std::string& device, const ProgressFn& progress) {
  check(ds.captions.has_value(), "--data", "a captioned data set (captions.jsonl) for a text-to-image model",
        "no captions.jsonl");
  return text_mia_errors(diffusion::SdPipeline::load(model, torch::Device(core::resolve_device(device))), ds, o,
                         progress);
}

TextMiaErrors text_mia_errors(const diffusion::SdPipeline& pipe, const data::Dataset& ds, const TextMiaOptions& o,
                              const ProgressFn& progress) {
  check(ds.captions.has_value(), "--data", "a captioned data set (captions.jsonl) for a text-to-image model",
        "no captions.jsonl");
  check(o.draws >= 1, "--draws", "at least 1", std::to_string(o.draws));
  check(o.batch >= 1, "--batch", "at least 1", std::to_string(o.batch));
  const int64_t T = pipe.scheduler_config().num_train_timesteps;
  check(o.t >= 0 && o.t < T, "--t", "a timestep in [0, " + std::to_string(T) + ")", std::to_string(o.t));
  const diffusion::NoiseSchedule schedule(pipe.scheduler_config());

  torch::NoGradGuard no_grad;
  const int64_t n = ds.size();
  const torch::Tensor all = io::to_tensor(ds.images);
  const torch::Tensor null_context = pipe.encode({o.null_caption});
  TextMiaErrors out;
  out.conditional.assign(static_cast<size_t>(n), 0.0);
  out.null.assign(static_cast<size_t>(n), 0.0);
  // Examples per pass: each brings draws × 2 conditions model inputs.
  const int64_t per = std::max<int64_t>(1, o.batch / (2 * o.draws));
  ProgressMeter meter(progress, "mia", n, "examples");
  for (int64_t s = 0; s < n; s += per) {
    const int64_t e = std::min(n, s + per), b = e - s;
    const torch::Tensor x0 = pipe.to_latents(all.slice(0, s, e));  // [b,C,h,w]
    const int64_t c = x0.size(1), h = x0.size(2), w = x0.size(3);
    std::vector<torch::Tensor> noise;
    for (int64_t i = s; i < e; ++i) noise.push_back(example_noise(o.seed, ds.ids[static_cast<size_t>(i)], o.draws, c, h, w));
    const torch::Tensor eps = torch::stack(noise).to(x0.device());  // [b,draws,C,h,w]
    const torch::Tensor x = x0.unsqueeze(1).expand({b, o.draws, c, h, w});
    const torch::Tensor t = torch::full({b * o.draws}, o.t, torch::kLong);
    const torch::Tensor xt = diffusion::add_noise(schedule, x.reshape({b * o.draws, c, h, w}),
                                                  eps.reshape({b * o.draws, c, h, w}), t);
    const std::vector<std::string> captions(ds.captions->begin() + s, ds.captions->begin() + e);
    const torch::Tensor own = pipe.encode(captions).repeat_interleave(o.draws, 0);
    const torch::Tensor context = torch::cat({own, null_context.expand({b * o.draws, -1, -1})});
    const torch::Tensor pred = pipe.predict_noise(torch::cat({xt, xt}), torch::cat({t, t}), context);
    out.unet_images += 2 * b * o.draws;
    const torch::Tensor target = eps.reshape({b * o.draws, c, h, w}).repeat({2, 1, 1, 1});
    const torch::Tensor err = (pred - target).pow(2).reshape({2, b, o.draws, -1}).mean(3).to(torch::kFloat64).mean(2).cpu();
    for (int64_t i = 0; i < b; ++i) {
      out.conditional[static_cast<size_t>(s + i)] = err[0][i].item<double>();
      out.null[static_cast<size_t>(s + i)] = err[1][i].item<double>();
    }
    meter.update(e);
  }
  meter.finish();
  return out;
}

std::vector<fs::path> list_pipeline_folders(const fs::path& dir, const fs::path& exclude) {
  if (!fs::is_directory(dir)) fail(dir.string(), "a folder of text-to-image pipeline folders", "no such folder");
  std::vector<fs::path> out;
  std::error_code ec;
  const fs::path skip = exclude.empty() ? fs::path() : fs::weakly_canonical(exclude, ec);
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::is_regular_file(e.path() / "model_index.json") &&
        (skip.empty() || fs::weakly_canonical(e.path(), ec) != skip))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

struct Wanted {
  bool clid = false, secmi = false, pia = false, lira = false;
};

Wanted parse_attacks(const std::string& attacks) {
  Wanted w;
  std::string name;
  for (char ch : attacks + ",") {
    if (ch != ',') {
      name += ch;
      continue;
    }
    if (name == "clid") w.clid = true;
    else if (name == "secmi") w.secmi = true;
    else if (name == "pia") w.pia = true;
    else if (name == "lira") w.lira = true;
    else if (name != "loss")
      fail("mia attack", "loss, clid, secmi, pia or lira for a text-to-image model", "'" + name + "'");
    name.clear();
  }
  return w;
}

}  // namespace

namespace {

// The model work of one run, as tasks split round robin over an MPI job's ranks: the target's two
// losses (its caption and the null one), its SecMI and PIA errors, and each shadow's loss.
struct TextTask {
  enum Kind { kLosses, kSecmi, kPia, kShadow } kind = kLosses;
  size_t shadow = 0;
};

struct TextTaskDone {
  std::vector<double> a, b;  // kLosses: L_c and L_null; the others: their errors in a
  int64_t unet_images = 0;
  double seconds = 0;
};

void put_doubles(std::string& out, const std::vector<double>& v) {
  const int64_t n = static_cast<int64_t>(v.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
}

template <class T>
T take(const std::string& in, size_t& at) {
  T v;
  check(at + sizeof v <= in.size(), "mia (ranks)", "a rank's errors whole", std::to_string(in.size()) + " bytes");
  std::memcpy(&v, in.data() + at, sizeof v);
  at += sizeof v;
  return v;
}

std::vector<double> take_doubles(const std::string& in, size_t& at) {
  const auto n = static_cast<size_t>(take<int64_t>(in, at));
  check(at + n * sizeof(double) <= in.size(), "mia (ranks)", "a rank's errors whole", std::to_string(in.size()) + " bytes");
  std::vector<double> v(n);
  std::memcpy(v.data(), in.data() + at, n * sizeof(double));
  at += n * sizeof(double);
  return v;
}

}  // namespace

MiaRunResult run_text_mia(const fs::path& model, const data::Dataset& ds, const std::vector<bool>& members,
                          const std::string& attacks, const TextMiaOptions& o, const fs::path& out,
                          const std::string& device, const ProgressFn& progress, const fs::path& shadows,
                          const dist::Communicator& comm) {
  Wanted want;
  MiaRunResult result;
  LiraOptions lira;
  // Shadows are checked before any model runs (on every rank: one that cannot read them stops all).
  std::vector<fs::path> shadow_dirs;
  std::vector<std::vector<bool>> shadow_members;
  dist::collectively(comm, [&] {
    want = parse_attacks(attacks);
    check(static_cast<int64_t>(members.size()) == ds.size(), "members", std::to_string(ds.size()) + " flags, one per row",
          std::to_string(members.size()));
    for (bool m : members) (m ? result.members : result.nonmembers) += 1;
    check(result.members > 0 && result.nonmembers > 0, "members", "both members and non-members",
          std::to_string(result.members) + " members, " + std::to_string(result.nonmembers) + " non-members");
    lira.statistic = o.lira_statistic;
    lira.global_variance = o.lira_global_variance;
    validate(lira, "mia lira");
    if (want.lira) {
      check(!shadows.empty(), "--shadows", "a folder of shadow text-to-image pipelines for LiRA", "none");
      shadow_dirs = list_pipeline_folders(shadows, model);
      check(!shadow_dirs.empty(), shadows.string(), "shadow pipeline folders (model_index.json + members.npy)", "none");
      for (const fs::path& d : shadow_dirs) {
        const auto m = data::load_members(d, ds.size());
        if (!m) fail((d / "members.npy").string(), "the shadow's training rows over the data set", "no such file");
        shadow_members.push_back(*m);
      }
      result.shadows = static_cast<int64_t>(shadow_dirs.size());
    }
  });
  // The model-free baseline on the same split (image and caption statistics), before any model runs.
  io::Json split;
  dist::collectively(comm, [&] {
    if (comm.rank() != 0) return;
    SplitCheckOptions so;
    const std::string why_not = split_check_unavailable(ds, members, so.folds);
    split = why_not.empty() ? split_check_json(split_check(ds, members, so), so) : io::Json{{"skipped", why_not}};
    fs::create_directories(out);
    io::write_json(out / "split-check.json", split);
    log::info("mia split check: " + (why_not.empty() ? split["verdict"].get<std::string>() : "skipped, " + why_not));
  });
  const core::PeakMemory memory;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<TextTask> tasks = {{TextTask::kLosses}};
  if (want.secmi) tasks.push_back({TextTask::kSecmi});
  if (want.pia) tasks.push_back({TextTask::kPia});
  for (size_t k = 0; k < shadow_dirs.size(); ++k) tasks.push_back({TextTask::kShadow, k});
  std::vector<TextTaskDone> done(tasks.size());
  std::string mine;
  dist::collectively(comm, [&] {
    std::unique_ptr<diffusion::SdPipeline> pipe;  // the target, loaded by the ranks that need it
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (!dist::owns(static_cast<int64_t>(i), comm.rank(), comm.size())) continue;
      const auto s0 = std::chrono::steady_clock::now();
      const TextTask& task = tasks[i];
      TextTaskDone& d = done[i];
      if (task.kind == TextTask::kShadow) {
        log::info("mia lira: shadow " + std::to_string(task.shadow + 1) + " of " + std::to_string(shadow_dirs.size()) +
                  " (" + shadow_dirs[task.shadow].string() + ")");
        const TextMiaErrors e = text_mia_errors(shadow_dirs[task.shadow], ds, o, device, progress);
        d.a = e.conditional;
        d.unet_images = e.unet_images;
      } else {
        if (!pipe)
          pipe = std::make_unique<diffusion::SdPipeline>(
              diffusion::SdPipeline::load(model, torch::Device(core::resolve_device(device))));
        if (task.kind == TextTask::kLosses) {
          TextMiaErrors e = text_mia_errors(*pipe, ds, o, progress);
          d.a = std::move(e.conditional);
          d.b = std::move(e.null);
          d.unet_images = e.unet_images;
        } else {
          TextRowErrors r = task.kind == TextTask::kSecmi ? text_secmi_errors(*pipe, ds, o, progress)
                                                          : text_pia_errors(*pipe, ds, o, progress);
          d.a = std::move(r.errors);
          d.unet_images = r.unet_images;
        }
      }
      d.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
      mine.append(reinterpret_cast<const char*>(&i), sizeof i);
      mine.append(reinterpret_cast<const char*>(&d.unet_images), sizeof d.unet_images);
      mine.append(reinterpret_cast<const char*>(&d.seconds), sizeof d.seconds);
      put_doubles(mine, d.a);
      put_doubles(mine, d.b);
    }
  });
  if (comm.size() > 1) {
    // Every rank's errors to rank 0, bit for bit (doubles as bytes); only rank 0 reads them.
    const std::vector<std::string> all = comm.all_gather(comm.rank() == 0 ? std::string() : mine);
    for (const std::string& bytes : all) {
      if (comm.rank() != 0) break;
      size_t at = 0;
      while (at < bytes.size()) {
        const auto i = take<size_t>(bytes, at);
        check(i < done.size(), "mia (ranks)", "a task below " + std::to_string(done.size()), std::to_string(i));
        done[i].unet_images = take<int64_t>(bytes, at);
        done[i].seconds = take<double>(bytes, at);
        done[i].a = take_doubles(bytes, at);
        done[i].b = take_doubles(bytes, at);
      }
    }
  }
  // Rank 0 writes what one process would.
  dist::collectively(comm, [&] {
    if (comm.rank() != 0) return;
    // Per attack: scores, seconds and U-Net evaluations (lira's are filled in below).
    struct Scored {
      std::string name;
      std::vector<double> scores;
      double seconds = 0;
      int64_t unet_images = 0;
    };
    std::vector<Scored> scored;
    const TextTaskDone& target = done[0];
    std::vector<double> loss, clid;
    for (size_t i = 0; i < target.a.size(); ++i) {
      loss.push_back(-target.a[i]);
      clid.push_back(target.b[i] - target.a[i]);
    }
    // The loss and CLiD come from the same evaluations (each row with its caption and the null one).
    scored.push_back({"loss", loss, target.seconds, target.unet_images});
    if (want.clid) scored.push_back({"clid", clid, target.seconds, target.unet_images});
    int64_t unet_images = target.unet_images;
    std::vector<std::vector<double>> shadow_errors;
    for (size_t i = 1; i < tasks.size(); ++i) {
      const TextTaskDone& d = done[i];
      if (tasks[i].kind == TextTask::kShadow) {
        shadow_errors.push_back(d.a);
        unet_images += d.unet_images;
        continue;
      }
      Scored sc{tasks[i].kind == TextTask::kSecmi ? "secmi" : "pia", {}, d.seconds, d.unet_images};
      for (double e : d.a) sc.scores.push_back(-e);
      scored.push_back(std::move(sc));
    }
    io::Json lira_details = nullptr;
    if (want.lira) {
      lira_details = io::Json::array();
      for (bool online : {true, false}) {
        lira.online = online;
        const LiraResult r = lira_scores(target.a, shadow_errors, shadow_members, lira);
        scored.push_back({online ? "lira-online" : "lira-offline", r.scores, 0, 0});
        lira_details.push_back({{"online", online},
                                {"pooled_in_variance", r.pooled_in_variance},
                                {"pooled_out_variance", r.pooled_out_variance},
                                {"mean_shift", r.mean_shift},
                                {"missing_in", r.missing_in},
                                {"missing_out", r.missing_out}});
      }
    }
    const double all_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& [name, scores, attack_seconds, attack_unet_images] : scored) {
      const auto curve = metrics::roc_curve(scores, members);
      MiaAttackReport rep;
      rep.name = name;
      rep.dir = out / name;
      rep.summary = metrics::summarize(scores, members, {}, metrics::BootstrapOptions{}, &ds.ids);
      const bool is_lira = name.rfind("lira", 0) == 0;
      rep.seconds = is_lira ? all_seconds : attack_seconds;
      fs::create_directories(rep.dir);
      write_scores_csv(rep.dir / "scores.csv", ds, scores, members);
      metrics::write_roc_csv(rep.dir / "roc.csv", metrics::compact(curve));
      if (rep.summary.ci) metrics::write_roc_band_csv((rep.dir / "roc_band.csv").string(), *rep.summary.ci);
      io::Json j;
      metrics::to_json(j, rep.summary);
      j["attack"] = name == "loss"    ? "loss with the caption at t (text-to-image)"
                    : name == "clid"  ? "CLiD: loss with the null caption minus loss with the caption (Zhai et al. 2024)"
                    : name == "secmi" ? "SecMI t-error with the caption, in the U-Net's space (Duan et al. 2023)"
                    : name == "pia"   ? "PIA error with the caption, in the U-Net's space (Kong et al. 2024)"
                                      : "LiRA (" + std::string(name == "lira-online" ? "online" : "offline") +
                                           ") on the loss with the caption, " + std::to_string(shadow_dirs.size()) +
                                           " shadow pipelines";
      j["options"] = o;
      j["target"] = model.string();
      j["unet_images"] = is_lira ? unet_images : attack_unet_images;
      j["timing"] = {{"seconds", rep.seconds},
                     {"model_evaluations", j["unet_images"]},
                     {"peak_rss_bytes", memory.peak()},
                     {"peak_rss_since", memory.since_stage_start() ? "attack start" : "process start"}};
      j["split_check"] = split_check_brief(split);
      if (is_lira) {
        j["shadows"] = io::Json::array();
        for (const auto& d : shadow_dirs) j["shadows"].push_back(d.string());
        j["lira"] = lira_details[name == "lira-online" ? 0 : 1];
      }
      io::write_json(rep.dir / "summary.json", j);
      result.attacks.push_back(std::move(rep));
    }
  });
  return result;
}

}  // namespace diffmem::attack
