#include "diffmem/attack/blackbox_run.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/data/generations.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/json.h"
#include "diffmem/io/tensor_bridge.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;

const char* kRunPython = "/usr/bin/python3";

std::map<std::string, std::map<std::string, std::string>> read_prompts_csv(const fs::path& p,
                                                                           std::vector<std::string>* order) {
  const auto rows = io::parse_csv(test::read_bytes(p), p.string());
  std::map<std::string, std::map<std::string, std::string>> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    std::map<std::string, std::string> m;
    for (size_t c = 0; c < rows[0].size(); ++c) m[rows[0][c]] = rows[r].at(c);
    if (order) order->push_back(m["id"]);
    out[m["id"]] = m;
  }
  return out;
}

// Prompts with "memorized" in them make near-copies of one image; the others, fresh images.
TEST(BlackboxRun, FakeGeneratorMemorizedPromptsAreFoundExactly) {
  if (!fs::exists(kRunPython)) GTEST_SKIP() << kRunPython << " is needed for the fake generator";
  test::TempDir dir;
  const std::string script = test::source_dir() + "/tests/attack/fake_generator.py";
  // A training image for m1: one more near-copy, made by the generator itself with another seed.
  fs::create_directories(dir / "train");
  ASSERT_EQ(test::run_shell(std::string(kRunPython) + " " + test::shell_quote(script) +
                            " --prompt 'a memorized, \"famous\" painting' --seed 999 --out " +
                            test::shell_quote((dir / "train" / "m1.png").string()))
                .exit_code,
            0);
  ASSERT_EQ(test::run_shell(std::string(kRunPython) + " " + test::shell_quote(script) +
                            " --prompt 'something else' --seed 1 --out " +
                            test::shell_quote((dir / "train" / "v1.png").string()))
                .exit_code,
            0);
  test::write_bytes(dir / "prompts.csv",
                    "id,prompt,train_image,duplicates\n"
                    "m1,\"a memorized, \"\"famous\"\" painting\",train/m1.png,120\n"
                    "v1,a varied landscape,train/v1.png,\n"
                    "m2,memorized logo; $(echo no),,40\n"
                    "v2,\"a cat\non two lines\",,\n"
                    "m3,another memorized thing,,\n"
                    "v3,varied portrait,,3\n");
  const std::vector<PromptEntry> prompts = read_prompts(dir / "prompts.csv");
  const fs::path images = dir / "out" / "generations";
  const auto tasks = generator_tasks(prompts, images, 12, 100);
  ASSERT_EQ(tasks.size(), 72u);
  EXPECT_EQ(tasks[13].out, images / "v1" / "000101.png");
  GeneratorOptions go;
  go.command = std::string(kRunPython) + " -S " + test::shell_quote(script) + " --prompt {prompt} --seed {seed} --out {out}";
  go.jobs = 2;
  const GeneratorRunResult gen = run_generator(tasks, go);
  ASSERT_EQ(gen.generated, 72) << (gen.failures.empty() ? "" : gen.failures[0]);

  BlackboxRunOptions ro;
  ro.analysis.min_clique = 10;
  ro.grid_members = 7;
  const BlackboxRunResult res = run_blackbox(groups_from_prompts(prompts, images), dir / "out", ro);
  EXPECT_EQ(res.flagged, 3);
  EXPECT_EQ(res.images, 72);
  EXPECT_EQ(res.within_delta, 1);

  std::vector<std::string> order;
  auto csv = read_prompts_csv(dir / "out" / "prompts.csv", &order);
  ASSERT_EQ(csv.size(), 6u);
  for (const char* id : {"m1", "m2", "m3"}) {
    EXPECT_EQ(csv[id]["flagged"], "1") << id;
    EXPECT_EQ(csv[id]["largest_clique"], "12") << id;
    EXPECT_LT(std::stod(csv[id]["mean_clique_distance"]), 0.05) << id;
  }
  for (const char* id : {"v1", "v2", "v3"}) {
    EXPECT_EQ(csv[id]["flagged"], "0") << id;
    EXPECT_EQ(csv[id]["largest_clique"], "1") << id;
    EXPECT_EQ(csv[id]["mean_clique_distance"], "") << id;
  }
  const std::set<std::string> top3(order.begin(), order.begin() + 3);
  EXPECT_EQ(top3, (std::set<std::string>{"m1", "m2", "m3"}));  // flagged first
  EXPECT_EQ(csv["m1"]["prompt"], "a memorized, \"famous\" painting");
  EXPECT_EQ(csv["v2"]["prompt"], "a cat\non two lines");
  EXPECT_EQ(csv["m1"]["within_delta"], "1");
  EXPECT_LT(std::stod(csv["m1"]["train_l2_to_medoid"]), 0.05);
  EXPECT_EQ(csv["v1"]["within_delta"], "0");
  EXPECT_GT(std::stod(csv["v1"]["train_l2_to_medoid"]), 0.15);
  EXPECT_EQ(csv["m2"]["within_delta"], "");
  EXPECT_EQ(csv["m1"]["duplicates"], "120");
  EXPECT_EQ(csv["m1"]["generations"], "12");

  // One PNG per flagged prompt: medoid + 7 members + the training image = 9 tiles, 8 per row.
  const io::HostArray grid = io::read_image(dir / "out" / csv["m1"]["grid_png"]);
  EXPECT_EQ(grid.shape, (std::vector<int64_t>{2 * 34 + 2, 8 * 34 + 2, 3}));
  EXPECT_TRUE(fs::exists(dir / "out" / csv["m2"]["grid_png"]));
  EXPECT_EQ(csv["v1"]["grid_png"], "");
  EXPECT_FALSE(fs::exists(dir / "out" / "flagged" / "v1.png"));

  const io::Json summary = io::read_json(dir / "out" / "summary.json");
  EXPECT_EQ(summary["flagged"], 3);
  EXPECT_EQ(summary["options"]["analysis"]["edge_threshold"], 0.15);
  EXPECT_EQ(summary["flagged_ids"].size(), 3u);

  // Rerun: nothing generated, nothing analysed again, the same table.
  const std::string before = test::read_bytes(dir / "out" / "prompts.csv");
  EXPECT_EQ(run_generator(tasks, go).skipped, 72);
  const BlackboxRunResult again = run_blackbox(groups_from_prompts(prompts, images), dir / "out", ro);
  EXPECT_EQ(again.reused, 6);
  EXPECT_EQ(test::read_bytes(dir / "out" / "prompts.csv"), before);
  // A changed option invalidates the cache.
  ro.analysis.min_clique = 13;
  const BlackboxRunResult strict = run_blackbox(groups_from_prompts(prompts, images), dir / "out", ro);
  EXPECT_EQ(strict.reused, 0);
  EXPECT_EQ(strict.flagged, 0);
}

TEST(BlackboxRun, FolderOfFoldersAndShardsAreGroups) {
  test::TempDir dir;
  torch::manual_seed(5);
  const torch::Tensor base = torch::randint(0, 256, {8, 8, 3}, torch::kLong).repeat_interleave(4, 0).repeat_interleave(4, 1);
  const torch::Tensor copies = (base.unsqueeze(0) + torch::randint(-4, 5, {11, 32, 32, 3}, torch::kLong)).clamp(0, 255).to(torch::kByte);
  const torch::Tensor varied = torch::randint(0, 256, {11, 8, 8, 3}, torch::kLong).repeat_interleave(4, 1).repeat_interleave(4, 2).to(torch::kByte);
  fs::create_directories(dir / "in" / "mem");
  fs::create_directories(dir / "in" / "var");
  fs::create_directories(dir / "in" / ".hidden");
  for (int64_t i = 0; i < 11; ++i) {
    io::write_png(dir / "in" / "mem" / ("img" + std::to_string(i) + ".png"), io::from_tensor(copies[i]));
    io::write_png(dir / "in" / "var" / ("img" + std::to_string(i) + ".png"), io::from_tensor(varied[i]));
  }
  const auto groups = groups_from_folder(dir / "in");
  ASSERT_EQ(groups.size(), 2u);
  BlackboxRunOptions ro;
  ro.analysis.size = 16;
  BlackboxRunResult r = run_blackbox(groups, dir / "out", ro);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].input.id, "mem");
  EXPECT_TRUE(r.rows[0].analysis.flagged);
  EXPECT_FALSE(r.rows[1].analysis.flagged);
  const io::HostArray grid = io::read_image(r.rows[0].grid_png);
  EXPECT_EQ(grid.shape[0], 2 * 18 + 2);  // 16-pixel tiles: the working size

  // The same images as diffmem generation shards (input 3's format).
  data::write_shard(dir / "shards", 0, io::from_tensor(torch::cat({varied, copies})), std::vector<int64_t>(22, 0));
  BlackboxGroupInput g;
  g.id = "model";
  g.shards = dir / "shards";
  ro.analysis.size = 0;
  ro.analysis.max_cliques = 0;
  r = run_blackbox({g}, dir / "out2", ro);
  ASSERT_EQ(r.rows.size(), 1u);
  ASSERT_EQ(r.rows[0].analysis.cliques.size(), 1u);
  EXPECT_EQ(r.rows[0].analysis.cliques[0].members.size(), 11u);
  EXPECT_EQ(r.rows[0].analysis.cliques[0].members.front(), 11);
  EXPECT_EQ(r.rows[0].labels.at(11), "#11");

  EXPECT_THROW(groups_from_folder(dir / "nothing"), Error);
}

}  // namespace
}  // namespace diffmem::attack
