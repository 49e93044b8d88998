// AuditOptions ↔ audit.json and the run layout (the pipeline itself runs in tests/e2e).
#include "diffmem/pipeline/audit.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/json.h"
#include "diffmem/model/classifier.h"
#include "diffmem/model/dcgan.h"
#include "diffmem/model/unet2d_config.h"
#include "test_support.h"

namespace diffmem::pipeline {
namespace {
namespace fs = std::filesystem;
using io::Json;

std::string error_of(const Json& j) {
  return test::error_of([&] { audit_options_from_json(j, "my/audit.json"); });
}

TEST(AuditOptions, DefaultsAreTheDemoSetting) {
  const AuditOptions o;
  EXPECT_EQ(o.train.preset, "small");
  EXPECT_EQ(o.train.steps, 3000);
  EXPECT_EQ(o.sample.sample.sampler, "ddim");
  EXPECT_EQ(o.sample.sample.steps, 50);
  EXPECT_EQ(o.builtin.duplicate_counts, (std::vector<int64_t>{1, 2, 4, 8, 16}));
  EXPECT_EQ(o.shadows, 0);
  EXPECT_EQ(audit_stages(), (std::vector<std::string>{"data", "train", "sample", "extract", "screen",
                                                       "blackbox", "mia", "inpaint", "quality", "report"}));
  EXPECT_FALSE(text_to_image(o));
  EXPECT_EQ(o.builtin.captions, "auto");
  EXPECT_EQ(o.text.per_prompt, 32);
  EXPECT_EQ(o.text.filter.analysis.min_clique, 8);
}

TEST(AuditOptions, JsonRoundTripAndPartialFiles) {
  AuditOptions o;
  o.data = "/d";
  o.seed = 9;
  o.builtin.n = 7;
  o.builtin.duplicate_counts = {3, 5};
  o.train.steps = 11;
  o.train.lr = 5e-4;
  o.shadows = 4;
  o.sample.n = 33;
  o.sample.sample.sampler = "ddpm";
  o.extract.delta = 0.2;
  o.extract.calibrated_threshold = 0.4;
  o.blackbox.analysis.min_clique = 6;
  o.mia.loss.t = 200;
  o.mia.lira_statistic = "raw";
  o.inpaint.attack.mask = "top";
  o.inpaint.attack.inpaint.steps = 7;
  o.inpaint.show = 3;
  const Json j = to_json(o);
  const AuditOptions back = audit_options_from_json(j, "x");
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(*back.extract.calibrated_threshold, 0.4);

  // A partial file changes only what it names.
  const AuditOptions p = audit_options_from_json({{"train", {{"steps", 12}}}, {"sample", {{"n", 5}}}}, "x");
  EXPECT_EQ(p.train.steps, 12);
  EXPECT_EQ(p.train.preset, "small");
  EXPECT_EQ(p.sample.n, 5);
  EXPECT_EQ(p.sample.sample.steps, 50);
  EXPECT_EQ(to_json(audit_options_from_json(Json::object(), "x")), to_json(AuditOptions()));
}

TEST(AuditOptions, TyposAndWrongTypesNameFileAndKey) {
  std::string e = error_of({{"train", {{"stpes", 10}}}});
  EXPECT_NE(e.find("my/audit.json"), std::string::npos) << e;
  EXPECT_NE(e.find("train.stpes"), std::string::npos) << e;
  e = error_of({{"shadow", 2}});
  EXPECT_NE(e.find("'shadow'"), std::string::npos) << e;
  e = error_of({{"sample", 5}});
  EXPECT_NE(e.find("sample"), std::string::npos) << e;
  e = error_of({{"shadows", "two"}});
  EXPECT_NE(e.find("my/audit.json"), std::string::npos) << e;
  e = error_of({{"shadows", -1}});
  EXPECT_NE(e.find("shadows"), std::string::npos) << e;
  e = error_of({{"mia", {{"lira_statistic", "odd"}}}});
  EXPECT_NE(e.find("lira_statistic"), std::string::npos) << e;
  EXPECT_NE(error_of(Json::array()), "");
}

TEST(AuditPaths, RunJsonIsRelativeInsideTheRun) {
  test::TempDir tmp;
  AuditOptions o;
  report::RunDir p = audit_run_dir(tmp / "run", o);
  EXPECT_EQ(p.data, tmp / "run" / "data");
  EXPECT_EQ(p.train_data, tmp / "run" / "train-data");
  Json j = report::to_json(p);
  EXPECT_EQ(j["data"], "data");
  EXPECT_EQ(j["model"], "model");
  EXPECT_EQ(j["report"], "report.html");

  // A given data set without members.npy is its own training set; a given model stays where it is.
  fs::create_directories(tmp / "mine");
  o.data = (tmp / "mine").string();
  o.model = (tmp / "m").string();
  p = audit_run_dir(tmp / "run", o);
  EXPECT_EQ(p.train_data, tmp / "mine");
  j = report::to_json(p);
  EXPECT_EQ(j["data"], (tmp / "mine").string());
  EXPECT_EQ(j["model"], (tmp / "m").string());
  test::write_bytes(tmp / "mine" / "members.npy", "x");
  EXPECT_EQ(audit_run_dir(tmp / "run", o).train_data, tmp / "run" / "train-data");
}

TEST(AuditOptions, TheRunSeedReachesEveryStageFromAFileAsFromAFlag) {
  const AuditOptions from_file = audit_options_from_json({{"seed", 7}}, "f.json");
  const AuditOptions from_flag = audit_options_from_json(Json::object(), "defaults", {{"seed", 7}});
  EXPECT_EQ(to_json(from_file), to_json(from_flag));
  for (const AuditOptions* o : {&from_file, &from_flag}) {
    EXPECT_EQ(o->train.seed, 7u);
    EXPECT_EQ(o->mia.loss.seed, 7u);
    EXPECT_EQ(o->inpaint.attack.seed, 7u);
  }
  // A stage's own seed in the file still overrides.
  const AuditOptions own = audit_options_from_json({{"seed", 7}, {"train", {{"seed", 3}}}}, "f.json");
  EXPECT_EQ(own.train.seed, 3u);
  EXPECT_EQ(own.mia.loss.seed, 7u);
  // A run's audit.json writes every seed out; a new --seed over it reaches every stage.
  const AuditOptions rerun = audit_options_from_json(to_json(from_file), "run/audit.json", {{"seed", 8}});
  EXPECT_EQ(rerun.train.seed, 8u);
  EXPECT_EQ(rerun.mia.loss.seed, 8u);
  EXPECT_EQ(rerun.inpaint.attack.seed, 8u);
  // ...but not one the file set apart from its run seed.
  const AuditOptions kept = audit_options_from_json(to_json(own), "run/audit.json", {{"seed", 8}});
  EXPECT_EQ(kept.train.seed, 3u);
  EXPECT_EQ(kept.mia.loss.seed, 8u);
}

TEST(AuditOptions, OneDeviceForTheRunNoneInsideTheStages) {
  const Json j = to_json(AuditOptions());
  EXPECT_TRUE(j.contains("device"));
  EXPECT_FALSE(j["train"].contains("device")) << j["train"].dump();
  EXPECT_FALSE(j["extract"].contains("device")) << j["extract"].dump();
  const std::string e = error_of({{"train", {{"device", "cuda"}}}});
  EXPECT_NE(e.find("train.device"), std::string::npos) << e;
}

TEST(AuditCheck, AModelForOtherImagesFailsBeforeAnyStage) {
  test::TempDir tmp;
  model::UNet2DConfig c = model::UNet2DConfig::preset("tiny");
  c.sample_size = 16;
  c.in_channels = c.out_channels = 3;
  fs::create_directories(tmp / "m");
  model::write_unet2d_config(tmp / "m" / "config.json", c);
  test::write_bytes(tmp / "m" / "diffusion_pytorch_model.safetensors", "");
  AuditOptions o;  // the built-in data: 28x28x1 Fashion-MNIST
  o.model = (tmp / "m").string();
  const std::string e = test::error_of([&] { run_audit(tmp / "run", o); });
  EXPECT_NE(e.find("--model"), std::string::npos) << e;
  EXPECT_NE(e.find("28x28x1"), std::string::npos) << e;
  EXPECT_NE(e.find("sample_size 16"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(tmp / "run" / "stages")) << "no stage may start";

  // A preset that cannot take the data's size fails as early.
  AuditOptions t;
  t.train.preset = "no-such-preset";
  EXPECT_NE(test::error_of([&] { check_audit(t); }).find("no-such-preset"), std::string::npos);
  EXPECT_NE(test::error_of([&] { check_audit(AuditOptions(), "trian"); }).find("--from"),
            std::string::npos);
}

TEST(AuditCheck, AGanAuditIsCheckedBeforeAnyStage) {
  test::TempDir tmp;
  model::DcganConfig c;  // a GAN for 32x32x3 images; the built-in data is 28x28x1
  c.height = c.width = 32;
  c.channels = 3;
  fs::create_directories(tmp / "gan");
  io::write_json(tmp / "gan" / "config.json", io::fields_json(c));
  AuditOptions o;
  o.target = "gan";
  o.model = (tmp / "gan").string();
  std::string e = test::error_of([&] { run_audit(tmp / "run", o); });
  EXPECT_NE(e.find("a GAN for the data's 28x28x1 images"), std::string::npos) << e;
  EXPECT_NE(e.find("32x32x3"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(tmp / "run" / "stages")) << "no stage may start";
  // A GAN folder audited as a diffusion model, a diffusion folder as a GAN, shadows for a GAN,
  // an unknown target, images the GAN cannot make.
  AuditOptions as_diffusion;
  as_diffusion.model = (tmp / "gan").string();
  EXPECT_NE(test::error_of([&] { check_audit(as_diffusion); }).find("--target gan"), std::string::npos);
  AuditOptions not_gan;
  not_gan.target = "gan";
  not_gan.model = tmp.path().string();
  EXPECT_NE(test::error_of([&] { check_audit(not_gan); }).find("no GAN config.json"), std::string::npos);
  AuditOptions shadows;
  shadows.target = "gan";
  shadows.shadows = 2;
  EXPECT_NE(test::error_of([&] { validate(shadows, "audit"); }).find("shadows"), std::string::npos);
  AuditOptions unknown;
  unknown.target = "vae";
  EXPECT_NE(test::error_of([&] { validate(unknown, "audit"); }).find("diffusion or gan"), std::string::npos);
  AuditOptions odd;
  odd.target = "gan";
  odd.builtin.source = "cifar10";
  EXPECT_NO_THROW(check_audit(odd));  // 32x32 is a multiple of 4
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {2, 30, 30, 1});
  ds.labels = {0, 0};
  ds.ids = {0, 1};
  ds.manifest = io::Json{{"shape", {2, 30, 30, 1}}, {"count", 2}};
  data::save_dataset(tmp / "d30", ds);
  odd.data = (tmp / "d30").string();
  e = test::error_of([&] { check_audit(odd); });
  EXPECT_NE(e.find("multiple of 4"), std::string::npos) << e;
}

TEST(AuditCheck, AFeatureNetForOtherImagesFailsBeforeAnyStage) {
  test::TempDir tmp;
  model::ClassifierConfig c;  // a net for 32x32x3 images; the built-in data is 28x28x1
  c.height = c.width = 32;
  c.channels = 3;
  fs::create_directories(tmp / "net");
  io::write_json(tmp / "net" / "config.json", io::fields_json(c));
  AuditOptions o;
  o.quality.features.feature_net = (tmp / "net").string();
  std::string e = test::error_of([&] { run_audit(tmp / "run", o); });
  EXPECT_NE(e.find("quality.features.feature_net"), std::string::npos) << e;
  EXPECT_NE(e.find("28x28x1"), std::string::npos) << e;
  EXPECT_NE(e.find("32x32x3"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(tmp / "run" / "stages")) << "no stage may start";
  // Two nets named, a weights file that is not there, a folder without config.json.
  o.quality.features.inception_weights = (tmp / "pt_inception.safetensors").string();
  e = test::error_of([&] { check_audit(o); });
  EXPECT_NE(e.find("one feature net"), std::string::npos) << e;
  o.quality.features.feature_net.clear();
  e = test::error_of([&] { check_audit(o); });
  EXPECT_NE(e.find("pt_inception.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("no such file"), std::string::npos) << e;
  AuditOptions empty_net;
  empty_net.quality.features.feature_net = tmp.path().string();
  e = test::error_of([&] { check_audit(empty_net); });
  EXPECT_NE(e.find("no config.json"), std::string::npos) << e;
  // The metrics' options are checked with the rest of audit.json.
  EXPECT_NE(error_of({{"quality", {{"metrics", {{"batch", 0}}}}}}).find("quality.metrics"), std::string::npos);
  EXPECT_NE(error_of({{"quality", {{"metrics", {{"kid", {{"subset_size", 1}}}}}}}}).find("subset_size"),
            std::string::npos);
}

fs::path tiny_pipeline() { return fs::path(test::source_dir()) / "tests/reference/model/sd_tiny_v1"; }

TEST(AuditText, APipelineFolderOrTextConditioningMakesATextToImageAudit) {
  AuditOptions o;
  o.train.conditioning = "text";
  EXPECT_TRUE(text_to_image(o));
  EXPECT_EQ(prompt_label(o), "planted");  // the prompts the audit writes from the captions
  o.prompts = "p.csv";
  EXPECT_EQ(prompt_label(o), "memorized");  // the public lists' column
  o.text.label = "mine";
  EXPECT_EQ(prompt_label(o), "mine");
  AuditOptions m;
  m.model = tiny_pipeline().string();
  EXPECT_TRUE(text_to_image(m));
  // The text options go through audit.json like every other.
  m.text.screen_top = 5;
  m.text.screen_threshold = 0.25;
  m.text.mia.t = 40;
  const AuditOptions back = audit_options_from_json(to_json(m), "x");
  EXPECT_EQ(to_json(back), to_json(m));
  EXPECT_EQ(*back.text.screen_threshold, 0.25);
  EXPECT_EQ(audit_options_from_json({{"seed", 4}}, "x").text.mia.seed, 4u);  // derives from the run seed
  EXPECT_NE(error_of({{"text", {{"screen_detector", "odd"}}}}).find("text.screen_detector"), std::string::npos);
  EXPECT_NE(error_of({{"text", {{"per_prompt", 0}}}}).find("text.per_prompt"), std::string::npos);
  EXPECT_NE(error_of({{"builtin", {{"captions", "some"}}}}).find("builtin.captions"), std::string::npos);
}

TEST(AuditText, WhatATextToImageAuditCannotDoFailsBeforeAnyStage) {
  test::TempDir tmp;
  auto refused = [&](const AuditOptions& o) {
    const std::string e = test::error_of([&] { run_audit(tmp / "run", o); });
    EXPECT_FALSE(fs::exists(tmp / "run" / "stages")) << "no stage may start: " << e;
    return e;
  };
  // Prompts for an unconditional model.
  AuditOptions pixel;
  pixel.prompts = (tmp / "p.csv").string();
  std::string e = refused(pixel);
  EXPECT_NE(e.find("--prompts"), std::string::npos) << e;
  EXPECT_NE(e.find("text-to-image"), std::string::npos) << e;
  // Shadows for a given pipeline (the audit trains shadows only beside a target of its own).
  AuditOptions given;
  given.model = tiny_pipeline().string();
  given.shadows = 2;
  e = refused(given);
  EXPECT_NE(e.find("--shadows"), std::string::npos) << e;
  // The built-in data without captions.
  AuditOptions t;
  t.train.conditioning = "text";
  t.builtin.captions = "none";
  EXPECT_NE(refused(t).find("builtin.captions"), std::string::npos);
  // A data set without captions.jsonl.
  fs::create_directories(tmp / "d");
  test::write_bytes(tmp / "d" / "manifest.json", R"({"shape": [4, 32, 32, 3], "count": 4})");
  AuditOptions m;
  m.model = tiny_pipeline().string();
  m.data = (tmp / "d").string();
  e = refused(m);
  EXPECT_NE(e.find("captions.jsonl"), std::string::npos) << e;
  // A prompts file without a prompt column names the file.
  test::write_bytes(tmp / "d" / "captions.jsonl", "");
  test::write_bytes(tmp / "bad.csv", "id,text\n1,a cat\n");
  m.prompts = (tmp / "bad.csv").string();
  e = refused(m);
  EXPECT_NE(e.find("bad.csv"), std::string::npos) << e;
  // A pipeline for other images than the data's (the built-in 28x28x1 Fashion-MNIST).
  AuditOptions other;
  other.model = tiny_pipeline().string();
  e = refused(other);
  EXPECT_NE(e.find("28x28x1"), std::string::npos) << e;
  EXPECT_NE(e.find("--model"), std::string::npos) << e;
}

}  // namespace
}  // namespace diffmem::pipeline
