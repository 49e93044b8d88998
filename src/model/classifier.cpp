#include "diffmem/model/classifier.h"

#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/io/json.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/weights.h"

namespace diffmem::model {
namespace fs = std::filesystem;

void validate(const ClassifierConfig& c, const std::string& where) {
  auto positive = [&](int64_t v, const char* key) {
    if (v < 1) fail(where, std::string(key) + " >= 1", std::to_string(v));
  };
  positive(c.height, "height");
  positive(c.width, "width");
  positive(c.base_width, "base_width");
  if (c.channels != 1 && c.channels != 3) fail(where, "channels 1 or 3", std::to_string(c.channels));
  if (c.classes < 2) fail(where, "classes >= 2 (a classifier of one class learns nothing)", std::to_string(c.classes));
}

ClassifierImpl::ClassifierImpl(const ClassifierConfig& config) : config_(config) {
  validate(config, "classifier config");
  const int64_t w = config.base_width;
  namespace nn = torch::nn;
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(config.channels, w, 3).padding(1)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(w, 2 * w, 3).padding(1)));
  conv3 = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(2 * w, 4 * w, 3).padding(1)));
  fc = register_module("fc", nn::Linear(4 * w, config.classes));
}

torch::Tensor ClassifierImpl::features(const torch::Tensor& x) {
  // Pools only while a side is at least 2, so tiny images still pass.
  auto pool = [](const torch::Tensor& h) {
    return h.size(2) >= 2 && h.size(3) >= 2 ? torch::max_pool2d(h, 2) : h;
  };
  torch::Tensor h = pool(torch::relu(conv1(x)));
  h = pool(torch::relu(conv2(h)));
  h = torch::relu(conv3(h));
  return h.mean({2, 3});
}

torch::Tensor ClassifierImpl::head(const torch::Tensor& features) { return fc(features); }

torch::Tensor classifier_input(const torch::Tensor& images) {
  return images.permute({0, 3, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0).contiguous();
}

void save_classifier(const fs::path& dir, ClassifierImpl& model) {
  fs::create_directories(dir);
  std::map<std::string, torch::Tensor> w;
  for (const auto& p : model.named_parameters()) w[p.key()] = p.value().detach();
  io::write_safetensors(dir / "model.safetensors", weights_state(w));
  io::write_json(dir / "config.json", io::fields_json(model.config()));
}

Classifier load_classifier(const fs::path& dir) {
  const fs::path config = dir / "config.json", weights = dir / "model.safetensors";
  for (const auto& f : {config, weights})
    if (!fs::exists(f)) fail(f.string(), "a data-set feature net (diffmem train-feature-net writes one)", "no such file");
  Classifier net(io::read_options<ClassifierConfig>(io::read_json(config), config.string()));
  load_weights(*net, io::read_safetensors(weights).tensors, weights.string(), "only feature-net classifier parameters");
  net->eval();
  return net;
}

ClassifierFeatures::ClassifierFeatures(const fs::path& dir) : dir_(dir), net_(load_classifier(dir)) {}

torch::Tensor ClassifierFeatures::features(const torch::Tensor& images) {
  const ClassifierConfig& c = net_->config();
  if (images.dim() != 4 || images.size(1) != c.height || images.size(2) != c.width || images.size(3) != c.channels)
    fail(dir_.string(), "images [N," + std::to_string(c.height) + "," + std::to_string(c.width) + "," +
                            std::to_string(c.channels) + "] as the feature net was trained on",
         io::shape_str(images));
  torch::NoGradGuard no_grad;
  return net_->features(classifier_input(images)).contiguous();
}

int64_t ClassifierFeatures::dim() const { return 4 * net_->config().base_width; }

std::string ClassifierFeatures::name() const {
  const std::string on = net_->config().trained_on;
  return "dataset-net (classifier trained on " + (on.empty() ? std::string("its data set") : on) + ")";
}

}  // namespace diffmem::model
