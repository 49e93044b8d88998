// The data-set feature net: it learns the classes, resumes after a stop with the same bytes, and
// refuses data it cannot learn from.
#include "diffmem/train/feature_net_train.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/io/json.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/classifier.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

// Two classes of noisy 8×8 grey images: class 0 bright on top, class 1 bright below.
data::Dataset two_classes(int64_t n = 96) {
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, 8, 8, 1});
  core::Rng rng(3);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 2;
    for (int64_t y = 0; y < 8; ++y)
      for (int64_t x = 0; x < 8; ++x) {
        const bool bright = (y < 4) == (label == 0);
        ds.images.bytes[static_cast<size_t>(i * 64 + y * 8 + x)] =
            static_cast<uint8_t>((bright ? 150 : 40) + rng.below(60));
      }
    ds.labels.push_back(label);
    ds.ids.push_back(i);
  }
  return ds;
}

train::FeatureNetOptions small() {
  train::FeatureNetOptions o;
  o.epochs = 12;
  o.batch = 16;
  o.lr = 1e-2;
  o.base_width = 4;
  o.holdout = 0.25;
  o.seed = 11;
  return o;
}

TEST(FeatureNetTrain, LearnsTheClassesAndLoadsAsAFeatureNet) {
  test::TempDir tmp;
  const data::Dataset ds = two_classes();
  const auto r = train::train_feature_net(ds, "two-classes", tmp / "net", small());
  EXPECT_EQ(r.classes, 2);
  EXPECT_EQ(r.heldout_images, 24);  // a quarter of 96 distinct ids
  EXPECT_EQ(r.train_images, 72);
  EXPECT_GE(r.heldout_accuracy, 0.9);
  EXPECT_TRUE(fs::exists(tmp / "net" / "train.json"));
  EXPECT_FALSE(fs::exists(tmp / "net" / "checkpoint.safetensors")) << "removed once finished";
  model::ClassifierFeatures f(tmp / "net");
  EXPECT_EQ(f.dim(), 16);
  EXPECT_FALSE(f.is_inception());
  EXPECT_NE(f.name().find("two-classes"), std::string::npos);
  const torch::Tensor feats = f.features(io::to_tensor(ds.images).slice(0, 0, 10));
  ASSERT_EQ(feats.sizes(), (std::vector<int64_t>{10, 16}));
  EXPECT_GT(feats.std().item<double>(), 0.0);
  // Images of another size are refused, naming the net's folder.
  EXPECT_NE(test::error_of([&] { f.features(torch::zeros({2, 9, 8, 1}, torch::kUInt8)); }).find("[N,8,8,1]"),
            std::string::npos);
  // A finished folder is left alone; other options there are refused.
  EXPECT_TRUE(train::train_feature_net(ds, "two-classes", tmp / "net", small()).already_done);
  auto other = small();
  other.lr = 2e-2;
  EXPECT_NE(test::error_of([&] { train::train_feature_net(ds, "two-classes", tmp / "net", other); })
                .find("train.json: expected a feature net trained with the options given"),
            std::string::npos);
}

TEST(FeatureNetTrain, StoppedAfterAnEpochAndResumedEqualsUnbroken) {
  test::TempDir tmp;
  const data::Dataset ds = two_classes();
  train::train_feature_net(ds, "d", tmp / "full", small());
  struct Stop {};
  EXPECT_THROW(train::train_feature_net(ds, "d", tmp / "split", small(),
                                        [](const ProgressEvent& ev) {
                                          if (ev.detail.rfind("epoch 1/12 done", 0) == 0) throw Stop{};
                                        }),
               Stop);
  ASSERT_TRUE(fs::exists(tmp / "split" / "checkpoint.safetensors"));
  const auto r = train::train_feature_net(ds, "d", tmp / "split", small());
  EXPECT_EQ(r.start_epoch, 1);
  EXPECT_EQ(test::read_bytes(tmp / "full" / "model.safetensors"), test::read_bytes(tmp / "split" / "model.safetensors"));
}

TEST(FeatureNetTrain, UnlabelledDataAndBadOptionsAreOneLineErrors) {
  test::TempDir tmp;
  data::Dataset ds = two_classes(8);
  for (auto& l : ds.labels) l = -1;
  EXPECT_NE(test::error_of([&] { train::train_feature_net(ds, "folder-x", tmp / "a", small()); }).find("folder-x"),
            std::string::npos);
  for (auto& l : ds.labels) l = 0;
  EXPECT_NE(test::error_of([&] { train::train_feature_net(ds, "folder-x", tmp / "a", small()); }).find("2 classes"),
            std::string::npos);
  auto o = small();
  o.holdout = 0.9;
  EXPECT_NE(test::error_of([&] { train::train_feature_net(two_classes(8), "d", tmp / "b", o); }).find("holdout"),
            std::string::npos);
}

}  // namespace
