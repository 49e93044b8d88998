// Text-to-image training: a pipeline folder SdPipeline opens and samples, kill-and-resume gives
// the same bytes, shadow models share one vocabulary, captions are required, fine-tuning starts
// from the folder's weights; the learned tokenizer round-trips through its files.
#include "diffmem/train/text_to_image.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/io/json.h"
#include "diffmem/model/clip_tokenizer.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

// 8 random 8x8 grey images with captions.
data::Dataset captioned(int64_t n = 8) {
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, 8, 8, 1});
  core::Rng rng(3);
  for (auto& b : ds.images.bytes) b = static_cast<uint8_t>(rng.below(256));
  ds.captions.emplace();
  const char* things[] = {"cat", "dog", "owl", "fox"};
  for (int64_t i = 0; i < n; ++i) {
    ds.labels.push_back(i % 4);
    ds.ids.push_back(i);
    ds.captions->push_back(std::string("a small ") + things[i % 4] + " number " + std::to_string(i));
  }
  return ds;
}

train::TrainOptions options(int64_t steps) {
  train::TrainOptions o;
  o.conditioning = "text";
  o.preset = "tiny";
  o.steps = steps;
  o.batch = 4;
  o.warmup_steps = 2;
  o.checkpoint_every = 3;
  o.seed = 7;
  o.num_train_timesteps = 100;
  return o;
}

}  // namespace

TEST(TextToImageTrain, WritesAPipelineFolderThatSamples) {
  test::TempDir dir;
  const auto ds = captioned();
  const auto r = train::train_model(ds, {}, {}, dir / "m", options(4));
  EXPECT_EQ(r.steps_done, 4);
  EXPECT_GT(r.final_loss, 0.0);
  EXPECT_GT(r.parameters, 0);
  for (const char* f : {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                        "text_encoder/config.json", "text_encoder/model.safetensors", "tokenizer/vocab.json",
                        "tokenizer/merges.txt", "scheduler/scheduler_config.json", "train_options.json",
                        "training_state.safetensors"})
    EXPECT_TRUE(fs::exists(dir / "m" / f)) << f;
  const io::Json index = io::read_json(dir / "m" / "model_index.json");
  EXPECT_TRUE(index.at("vae")[0].is_null());  // pixel space
  EXPECT_EQ(index.at("scheduler")[1], "DDIMScheduler");
  // Off, as diffusers' StableDiffusionPipeline forces it on loading.
  EXPECT_EQ(io::read_json(dir / "m" / "scheduler" / "scheduler_config.json").at("clip_sample"), false);

  const auto pipe = diffusion::SdPipeline::load(dir / "m");
  diffusion::SdPipelineOptions so;
  so.steps = 5;
  so.guidance_scale = 3;
  const torch::Tensor images = pipe.generate({"a small cat number 0", "a small dog number 1"}, {1, 2}, so);
  EXPECT_EQ(images.sizes(), (std::vector<int64_t>{2, 8, 8, 1}));
  EXPECT_EQ(images.scalar_type(), torch::kUInt8);
  // The learned vocabulary makes each caption word one token.
  EXPECT_EQ(model::ClipTokenizer::from_folder(dir / "m" / "tokenizer").tokenize("a small cat number 0").size(), 5u);
}

TEST(TextToImageTrain, KilledAndResumedEqualsUninterrupted) {
  test::TempDir dir;
  const auto ds = captioned();
  const auto full = train::train_model(ds, {}, {}, dir / "full", options(6));
  train::train_model(ds, {}, {}, dir / "split", options(3));
  const auto r = train::train_model(ds, {}, {}, dir / "split", options(6));
  EXPECT_EQ(r.start_step, 3);
  EXPECT_EQ(r.final_loss, full.final_loss);
  for (const char* f : {"unet/diffusion_pytorch_model.safetensors", "training_state.safetensors",
                        "text_encoder/model.safetensors", "tokenizer/vocab.json"})
    EXPECT_EQ(test::read_bytes(dir / "full" / f), test::read_bytes(dir / "split" / f)) << f;
  EXPECT_TRUE(train::train_model(ds, {}, {}, dir / "split", options(6)).already_done);
  auto other = options(6);
  other.text.caption_dropout = 0.5;
  EXPECT_THROW(train::train_model(ds, {}, {}, dir / "split", other), Error);
}

TEST(TextToImageTrain, ShadowModelsOnHalvesShareTheVocabulary) {
  test::TempDir dir;
  const auto ds = captioned();
  train::ManyOptions many;
  many.models = 2;
  const auto rs = train::train_many(ds, dir.path(), options(1), many);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(test::read_bytes(dir / "model-000" / "tokenizer" / "vocab.json"),
            test::read_bytes(dir / "model-001" / "tokenizer" / "vocab.json"));
  EXPECT_NE(test::read_bytes(dir / "model-000" / "unet" / "diffusion_pytorch_model.safetensors"),
            test::read_bytes(dir / "model-001" / "unet" / "diffusion_pytorch_model.safetensors"));
  const auto m0 = data::load_members(dir / "model-000", ds.size());
  ASSERT_TRUE(m0.has_value());
  EXPECT_EQ(std::count(m0->begin(), m0->end(), true), ds.size() / 2);
}

TEST(TextToImageTrain, FineTuningStartsFromTheFolder) {
  test::TempDir dir;
  const auto ds = captioned();
  train::train_model(ds, {}, {}, dir / "base", options(3));
  auto o = options(2);
  o.text.init = (dir / "base").string();
  o.seed = 8;
  const auto r = train::train_model(ds, {}, {}, dir / "tuned", o);
  EXPECT_EQ(r.steps_done, 2);
  // The tokenizer and the frozen text encoder come over unchanged; the U-Net trained on.
  EXPECT_EQ(test::read_bytes(dir / "base" / "tokenizer" / "vocab.json"),
            test::read_bytes(dir / "tuned" / "tokenizer" / "vocab.json"));
  EXPECT_EQ(test::read_bytes(dir / "base" / "text_encoder" / "model.safetensors"),
            test::read_bytes(dir / "tuned" / "text_encoder" / "model.safetensors"));
  EXPECT_NE(test::read_bytes(dir / "base" / "unet" / "diffusion_pytorch_model.safetensors"),
            test::read_bytes(dir / "tuned" / "unet" / "diffusion_pytorch_model.safetensors"));
  diffusion::SdPipeline::load(dir / "tuned");
}

TEST(TextToImageTrain, FineTunesAStableDiffusionFolderInLatentSpace) {
  test::TempDir dir;
  // The tiny SD-1.x pipeline: 32x32x3 images, a VAE of scale 4, PNDM.
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {4, 32, 32, 3});
  core::Rng rng(4);
  for (auto& b : ds.images.bytes) b = static_cast<uint8_t>(rng.below(256));
  ds.captions = std::vector<std::string>{"a red square", "a blue circle", "a cat", "a dog"};
  for (int64_t i = 0; i < 4; ++i) {
    ds.labels.push_back(-1);
    ds.ids.push_back(i);
  }
  const std::string sd = test::source_dir() + "/tests/reference/model/sd_tiny_v1";
  auto o = options(2);
  o.text.init = sd;
  train::train_model(ds, {}, {}, dir / "tuned", o);
  for (const char* f : {"scheduler/scheduler_config.json", "vae/diffusion_pytorch_model.safetensors",
                        "tokenizer/vocab.json", "text_encoder/model.safetensors"})
    EXPECT_EQ(test::read_bytes(dir / "tuned" / f), test::read_bytes(fs::path(sd) / f)) << f;
  const auto pipe = diffusion::SdPipeline::load(dir / "tuned");
  diffusion::SdPipelineOptions so;
  so.steps = 3;
  EXPECT_EQ(pipe.generate({"a cat"}, {0}, so).sizes(), (std::vector<int64_t>{1, 32, 32, 3}));
  // Images that do not fit the folder's U-Net are refused before any step.
  ds.images = io::HostArray::zeros(io::DType::kU8, {4, 16, 16, 3});
  const std::string m = test::error_of([&] { train::train_model(ds, {}, {}, dir / "bad", o); });
  EXPECT_NE(m.find("16x16x3"), std::string::npos) << m;
}

TEST(TextToImageTrain, BadInputsAreOneLineErrors) {
  test::TempDir dir;
  auto ds = captioned();
  ds.captions.reset();
  std::string m = test::error_of([&] { train::train_model(ds, {}, {}, dir / "a", options(1)); });
  EXPECT_NE(m.find("captions"), std::string::npos) << m;
  ds = captioned();
  auto o = options(1);
  o.preset = "huge";
  m = test::error_of([&] { train::train_model(ds, {}, {}, dir / "b", o); });
  EXPECT_NE(m.find("tiny, small"), std::string::npos) << m;
  o = options(1);
  o.text.init = (dir / "nothing").string();
  m = test::error_of([&] { train::train_model(ds, {}, {}, dir / "c", o); });
  EXPECT_NE(m.find("--init"), std::string::npos) << m;
  o = options(1);
  o.text.caption_dropout = 1.5;
  m = test::error_of([&] { train::train_model(ds, {}, {}, dir / "d", o); });
  EXPECT_NE(m.find("--caption-dropout"), std::string::npos) << m;
  o = options(1);
  o.conditioning = "class";
  m = test::error_of([&] { train::train_model(ds, {}, {}, dir / "e", o); });
  EXPECT_NE(m.find("conditioning"), std::string::npos) << m;
}

TEST(CaptionTokenizer, LearnedVocabularyRoundTripsThroughItsFiles) {
  test::TempDir dir;
  const std::vector<std::string> texts = {"a striped coat, on a hanger", "a plain coat", "Ünïcode café <b>x</b>"};
  const auto tok = model::ClipTokenizer::train(texts);
  tok.write_folder(dir / "tok");
  const auto back = model::ClipTokenizer::from_folder(dir / "tok");
  EXPECT_EQ(back.vocab_size(), tok.vocab_size());
  for (const std::string& t : texts) EXPECT_EQ(back.encode_padded(t), tok.encode_padded(t)) << t;
  EXPECT_EQ(tok.tokenize("a striped coat, on a hanger"),
            (std::vector<std::string>{"a</w>", "striped</w>", "coat</w>", ",</w>", "on</w>", "a</w>", "hanger</w>"}));
  EXPECT_EQ(tok.decode(tok.encode("a plain coat")), "a plain coat");
  EXPECT_EQ(tok.eos_id(), tok.vocab_size() - 1);
  EXPECT_EQ(tok.pad_id(), tok.eos_id());
  // Unseen words fall back to byte symbols; no merges at all leaves the 512 bytes and 2 specials.
  EXPECT_GT(tok.tokenize("zebra").size(), 1u);
  EXPECT_EQ(model::ClipTokenizer::train(texts, 0).vocab_size(), 514);
}
