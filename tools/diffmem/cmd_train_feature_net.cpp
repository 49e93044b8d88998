// `diffmem train-feature-net`: the data-set feature net (model/classifier.h) for `diffmem quality
// --feature-net` when Inception weights are not at hand.
#include <cmath>
#include <cstdio>
#include <memory>

#include "command.h"
#include "flags.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/data/dataset.h"
#include "diffmem/train/feature_net_train.h"

namespace {
using namespace diffmem;

struct Args {
  train::FeatureNetOptions opt;
  std::unique_ptr<cli::SetFlag> set;
  std::string data, out;
};

void run(Args& a) {
  cli::start();
  a.set->apply(a.opt);
  train::validate(a.opt, "train-feature-net options");
  const data::Dataset ds = data::load_dataset(a.data);
  const core::RunLock lock(a.out, "--out");
  const auto r = train::train_feature_net(ds, a.data, a.out, a.opt, cli::terminal_progress());
  if (r.already_done) std::printf("already trained (%s/train.json)\n", a.out.c_str());
  else if (r.start_epoch > 0) std::printf("resumed at epoch %lld\n", static_cast<long long>(r.start_epoch));
  std::printf("feature net: %lld classes, accuracy %.3f on %lld training images, ", static_cast<long long>(r.classes),
              r.train_accuracy, static_cast<long long>(r.train_images));
  if (std::isfinite(r.heldout_accuracy))
    std::printf("%.3f on %lld held-out images\n", r.heldout_accuracy, static_cast<long long>(r.heldout_images));
  else
    std::printf("no held-out images\n");
  std::printf("saved: %s (use as diffmem quality --feature-net %s)\n", a.out.c_str(), a.out.c_str());
}

}  // namespace

DIFFMEM_COMMAND(250) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "train-feature-net",
      "Train a small classifier on a data set's labels whose features give `diffmem quality` a Fréchet distance "
      "when Inception weights are not at hand (reported as FD in that net's space, never as FID)");
  cli::add_shared(sub, cli::flags::kData, a->data)->required();
  cli::add_shared(sub, cli::flags::kOut, a->out, "the feature net's folder")->required();
  sub->add_option("--epochs", a->opt.epochs, "Passes over the training share")->capture_default_str();
  cli::add_shared(sub, cli::flags::kBatch, a->opt.batch, "images per step")->capture_default_str();
  sub->add_option("--lr", a->opt.lr, "Adam's learning rate")->capture_default_str();
  sub->add_option("--width", a->opt.base_width, "Channels of the first convolution (features are 4x as many)")
      ->capture_default_str();
  sub->add_option("--holdout", a->opt.holdout, "Share of distinct images kept out to measure accuracy")
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kSeed, a->opt.seed)->capture_default_str();
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<train::FeatureNetOptions>());
  sub->callback([a] { run(*a); });
}
