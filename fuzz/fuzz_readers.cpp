// libFuzzer targets for every reader of untrusted files (scripts/fuzz.sh builds one binary per
// target with -DDIFFMEM_FUZZ_TARGET=<name>). Each input is written to a file (the readers take
// paths, as the CLI does) and read; diffmem::Error is the expected outcome of a bad file, and
// anything else (a crash, a sanitizer report, another exception, a leak) is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "diffmem/attack/blackbox_prompts.h"
#include "diffmem/core/error.h"
#include "diffmem/data/dataset.h"
#include "diffmem/data/subset.h"
#include "diffmem/diffusion/scheduler_config.h"
#include "diffmem/io/cifar.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/idx.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/json.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/model/clip_tokenizer.h"
#include "diffmem/model/unet2d_config.h"
#include "diffmem/report/run_dir.h"
#include "diffmem/train/train_options.h"

namespace {
namespace fs = std::filesystem;
using namespace diffmem;

const fs::path& scratch() {
  static const fs::path dir = [] {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("diffmem-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

fs::path put(const std::string& name, const uint8_t* data, size_t size) {
  const fs::path p = scratch() / name;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return p;
}

void run(const uint8_t* data, size_t size) {
  const std::string target = DIFFMEM_FUZZ_TARGET;
  if (target == "npy") {
    io::read_npy(put("a.npy", data, size));
  } else if (target == "safetensors") {
    io::read_safetensors(put("a.safetensors", data, size));
  } else if (target == "idx") {
    io::read_idx(put("a-idx3-ubyte.gz", data, size));  // gzip or raw, told by the magic bytes
  } else if (target == "cifar") {
    io::read_cifar_batch(put("data_batch_1.bin", data, size));
  } else if (target == "image") {
    io::read_image(put("a.img", data, size));
  } else if (target == "json_configs") {
    // One JSON file read as each config: a UNet's config.json and train_options.json.
    const fs::path p = put("config.json", data, size);
    const io::Json j = io::read_json(p);
    try {
      model::UNet2DConfig::from_json(j, p.string());
    } catch (const Error&) {
    }
    io::read_options<train::TrainOptions>(j, p.string());
  } else if (target == "scheduler_config") {
    // scheduler_config.json, read as a model's (it reaches every sampler and attack).
    diffusion::read_scheduler_config(put("scheduler_config.json", data, size));
  } else if (target == "manifest") {
    // The same bytes as a data set's manifest.json (beside valid arrays), a run's run.json and an
    // audit stage's marker.
    static const bool arrays = [] {
      data::Dataset ds;
      ds.images = io::HostArray::zeros(io::DType::kU8, {2, 2, 2, 1});
      ds.labels = {0, 1};
      ds.ids = {0, 1};
      data::save_dataset(scratch() / "ds", ds);
      return true;
    }();
    (void)arrays;
    put("ds/manifest.json", data, size);
    put("run/run.json", data, size);
    put("run/stages/train.json", data, size);
    try {
      const data::Dataset ds = data::load_dataset(scratch() / "ds");
      data::duplicate_groups(ds.manifest);
    } catch (const Error&) {
    }
    const report::RunDir d = report::read_run_dir(scratch() / "run");
    report::read_stage_marker(d, "train");
  } else if (target == "prompts") {
    // The same bytes as a CSV and as JSONL prompt file, and as a plain CSV.
    try {
      attack::read_prompts(put("p.csv", data, size));
    } catch (const Error&) {
    }
    try {
      attack::read_prompts(put("p.jsonl", data, size));
    } catch (const Error&) {
    }
    io::parse_csv(std::string(reinterpret_cast<const char*>(data), size), "fuzz.csv");
  } else if (target == "tokenizer") {
    // vocab.json, then a NUL, then merges.txt; the tokenizer then encodes the bytes after a
    // second NUL.
    const std::string s(reinterpret_cast<const char*>(data), size);
    const size_t a = s.find('\0'), b = a == std::string::npos ? a : s.find('\0', a + 1);
    const std::string vocab = s.substr(0, a);
    const std::string merges = a == std::string::npos ? "" : s.substr(a + 1, b == std::string::npos ? b : b - a - 1);
    const std::string text = b == std::string::npos ? "a photo" : s.substr(b + 1);
    const auto v = put("vocab.json", reinterpret_cast<const uint8_t*>(vocab.data()), vocab.size());
    const auto m = put("merges.txt", reinterpret_cast<const uint8_t*>(merges.data()), merges.size());
    const auto tok = model::ClipTokenizer::from_files(v, m);
    tok.encode(text);
  } else {
    __builtin_trap();  // an unknown target is a build mistake
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    run(data, size);
  } catch (const Error&) {
    // a clear refusal: what a bad file should get
  }
  return 0;
}
