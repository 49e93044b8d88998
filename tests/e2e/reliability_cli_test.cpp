// The reliability issue's defects, as a user meets them through the CLI: values that are not
// values, configs that would allocate gigabytes, two runs into one folder, a resume after a kill
// between a shard and its preview, a documented TorchScript command. Each refusal is one line
// naming the flag or key, exit non-zero, and nothing written.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <unistd.h>

#include <map>

#include "diffmem/core/run_lock.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/json.h"
#include "diffmem/io/npy.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;

// 8 random-looking 16×16×1 images.
void write_small_dataset(const fs::path& dir) {
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {8, 16, 16, 1});
  for (size_t k = 0; k < ds.images.bytes.size(); ++k) ds.images.bytes[k] = uint8_t((k * 2654435761u) >> 24);
  for (int64_t i = 0; i < 8; ++i) ds.labels.push_back(i % 2), ds.ids.push_back(i);
  ds.manifest = {{"source", "synthetic"}};
  data::save_dataset(dir, ds);
}

// A refusal as the user sees it: non-zero exit, one "diffmem: error:" line holding `part`.
void expect_refused(const test::RunResult& r, const std::string& part, const std::string& what) {
  EXPECT_NE(r.exit_code, 0) << what << "\n" << r.output;
  EXPECT_NE(r.output.find(part), std::string::npos) << what << ": no '" << part << "' in\n" << r.output;
  int lines = 0;
  for (char c : r.output) lines += c == '\n';
  EXPECT_LE(lines, 1) << what << "\n" << r.output;
}

TEST(ReliabilityCli, TrainRefusesValuesThatAreNotValuesBeforeWriting) {
  test::TempDir tmp;
  write_small_dataset(tmp / "d");
  const std::string base = "train --data " + test::quoted(tmp / "d") + " --out " + test::quoted(tmp / "m") + " --preset tiny --steps 2 ";
  for (const auto& [flags, part] : std::vector<std::pair<std::string, std::string>>{
           {"--lr -1", "lr (--lr): expected a number > 0"},
           {"--lr 0", "lr (--lr)"},
           {"--ema 2", "ema_decay (--ema): expected a number in [0, 1)"},
           {"--warmup -5", "warmup_steps (--warmup)"},
           {"--grad-clip nan", "grad_clip (--grad-clip)"},
           {"--checkpoint-every -1", "checkpoint_every (--checkpoint-every)"},
           {"--seed -1", "--seed"},
           {"--batch 0", "batch (--batch)"}}) {
    expect_refused(test::run_diffmem(base + flags), part, flags);
    EXPECT_FALSE(fs::exists(tmp / "m")) << flags;
  }
  expect_refused(test::run_diffmem("--threads -4 " + base), "--threads", "--threads -4");
  expect_refused(test::run_diffmem("--max-memory 0 " + base), "--max-memory", "--max-memory 0");
  // A config's value of the wrong kind names the file and the key.
  test::write_bytes(tmp / "train.json", R"({"steps": 2.5})");
  expect_refused(test::run_diffmem("train --data " + test::quoted(tmp / "d") + " --out " + test::quoted(tmp / "m") + " --config " +
                                   test::quoted(tmp / "train.json")),
                 "train.json: steps: expected an integer, found 2.5", "steps 2.5");
  EXPECT_FALSE(fs::exists(tmp / "m"));
}

TEST(ReliabilityCli, UNetConfigsThatWouldAllocateGigabytesAreRefusedFromTheirNumbers) {
  test::TempDir tmp;
  write_small_dataset(tmp / "d");
  const std::string base = "train --data " + test::quoted(tmp / "d") + " --out " + test::quoted(tmp / "m") + " --steps 2 --unet-config ";
  test::write_bytes(tmp / "empty.json", "{}");
  expect_refused(test::run_diffmem(base + test::quoted(tmp / "empty.json")), "empty.json: expected a UNet2DModel config", "{}");
  test::write_bytes(tmp / "wide.json",
                    R"({"block_out_channels": [8192, 8192], "down_block_types": ["DownBlock2D", "DownBlock2D"],
                        "up_block_types": ["UpBlock2D", "UpBlock2D"], "norm_num_groups": 32})");
  const auto r = test::run_diffmem(base + test::quoted(tmp / "wide.json"));
  expect_refused(r, "wide.json: expected a network under 64 GiB (--max-memory", "[8192, 8192]");
  EXPECT_FALSE(fs::exists(tmp / "m"));
}

TEST(ReliabilityCli, SampleRefusesBadCountsAndShardsBeforeLoadingTheModel) {
  test::TempDir tmp;
  // No model exists at all: the options are checked first.
  const std::string base = "sample --model " + test::quoted(tmp / "no-model") + " --out " + test::quoted(tmp / "g") + " ";
  expect_refused(test::run_diffmem(base + "--n 9223372036854775000"), "n (--n): expected an integer in [1, ", "huge --n");
  expect_refused(test::run_diffmem(base + "--n 0"), "n (--n)", "--n 0");
  for (const std::string shard : {"abc/1", "1/x", "-1/2", "2/2", "0/0", "1"})
    expect_refused(test::run_diffmem(base + "--shard " + shard), "--shard", shard);
  expect_refused(test::run_diffmem(base + "--seed -1"), "--seed", "--seed -1");
  EXPECT_FALSE(fs::exists(tmp / "g"));
}

// A header holding a newline and an escape code comes back escaped, on one line.
TEST(ReliabilityCli, AnErrorQuotingInputBytesStaysOneLine) {
  test::TempDir tmp;
  test::write_bytes(tmp / "bad.csv", "\"id\x1b[2J\nx\",other\n1,2\n");
  const auto r = test::run_diffmem("screen --model " + test::quoted(tmp / "no-model") + " --prompts " + test::quoted(tmp / "bad.csv") +
                                   " --out " + test::quoted(tmp / "s"));
  expect_refused(r, "id\\x1b[2J\\nx", "control bytes in a header");
  EXPECT_EQ(r.output.find('\x1b'), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "s"));
}

class ReliabilitySample : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    write_small_dataset(*dir_ / "d");
    const auto r = test::run_diffmem("train --data " + test::quoted(*dir_ / "d") + " --out " + test::quoted(*dir_ / "m") +
                                     " --preset tiny --steps 2 --batch 4 --warmup 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string sample_into(const fs::path& out) {
    return "sample --model " + test::quoted(*dir_ / "m") + " --out " + test::quoted(out) + " --n 4 --shard-size 2 --sampler ddim --steps 2";
  }
  static test::TempDir* dir_;
};
test::TempDir* ReliabilitySample::dir_ = nullptr;

TEST_F(ReliabilitySample, ASecondRunIntoTheSameFolderIsRefusedNamingTheHolder) {
  test::TempDir tmp;
  const fs::path out = tmp / "g";
  {
    const core::RunLock running(out, "--out");  // a run in progress (this test process)
    expect_refused(test::run_diffmem(sample_into(out) + " --seed 1"),
                   "in use by pid " + std::to_string(::getpid()), "concurrent sample");
    EXPECT_FALSE(fs::exists(out / "manifest.json"));
  }
  const auto r = test::run_diffmem(sample_into(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "images-00001.npy"));
}

// A kill after the first shard and before its preview: the resume writes the preview, and the
// temporaries killed runs left are gone.
TEST_F(ReliabilitySample, AResumeWritesAMissingPreviewAndRemovesStaleTemporaries) {
  test::TempDir tmp;
  const fs::path out = tmp / "g";
  auto r = test::run_diffmem(sample_into(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string preview = test::read_bytes(out / "preview.png");
  fs::remove(out / "preview.png");
  test::write_bytes(out / "preview.png.tmp.999999999", "half a png");
  test::write_bytes(out / "images-00001.npy.tmp.999999999", "half a shard");
  r = test::run_diffmem(sample_into(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 already complete"), std::string::npos) << r.output;
  ASSERT_TRUE(fs::exists(out / "preview.png"));
  EXPECT_EQ(test::read_bytes(out / "preview.png"), preview);
  EXPECT_FALSE(fs::exists(out / "preview.png.tmp.999999999"));
  EXPECT_FALSE(fs::exists(out / "images-00001.npy.tmp.999999999"));
}

// The README's `sample --torchscript model.pt --in-channels C --sample-size S --scheduler-config`.
TEST(ReliabilityCli, SampleFromTorchScriptTakesItsInputShapeFromFlags) {
  test::TempDir tmp;
  torch::jit::Module m("Denoiser");
  m.define("def forward(self, x, t):\n    return x * 0.1\n");
  m.save((tmp / "model.pt").string());
  test::write_bytes(tmp / "scheduler_config.json",
                    R"({"_class_name": "DDPMScheduler", "num_train_timesteps": 1000, "beta_schedule": "linear",
                        "beta_start": 0.0001, "beta_end": 0.02})");
  const std::string base = "sample --torchscript " + test::quoted(tmp / "model.pt") + " --scheduler-config " +
                           test::quoted(tmp / "scheduler_config.json") + " --n 2 --sampler ddim --steps 2 --out ";
  expect_refused(test::run_diffmem(base + test::quoted(tmp / "a")), "--in-channels/--sample-size", "no shape");
  expect_refused(test::run_diffmem(base + test::quoted(tmp / "a") + " --in-channels 3 --sample-size 0"), "--in-channels/--sample-size",
                 "size 0");
  EXPECT_FALSE(fs::exists(tmp / "a"));
  const auto r = test::run_diffmem(base + test::quoted(tmp / "a") + " --in-channels 3 --sample-size 8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::read_npy(tmp / "a" / "images-00000.npy").shape, (std::vector<int64_t>{2, 8, 8, 3}));
}

// An allocator's refusal (address space capped at 3 GB, a batch of 200,000 images) reads as one
// line that says it is memory and what to change, not torch's bare "enforce fail".
TEST_F(ReliabilitySample, OutOfMemorySaysSoOnOneLine) {
  test::TempDir tmp;
  const auto r = test::run_shell("ulimit -v 3000000; " + test::diffmem_command() + " --quiet --threads 1 sample --model " +
                                 test::quoted(*dir_ / "m") + " --n 200000 --batch 200000 --shard-size 200000 --sampler ddim "
                                 "--steps 1 --out " + test::quoted(tmp / "g"));
  expect_refused(r, "diffmem: error: out of memory (", "a batch past the address space");
  EXPECT_NE(r.output.find("a smaller --batch"), std::string::npos) << r.output;
}

// Every result file of `dir` but JSON and logs (their timing fields differ run to run), by name.
std::map<std::string, std::string> result_bytes(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || e.path().extension() == ".json" || name.find("log") != std::string::npos ||
        name == ".diffmem.lock")
      continue;
    out[fs::relative(e.path(), dir).string()] = test::read_bytes(e.path());
  }
  return out;
}

// A full disk, as RLIMIT_FSIZE (ulimit -f, SIGXFSZ ignored) stands in for one: the run fails with
// one line naming the file it could not write, leaves no temporaries, and once there is room the
// same command resumes to the bytes of a run that never failed.
TEST_F(ReliabilitySample, AFullDiskFailsCleanlyAndTheResumeGivesTheSameBytes) {
  test::TempDir tmp;
  const std::string full = "trap '' XFSZ; ulimit -f 1; ";  // files past 1 KiB cannot be written
  struct Stage {
    std::string name, args;
  };
  const std::vector<Stage> stages = {
      {"train", "train --data " + test::quoted(*dir_ / "d") + " --preset tiny --steps 4 --batch 4 --warmup 1 --checkpoint-every 2 --out "},
      {"sample", "sample --model " + test::quoted(*dir_ / "m") + " --n 24 --shard-size 8 --sampler ddim --steps 2 --out "},
      {"extract", "extract --generations " + test::quoted(*dir_ / "g") + " --train " + test::quoted(*dir_ / "d") + " --delta 0.5 --out "}};
  ASSERT_EQ(test::run_diffmem(sample_into(*dir_ / "g")).exit_code, 0);
  for (const auto& st : stages) {
    const fs::path ref = tmp / (st.name + "-ref"), out = tmp / st.name;
    auto r = test::run_diffmem(st.args + test::quoted(ref));
    ASSERT_EQ(r.exit_code, 0) << st.name << "\n" << r.output;
    r = test::run_shell(full + test::diffmem_command() + " --quiet " + st.args + test::quoted(out));
    expect_refused(r, out.string(), st.name + " on a full disk");
    EXPECT_NE(r.output.find("File too large"), std::string::npos) << st.name << "\n" << r.output;
    if (fs::exists(out)) {
      for (const auto& e : fs::recursive_directory_iterator(out)) {
        EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << st.name << ": " << e.path();
      }
    }
    r = test::run_diffmem(st.args + test::quoted(out));
    ASSERT_EQ(r.exit_code, 0) << st.name << "\n" << r.output;
    const auto got = result_bytes(out), want = result_bytes(ref);
    EXPECT_EQ(got.size(), want.size()) << st.name;
    for (const auto& [name, bytes] : want) {
      const auto it = got.find(name);
      EXPECT_TRUE(it != got.end() && it->second == bytes) << st.name << ": " << name << " differs or is missing";
    }
  }
}

// Every file under `dir` (JSON included), by name: what a failed run must leave as it was.
std::map<std::string, std::string> all_bytes(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != ".diffmem.lock")
      out[fs::relative(e.path(), dir).string()] = test::read_bytes(e.path());
  return out;
}

// `data subset` and `report` over outputs of an earlier run, on a full disk: one line naming the
// file, the earlier outputs byte for byte as they were, no temporaries or staging folders; with
// room again the same command writes what a run that never failed writes.
TEST_F(ReliabilitySample, SubsetAndReportOnAFullDiskLeaveTheEarlierOutputsWhole) {
  test::TempDir tmp;
  const std::string full = "trap '' XFSZ; ulimit -f 1; ";
  const fs::path run = tmp / "run";
  ASSERT_EQ(test::run_diffmem(sample_into(run / "samples")).exit_code, 0);
  ASSERT_EQ(test::run_diffmem("extract --generations " + test::quoted(run / "samples") + " --train " + test::quoted(*dir_ / "d") +
                              " --delta 0.5 --out " + test::quoted(run / "extract")).exit_code, 0);
  test::write_bytes(run / "run.json", io::Json{{"data", (*dir_ / "d").string()}, {"model", (*dir_ / "m").string()}}.dump());
  struct Stage {
    std::string name, first, second;  // the earlier run's arguments, the failing (then resumed) one's
    fs::path out;
  };
  const std::string subset = "data subset --data " + test::quoted(*dir_ / "d") + " --n 6 --out ";
  const std::string report = "report --run " + test::quoted(run) + " --out ";
  const std::vector<Stage> stages = {
      {"data subset", subset + test::quoted(tmp / "s") + " --seed 0", subset + test::quoted(tmp / "s") + " --seed 1", tmp / "s"},
      {"report", report + test::quoted(tmp / "r" / "page.html") + " --title first", report + test::quoted(tmp / "r" / "page.html") + " --title second",
       tmp / "r"}};
  for (const auto& st : stages) {
    auto r = test::run_diffmem(st.first);
    ASSERT_EQ(r.exit_code, 0) << st.name << "\n" << r.output;
    const auto before = all_bytes(st.out);
    r = test::run_shell(full + test::diffmem_command() + " --quiet " + st.second);
    expect_refused(r, st.out.string(), st.name + " on a full disk");
    EXPECT_NE(r.output.find("File too large"), std::string::npos) << st.name << "\n" << r.output;
    EXPECT_EQ(all_bytes(st.out), before) << st.name << ": the earlier outputs changed";
    for (const auto& e : fs::directory_iterator(tmp.path()))
      EXPECT_TRUE(e.path().string().find(".tmp.") == std::string::npos &&
                  e.path().string().find(".staging") == std::string::npos)
          << st.name << " left " << e.path();
    r = test::run_diffmem(st.second);
    ASSERT_EQ(r.exit_code, 0) << st.name << "\n" << r.output;
  }
  EXPECT_NE(test::read_bytes(tmp / "r" / "page.html").find("second"), std::string::npos);
  ASSERT_EQ(test::run_diffmem(subset + test::quoted(tmp / "s-ref") + " --seed 1").exit_code, 0);
  EXPECT_EQ(result_bytes(tmp / "s"), result_bytes(tmp / "s-ref"));
}

// The MIA and inpainting caches are keyed by content, not by path: a run folder moved with its
// model and data reuses every cached result and writes the same numbers.
TEST_F(ReliabilitySample, AMovedRunReusesItsCaches) {
  test::TempDir tmp;
  const fs::path a = tmp / "a", b = tmp / "b";
  fs::create_directories(a);
  fs::copy(*dir_ / "d", a / "d", fs::copy_options::recursive);
  fs::copy(*dir_ / "m", a / "m", fs::copy_options::recursive);
  data::save_members(a / "m", {true, false, true, false, true, false, true, false});  // the target's truth
  auto commands = [](const fs::path& root) {
    return std::vector<std::string>{
        "mia loss --target " + test::quoted(root / "m") + " --data " + test::quoted(root / "d") + " --draws 2 --out " + test::quoted(root / "mia"),
        "inpaint --model " + test::quoted(root / "m") + " --data " + test::quoted(root / "d") + " --n-targets 2 --candidates 2 --keep 1 "
        "--rank-draws 1 --steps 2 --out " + test::quoted(root / "inpaint")};
  };
  for (const auto& c : commands(a)) {
    const auto r = test::run_diffmem(c);
    ASSERT_EQ(r.exit_code, 0) << c << "\n" << r.output;
  }
  const auto scores = test::read_bytes(a / "mia" / "loss" / "scores.csv");
  const auto inpaint = io::read_json(a / "inpaint" / "summary.json");
  fs::rename(a, b);
  for (const auto& c : commands(b)) {
    const auto r = test::run_diffmem(c);
    ASSERT_EQ(r.exit_code, 0) << c << "\n" << r.output;
  }
  const auto mia = io::read_json(b / "mia" / "loss" / "summary.json");
  EXPECT_EQ(mia.at("timing").at("models")[0].at("cached"), true) << mia.dump();
  EXPECT_EQ(test::read_bytes(b / "mia" / "loss" / "scores.csv"), scores);
  const auto again = io::read_json(b / "inpaint" / "summary.json");
  EXPECT_EQ(again.at("timing").at("targets_computed"), 0) << again.dump();
  EXPECT_EQ(again.at("targets"), inpaint.at("targets"));
  EXPECT_EQ(again.at("mean_oracle_distance_members"), inpaint.at("mean_oracle_distance_members"));
}

}  // namespace
}  // namespace diffmem
