// `diffmem sample` on a Stable Diffusion pipeline folder (the tiny one diffusers wrote with
// save_pretrained): per-prompt images in shards with each image's prompt index, the same images
// whatever the shard split, resume, and a folder with other prompts refused.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using test::shell_quote;

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SampleTextToImage, ShardsPromptIndexResumeAndRefusal) {
  test::TempDir tmp;
  const std::string model = test::source_dir() + "/tests/reference/model/sd_tiny_v1";
  const std::string common = "sample --model " + shell_quote(model) +
                             " --prompt 'a photo of a cat' --prompt 'an owl; rm -rf /' --per-prompt 2"
                             " --steps 3 --size 32 --seed 5 --guidance 3 --batch 1";
  auto r = test::run_diffmem(common + " --shard-size 3 --out " + shell_quote((tmp / "a").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"images-00000.npy", "images-00001.npy", "seeds-00001.npy", "prompt-00000.npy",
                        "prompt-00001.npy", "prompts.jsonl", "manifest.json", "preview.png"})
    EXPECT_TRUE(fs::exists(tmp / "a" / f)) << f;
  EXPECT_EQ(bytes_of(tmp / "a" / "prompts.jsonl"),
            "{\"prompt\":\"a photo of a cat\"}\n{\"prompt\":\"an owl; rm -rf /\"}\n");
  // Prompt indices 0,0,1 | 1 (npy payload: the last 8 bytes per entry, little-endian i64).
  const std::string p0 = bytes_of(tmp / "a" / "prompt-00000.npy");
  ASSERT_GE(p0.size(), 24u);
  EXPECT_EQ(p0[p0.size() - 8], 1);
  EXPECT_EQ(p0[p0.size() - 16], 0);
  // One shard of four: the same images.
  r = test::run_diffmem(common + " --shard-size 4 --out " + shell_quote((tmp / "b").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string a0 = bytes_of(tmp / "a" / "images-00000.npy"), b0 = bytes_of(tmp / "b" / "images-00000.npy");
  const size_t header = a0.size() - 3 * 32 * 32 * 3;
  ASSERT_GT(b0.size(), header);
  EXPECT_EQ(a0.substr(header), b0.substr(b0.size() - 4 * 32 * 32 * 3, 3 * 32 * 32 * 3));
  // Rerun: nothing new; other prompts into the same folder: refused.
  r = test::run_diffmem(common + " --shard-size 3 --out " + shell_quote((tmp / "a").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("in 0 new shards"), std::string::npos) << r.output;
  r = test::run_diffmem("sample --model " + shell_quote(model) + " --prompt other --steps 3 --size 32"
                        " --shard-size 3 --out " + shell_quote((tmp / "a").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("same options and prompts"), std::string::npos) << r.output;
  // Pixel-only options are refused before anything loads.
  r = test::run_diffmem("sample --model " + shell_quote(model) + " --prompt x --eta 1 --out " +
                        shell_quote((tmp / "c").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--eta"), std::string::npos) << r.output;
}

// --sampler swaps the pipeline's scheduler as from_config does; the original single-file
// checkpoint of the same weights (CompVis names) with --pipeline-config gives the folder's bytes.
TEST(SampleTextToImage, SamplerChoiceAndSingleFileCheckpoint) {
  test::TempDir tmp;
  const std::string ref = test::source_dir() + "/tests/reference/model/";
  const std::string common = " --prompt 'a photo of a cat' --steps 4 --size 32 --seed 1 --batch 1";
  auto run = [&](const std::string& model, const std::string& extra, const std::string& out) {
    return test::run_diffmem("sample --model " + shell_quote(model) + common + extra + " --out " +
                             shell_quote((tmp / out).string()));
  };
  auto r = run(ref + "sd_tiny_v1", "", "folder");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run(ref + "sd_tiny_v1_single.safetensors", " --pipeline-config " + shell_quote(ref + "sd_tiny_v1"), "single");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(bytes_of(tmp / "folder" / "images-00000.npy"), bytes_of(tmp / "single" / "images-00000.npy"));
  r = run(ref + "sd_tiny_v1", " --sampler dpmpp_2m_karras", "dpm");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(bytes_of(tmp / "folder" / "images-00000.npy"), bytes_of(tmp / "dpm" / "images-00000.npy"));
  EXPECT_NE(bytes_of(tmp / "dpm" / "manifest.json").find("dpmpp_2m_karras"), std::string::npos);
  // A pixel sampler on a pipeline, a pipeline config without a file: one line each.
  r = run(ref + "sd_tiny_v1", " --sampler ddpm", "bad");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("sampler"), std::string::npos) << r.output;
  r = run(ref + "sd_tiny_v1", " --pipeline-config " + shell_quote(ref + "sd_tiny_v1"), "bad2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--pipeline-config"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace diffmem
