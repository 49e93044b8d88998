// CLIPTextModel against transformers: random-weight encoders saved by save_pretrained
// (tests/reference/model/make_clip_text_reference.py), outputs to 1e-4.
#include "diffmem/model/clip_text.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "diffmem/core/error.h"
#include "model_test_util.h"

namespace diffmem::model {
namespace {
namespace fs = std::filesystem;

class ClipTextReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ClipTextReference, MatchesTransformers) {
  const fs::path dir = test::model_reference(GetParam());
  ClipTextModel m = load_clip_text_model(dir);
  auto ref = test::read_tensors(test::model_reference(GetParam() + "_io.safetensors"));
  torch::NoGradGuard no_grad;
  const ClipTextOutput out = m->forward(ref.at("input_ids"));
  ASSERT_EQ(out.hidden.sizes(), ref.at("last_hidden_state").sizes());
  EXPECT_LT(test::max_abs_diff(out.hidden, ref.at("last_hidden_state")), 1e-4);
  EXPECT_LT(test::max_abs_diff(out.pooled, ref.at("pooled")), 1e-4);
  const ClipTextOutput skip = m->forward(ref.at("input_ids"), 1);
  EXPECT_LT(test::max_abs_diff(skip.hidden, ref.at("skip1")), 1e-4);
  EXPECT_FALSE(skip.pooled.defined());
  // Not vacuous: the outputs differ from one another and between the two prompts.
  EXPECT_GT(test::max_abs_diff(out.hidden, skip.hidden), 1e-2);
  EXPECT_GT(test::max_abs_diff(out.hidden[0], out.hidden[1]), 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Sd, ClipTextReference, ::testing::Values("clip_text_sd1", "clip_text_sd2"));

TEST(ClipText, OlderTextModelPrefixedNamesLoadTheSame) {
  const fs::path dir = test::model_reference("clip_text_sd1");
  io::Safetensors file = io::read_safetensors(dir / "model.safetensors");
  io::Safetensors prefixed;
  for (auto& [name, a] : file.tensors) prefixed.tensors.emplace("text_model." + name, a);
  prefixed.tensors.emplace("text_model.embeddings.position_ids",
                           io::from_tensor(torch::arange(77).unsqueeze(0)));
  ClipTextModel a = load_clip_text_model(dir);
  ClipTextModel b(read_clip_text_config(dir / "config.json"));
  load_clip_text_weights(*b, prefixed, "prefixed");
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::tensor({{998, 5, 2}}, torch::kLong);
  EXPECT_TRUE(torch::equal(a->forward(ids).hidden, b->forward(ids).hidden));
}

TEST(ClipText, ParameterNamesAreTransformers) {
  ClipTextModel m(read_clip_text_config(test::model_reference("clip_text_sd1") / "config.json"));
  auto p = m->named_parameters();
  for (const char* name : {"embeddings.token_embedding.weight", "embeddings.position_embedding.weight",
                           "encoder.layers.2.self_attn.out_proj.bias", "encoder.layers.0.mlp.fc1.weight",
                           "encoder.layers.1.layer_norm2.weight", "final_layer_norm.bias"})
    EXPECT_TRUE(p.contains(name)) << name;
}

TEST(ClipText, BadFoldersAndInputsAreOneLineErrorsNamingTheProblem) {
  test::TempDir tmp;
  const fs::path src = test::model_reference("clip_text_sd1");
  // No weights, only a pickle.
  fs::create_directories(tmp / "pickle");
  fs::copy_file(src / "config.json", tmp / "pickle" / "config.json");
  test::write_bytes(tmp / "pickle" / "pytorch_model.bin", "PK");
  EXPECT_NE(test::error_of([&] { load_clip_text_model(tmp / "pickle"); }).find("pickled"),
            std::string::npos);
  // A wrongly shaped tensor: a config with a wider hidden size.
  fs::create_directories(tmp / "shape");
  io::Json c = io::read_json(src / "config.json");
  c["hidden_size"] = 64;
  io::write_json(tmp / "shape" / "config.json", c);
  fs::copy_file(src / "model.safetensors", tmp / "shape" / "model.safetensors");
  const std::string shape = test::error_of([&] { load_clip_text_model(tmp / "shape"); });
  EXPECT_NE(shape.find("model.safetensors"), std::string::npos) << shape;
  EXPECT_NE(shape.find("shape"), std::string::npos) << shape;
  // Unknown activation; a full CLIP config instead of a text one.
  c = io::read_json(src / "config.json");
  c["hidden_act"] = "relu";
  io::write_json(tmp / "act.json", c);
  EXPECT_NE(test::error_of([&] { read_clip_text_config(tmp / "act.json"); }).find("hidden_act"),
            std::string::npos);
  c["model_type"] = "clip";
  io::write_json(tmp / "full.json", c);
  EXPECT_NE(test::error_of([&] { read_clip_text_config(tmp / "full.json"); }).find("clip_text_model"),
            std::string::npos);
  // Ids out of the vocabulary, too long, wrong dtype.
  ClipTextModel m = load_clip_text_model(src);
  EXPECT_NE(test::error_of([&] { m->forward(torch::tensor({{1000}}, torch::kLong)); }).find("ids in 0..999"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { m->forward(torch::zeros({1, 78}, torch::kLong)); }).find("1..77"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { m->forward(torch::zeros({1, 5}, torch::kInt)); }).find("int64"),
            std::string::npos);
}

}  // namespace
}  // namespace diffmem::model
