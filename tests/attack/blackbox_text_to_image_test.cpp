// Native generate-and-filter on the tiny SD-1.x pipeline: the streamed groups give exactly what the
// PNG path gives on the same generations, any batch; a rerun generates nothing; the screen in
// front generates only its top prompts and the cost adds up; labels give precision and recall;
// bad prompt files and options fail before the model loads.
#include "diffmem/attack/blackbox_text_to_image.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>

#include "diffmem/attack/blackbox.h"
#include "diffmem/core/error.h"
#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/json.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;

std::string tiny_model() { return test::source_dir() + "/tests/reference/model/sd_tiny_v1"; }

const char* kPrompts =
    "id,prompt,memorized,duplicates\n"
    "cat,\"a cat, on a mat\",1,8\n"
    "owl,an owl; rm -rf /,0,1\n"
    "sea,a lighthouse at dusk,1,4\n"
    "car,<b>a red car</b>,0,1\n"
    "dog,a dog,0,1\n";

TextToImageBlackboxOptions base_options(const fs::path& prompts) {
  TextToImageBlackboxOptions o;
  o.model = tiny_model();
  o.prompts = prompts.string();
  o.per_prompt = 6;
  o.seed = 11;
  o.pipeline.steps = 4;
  o.pipeline.batch = 8;
  o.run.analysis.min_clique = 3;
  return o;
}

std::map<std::string, io::Json> groups_by_id(const fs::path& out) {
  std::map<std::string, io::Json> m;
  for (const auto& e : fs::directory_iterator(out / "groups")) {
    const io::Json j = io::read_json(e.path());
    m[j.at("id").get<std::string>()] = j.at("analysis");
  }
  return m;
}

// A threshold that connects some pairs of a group and not others: the median of prompt 0's
// distances.
double median_distance(const TextToImageBlackboxOptions& o) {
  const auto pipe = diffusion::SdPipeline::load(o.model);
  std::vector<std::string> prompts(static_cast<size_t>(o.per_prompt), "a cat, on a mat");
  std::vector<uint64_t> seeds;
  for (int64_t j = 0; j < o.per_prompt; ++j) seeds.push_back(o.seed + static_cast<uint64_t>(j));
  const torch::Tensor d = group_distances(pipe.generate(prompts, seeds, o.pipeline), o.run.analysis);
  const torch::Tensor upper = d.masked_select(torch::ones_like(d, torch::kBool).triu(1));
  return upper.median().item<double>();
}

TEST(BlackboxTextToImage, StreamedGroupsMatchThePngPathAndResume) {
  test::TempDir dir;
  test::write_bytes(dir / "p.csv", kPrompts);
  TextToImageBlackboxOptions o = base_options(dir / "p.csv");
  o.run.analysis.edge_threshold = median_distance(o);
  const auto r = run_blackbox_text_to_image(o, dir / "streamed");
  ASSERT_EQ(r.selected, 5);
  EXPECT_EQ(r.run.images, 5 * 6);
  // PNDM with 4 steps calls the U-Net 5 times, twice the latents with guidance.
  EXPECT_EQ(r.generation_unet_images, 5 * 6 * 5 * 2);
  EXPECT_EQ(r.summary.at("generator").at("images"), 30);
  EXPECT_EQ(r.summary.at("generator").at("calls"), 3);  // batches of 8 images span two 6-image prompts

  // The same generations written as PNGs (generation j of row i from seed + 6i + j) and filtered
  // from the folders: the same groups, edge for edge.
  const auto pipe = diffusion::SdPipeline::load(o.model);
  const auto entries = read_prompts(dir / "p.csv");
  for (size_t i = 0; i < entries.size(); ++i) {
    std::vector<std::string> prompts(6, entries[i].prompt);
    std::vector<uint64_t> seeds;
    for (uint64_t j = 0; j < 6; ++j) seeds.push_back(11 + 6 * i + j);
    o.pipeline.batch = 1;  // batches of one image: the streamed run used 8, spanning prompts
    const torch::Tensor images = pipe.generate(prompts, seeds, o.pipeline);
    for (int64_t j = 0; j < 6; ++j)
      io::write_png(dir / "png" / group_folder_name(entries[i].id) / ("img" + std::to_string(j) + ".png"),
                    io::from_tensor(images[j].contiguous()));
  }
  run_blackbox(groups_from_prompts(entries, dir / "png"), dir / "files", o.run);
  const auto streamed = groups_by_id(dir / "streamed"), files = groups_by_id(dir / "files");
  ASSERT_EQ(streamed.size(), 5u);
  int64_t edges = 0;
  for (const auto& [id, a] : streamed) {
    SCOPED_TRACE(id);
    const io::Json& b = files.at(id);
    EXPECT_EQ(a.at("edges"), b.at("edges"));
    EXPECT_EQ(a.at("flagged"), b.at("flagged"));
    ASSERT_EQ(a.at("cliques").size(), b.at("cliques").size());
    EXPECT_EQ(a.at("cliques")[0].at("members"), b.at("cliques")[0].at("members"));
    if (a.at("cliques")[0].at("mean_distance").is_number()) {
      EXPECT_NEAR(a.at("cliques")[0].at("mean_distance").get<double>(),
                  b.at("cliques")[0].at("mean_distance").get<double>(), 1e-6);
    }
    edges += a.at("edges").get<int64_t>();
  }
  EXPECT_GT(edges, 0);       // the threshold connects some pairs ...
  EXPECT_LT(edges, 5 * 15);  // ... and not all

  // A rerun generates nothing and writes the same table.
  const std::string table = test::read_bytes(dir / "streamed" / "prompts.csv");
  const auto again = run_blackbox_text_to_image(o, dir / "streamed");
  EXPECT_EQ(again.generation_unet_images, 0);
  EXPECT_EQ(again.run.reused, 5);
  EXPECT_EQ(test::read_bytes(dir / "streamed" / "prompts.csv"), table);
}

TEST(BlackboxTextToImage, FlaggedGroupsKeepTheirCliqueAndLabelsGivePrecisionAndRecall) {
  test::TempDir dir;
  test::write_bytes(dir / "p.csv", kPrompts);
  TextToImageBlackboxOptions o = base_options(dir / "p.csv");
  o.run.analysis.edge_threshold = 10;  // every pair connected: every prompt flagged
  const auto r = run_blackbox_text_to_image(o, dir / "o");
  EXPECT_EQ(r.run.flagged, 5);
  const io::Json& e = r.summary.at("extraction");
  EXPECT_EQ(e.at("memorized"), 2);
  EXPECT_EQ(e.at("flagged"), 5);
  EXPECT_DOUBLE_EQ(e.at("precision").get<double>(), 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(e.at("recall").get<double>(), 1.0);
  ASSERT_EQ(e.at("by_duplicates").size(), 3u);  // counts 1, 4, 8
  EXPECT_EQ(e.at("by_duplicates")[0].at("duplicates"), 1);
  EXPECT_EQ(e.at("by_duplicates")[0].at("prompts"), 3);
  const io::HostArray clique = io::read_npy(dir / "o" / "flagged" / "cat.npy");
  EXPECT_EQ(clique.shape, (std::vector<int64_t>{6, 32, 32, 3}));
  EXPECT_TRUE(fs::exists(dir / "o" / "flagged" / "cat.png"));
  const auto rows = io::parse_csv(test::read_bytes(dir / "o" / "prompts.csv"), "prompts.csv");
  EXPECT_EQ(rows[1][7].rfind("seed ", 0), 0u);  // the medoid named by the seed that made it

  // With training images and a delta that takes any medoid: two flagged prompts "extracted".
  io::write_png(dir / "t.png", io::HostArray::zeros(io::DType::kU8, {32, 32, 3}));
  test::write_bytes(dir / "q.csv", "id,prompt,train_image\na,a cat,t.png\nb,an owl,t.png\nc,a car,\n");
  TextToImageBlackboxOptions q = base_options(dir / "q.csv");
  q.run.analysis.edge_threshold = 10;
  q.run.analysis.delta = 10;
  const io::Json x = run_blackbox_text_to_image(q, dir / "x").summary.at("extraction");
  EXPECT_EQ(x.at("with_train_image"), 2);
  EXPECT_EQ(x.at("extracted"), 2);
  EXPECT_EQ(x.at("flagged"), 3);
  EXPECT_FALSE(x.contains("precision"));  // no labels

  // A lost clique file: only that group is made again.
  fs::remove(dir / "o" / "flagged" / "owl.npy");
  const auto again = run_blackbox_text_to_image(o, dir / "o");
  EXPECT_EQ(again.summary.at("generator").at("groups_generated"), 1);
  EXPECT_TRUE(fs::exists(dir / "o" / "flagged" / "owl.npy"));
}

TEST(BlackboxTextToImage, TheScreenPicksWhatIsGeneratedAndTheCostAddsUp) {
  test::TempDir dir;
  test::write_bytes(dir / "p.csv", kPrompts);
  TextToImageBlackboxOptions o = base_options(dir / "p.csv");
  o.screen_top = 2;
  o.screen_per_prompt = 2;
  o.probe.first_steps = 1;
  o.probe.low_from_end = 2;
  const auto r = run_blackbox_text_to_image(o, dir / "o");
  EXPECT_EQ(r.selected, 2);
  EXPECT_EQ(r.run.rows.size(), 2u);
  // The two highest wen scores of the screen's table are the two prompts generated.
  const auto screen = io::parse_csv(test::read_bytes(dir / "o" / "screen" / "screen.csv"), "screen.csv");
  std::set<std::string> top{screen[1][3], screen[2][3]}, generated;
  for (const auto& row : r.run.rows) generated.insert(row.input.prompt);
  EXPECT_EQ(generated, top);
  // Screen: 5 prompts x 2 seeds x (1 first step + 1 low-noise pass) x 2 latents per guided call.
  EXPECT_EQ(r.screen_unet_images, 5 * 2 * 2 * 2);
  EXPECT_EQ(r.generation_unet_images, 2 * 6 * 5 * 2);
  EXPECT_EQ(r.unscreened_unet_images, 5 * 6 * 5 * 2);
  const io::Json& cost = r.summary.at("cost");
  EXPECT_EQ(cost.at("unet_images_from_scratch"), 40 + 120);
  EXPECT_DOUBLE_EQ(cost.at("saving").get<double>(), 300.0 / 160.0);
  EXPECT_EQ(r.summary.at("screen").at("selected"), 2);
  EXPECT_TRUE(r.summary.at("screen").at("detectors").at("wen").is_object());  // labels: an ROC summary

  // A threshold above every score generates nothing.
  o.screen_top = 0;
  o.screen_threshold = 1e9;
  const auto none = run_blackbox_text_to_image(o, dir / "t");
  EXPECT_EQ(none.selected, 0);
  EXPECT_EQ(none.generation_unet_images, 0);
  EXPECT_DOUBLE_EQ(none.summary.at("extraction").at("recall").get<double>(), 0.0);
}

TEST(BlackboxTextToImage, BadInputFailsBeforeTheModelLoads) {
  test::TempDir dir;
  auto error = [&](const std::string& file, const std::string& text, const std::function<void(TextToImageBlackboxOptions&)>& edit = {}) {
    test::write_bytes(dir / file, text);
    TextToImageBlackboxOptions o = base_options(dir / file);
    o.model = (dir / "no-such-model").string();  // never reached
    if (edit) edit(o);
    return test::error_of([&] { run_blackbox_text_to_image(o, dir / "o"); });
  };
  std::string m = error("noprompt.csv", "id,text\n1,a\n");
  EXPECT_NE(m.find("noprompt.csv"), std::string::npos) << m;
  EXPECT_NE(m.find("prompt"), std::string::npos) << m;
  m = error("label.csv", "prompt,memorized\na,1\nb,yes\n");
  EXPECT_NE(m.find("label.csv: record 2: memorized"), std::string::npos) << m;
  m = error("empty.csv", "prompt\n");
  EXPECT_NE(m.find("empty.csv"), std::string::npos) << m;
  m = error("ok.csv", "prompt\na\n", [](auto& o) {
    o.screen_top = 1;
    o.screen_detector = "anisotropy";
    o.probe.low_from_end = 0;
  });
  EXPECT_NE(m.find("--screen-detector"), std::string::npos) << m;
  m = error("ok.csv", "prompt\na\n", [](auto& o) {
    o.screen_top = 1;
    o.pipeline.guidance_scale = 1;
  });
  EXPECT_NE(m.find("--guidance"), std::string::npos) << m;
  m = error("ok.csv", "prompt\na\n");
  EXPECT_NE(m.find("no-such-model"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(dir / "o"));
}

}  // namespace
}  // namespace diffmem::attack
