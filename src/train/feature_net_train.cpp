#include "diffmem/train/feature_net_train.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cmath>
#include <limits>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/io/json.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/classifier.h"
#include "diffmem/model/weights.h"
#include "diffmem/train/optimizer.h"

namespace diffmem::train {
namespace fs = std::filesystem;

void validate(const FeatureNetOptions& o, const std::string& where) {
  if (o.epochs < 1) fail(where, "epochs >= 1", std::to_string(o.epochs));
  if (o.batch < 1) fail(where, "batch >= 1", std::to_string(o.batch));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) fail(where, "lr > 0", std::to_string(o.lr));
  if (o.base_width < 1) fail(where, "base_width >= 1", std::to_string(o.base_width));
  if (!(o.holdout >= 0 && o.holdout <= 0.5)) fail(where, "holdout in [0, 0.5]", std::to_string(o.holdout));
}

namespace {

// Rows split by distinct id, so copies of a planted duplicate never straddle the split.
void split_rows(const data::Dataset& ds, const FeatureNetOptions& o, std::vector<int64_t>& train,
                std::vector<int64_t>& heldout) {
  const std::set<int64_t> distinct(ds.ids.begin(), ds.ids.end());
  std::vector<int64_t> ids(distinct.begin(), distinct.end());
  core::Rng rng(core::derive_seed(o.seed, 0));
  rng.shuffle(ids);
  const size_t n_out = static_cast<size_t>(std::floor(o.holdout * static_cast<double>(ids.size())));
  const std::set<int64_t> out(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n_out));
  for (int64_t i = 0; i < ds.size(); ++i) (out.count(ds.ids[i]) ? heldout : train).push_back(i);
}

double accuracy(model::ClassifierImpl& net, const torch::Tensor& images, const torch::Tensor& labels,
                const std::vector<int64_t>& rows, int64_t batch) {
  if (rows.empty()) return std::numeric_limits<double>::quiet_NaN();
  torch::NoGradGuard no_grad;
  int64_t right = 0;
  const torch::Tensor idx = torch::tensor(rows, torch::kLong);
  for (int64_t i = 0; i < idx.size(0); i += batch) {
    const torch::Tensor b = idx.slice(0, i, std::min(idx.size(0), i + batch));
    const torch::Tensor logits = net.forward(model::classifier_input(images.index_select(0, b)));
    right += (logits.argmax(1) == labels.index_select(0, b)).sum().item<int64_t>();
  }
  return static_cast<double>(right) / static_cast<double>(rows.size());
}

NamedTensors named(model::ClassifierImpl& net) {
  NamedTensors p;
  for (const auto& kv : net.named_parameters()) p.emplace_back(kv.key(), kv.value());
  return p;
}

}  // namespace

FeatureNetResult train_feature_net(const data::Dataset& ds, const std::string& where, const fs::path& out,
                                   const FeatureNetOptions& o, const ProgressFn& progress) {
  validate(o, "feature-net options");
  data::validate_dataset(ds, where);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t classes = 0;
  for (int64_t l : ds.labels) {
    if (l < 0) fail(where, "labels >= 0 (the feature net learns the classes)", std::to_string(l));
    classes = std::max(classes, l + 1);
  }
  if (classes < 2) fail(where, "a labelled data set with at least 2 classes", std::to_string(classes) + " class");
  model::ClassifierConfig cfg;
  cfg.height = ds.height();
  cfg.width = ds.width();
  cfg.channels = ds.channels();
  cfg.classes = classes;
  cfg.base_width = o.base_width;
  cfg.trained_on = where;
  const io::Json options_json = io::fields_json(o);

  FeatureNetResult r;
  r.dir = out;
  r.classes = classes;
  std::vector<int64_t> train_rows, held_rows;
  split_rows(ds, o, train_rows, held_rows);
  if (train_rows.empty()) fail(where, "images to train the feature net on", "none");
  r.train_images = static_cast<int64_t>(train_rows.size());
  r.heldout_images = static_cast<int64_t>(held_rows.size());
  const fs::path done = out / "train.json", ckpt = out / "checkpoint.safetensors";
  if (fs::exists(done)) {
    const io::Json j = io::read_json(done);
    if (!j.is_object() || !j.contains("options") || j["options"] != options_json)
      fail(done.string(), "a feature net trained with the options given (use another --out)",
           j.is_object() && j.contains("options") ? j["options"].dump() : "no options");
    r.already_done = true;
    r.start_epoch = o.epochs;
    auto num = [&](const char* key) {
      return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::numeric_limits<double>::quiet_NaN();
    };
    r.train_accuracy = num("train_accuracy");
    r.heldout_accuracy = num("heldout_accuracy");
    return r;
  }
  fs::create_directories(out);
  torch::manual_seed(core::derive_seed(o.seed, 1));  // the initial weights
  model::Classifier net(cfg);
  const torch::Tensor images = io::to_tensor(ds.images), labels = torch::tensor(ds.labels, torch::kLong);
  AdamOptions ao;
  ao.lr = o.lr;
  ao.grad_clip = 0;
  Adam adam(named(*net), ao);
  if (fs::exists(ckpt)) {
    const io::Safetensors st = io::read_safetensors(ckpt);
    const auto opt_it = st.metadata.find("options");
    const auto ep_it = st.metadata.find("epoch");
    if (opt_it == st.metadata.end() || ep_it == st.metadata.end() || opt_it->second != options_json.dump())
      fail(ckpt.string(), "a checkpoint of a run with the options given (remove it or use another --out)",
           opt_it == st.metadata.end() ? "no options" : opt_it->second);
    std::map<std::string, io::HostArray> weights;
    std::map<std::string, torch::Tensor> state;
    for (const auto& [name, a] : st.tensors) {
      if (name.rfind("exp_avg", 0) == 0) state[name] = io::to_tensor(a);
      else weights[name] = a;
    }
    model::load_weights(*net, weights, ckpt.string(), "only feature-net classifier parameters");
    adam.load_state(state, ckpt.string());
    r.start_epoch = std::stoll(ep_it->second);
    if (r.start_epoch < 0 || r.start_epoch > o.epochs)
      fail(ckpt.string(), "an epoch in [0, " + std::to_string(o.epochs) + "]", ep_it->second);
  }
  const int64_t steps_per_epoch = (r.train_images + o.batch - 1) / o.batch;
  ProgressMeter meter(progress, "train-feature-net", o.epochs * steps_per_epoch, "steps",
                      r.start_epoch * steps_per_epoch);
  net->train();
  for (int64_t e = r.start_epoch; e < o.epochs; ++e) {
    std::vector<int64_t> order = train_rows;
    core::Rng(core::derive_seed(o.seed, 2 + static_cast<uint64_t>(e))).shuffle(order);
    const torch::Tensor idx = torch::tensor(order, torch::kLong);
    double loss_sum = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const torch::Tensor b = idx.slice(0, s * o.batch, std::min(idx.size(0), (s + 1) * o.batch));
      adam.zero_grad();
      const torch::Tensor loss = torch::cross_entropy_loss(
          net->forward(model::classifier_input(images.index_select(0, b))), labels.index_select(0, b));
      loss.backward();
      adam.step(e * steps_per_epoch + s);
      loss_sum += loss.item<double>();
      meter.update(e * steps_per_epoch + s + 1, "epoch " + std::to_string(e + 1));
    }
    std::map<std::string, torch::Tensor> all = adam.state();
    for (const auto& p : net->named_parameters()) all[p.key()] = p.value().detach();
    io::Safetensors st = model::weights_state(all);
    st.metadata["options"] = options_json.dump();
    st.metadata["epoch"] = std::to_string(e + 1);
    io::write_safetensors(ckpt, st);
    char b[96];
    std::snprintf(b, sizeof b, "epoch %lld/%lld done, loss %.4f", static_cast<long long>(e + 1),
                  static_cast<long long>(o.epochs), loss_sum / static_cast<double>(steps_per_epoch));
    meter.update((e + 1) * steps_per_epoch, b, /*force=*/true);  // after the checkpoint: a safe moment to stop
  }
  net->eval();
  r.train_accuracy = accuracy(*net, images, labels, train_rows, 512);
  r.heldout_accuracy = accuracy(*net, images, labels, held_rows, 512);
  model::save_classifier(out, *net);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto num = [](double v) { return std::isfinite(v) ? io::Json(v) : io::Json(nullptr); };
  io::write_json(done, io::Json{{"options", options_json},
                                {"data", where},
                                {"classes", classes},
                                {"train_images", r.train_images},
                                {"heldout_images", r.heldout_images},
                                {"train_accuracy", num(r.train_accuracy)},
                                {"heldout_accuracy", num(r.heldout_accuracy)},
                                {"seconds_last_run", r.seconds}});
  fs::remove(ckpt);
  meter.finish();
  return r;
}

}  // namespace diffmem::train
