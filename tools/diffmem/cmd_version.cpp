// `diffmem info`: what this build can do (threads, devices, torch version), or with --model what
// a model folder holds (components, classes, weights files, dtypes, parameter counts).
#include <torch/torch.h>

#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "flags.h"
#include "diffmem/core/blas_kernels.h"
#include "diffmem/core/runtime.h"
#include "diffmem/model/folder_info.h"
#include "diffmem/search/int_gram.h"
#include "diffmem/search/int_gram_device.h"

namespace {

struct Args {
  std::string model;
  bool json = false;
};

void print_model(const Args& a) {
  const diffmem::io::Json info = diffmem::model::describe_model_folder(a.model);
  if (a.json) {
    std::printf("%s\n", info.dump(2).c_str());
    return;
  }
  std::printf("%s: %s\n", a.model.c_str(), info.value("class", "").c_str());
  int64_t total = 0;
  for (const auto& c : info["components"]) {
    if (!c.contains("weights")) {
      std::printf("  %-14s %-32s (no weights)\n", c["name"].get<std::string>().c_str(),
                  c["class"].get<std::string>().c_str());
      continue;
    }
    std::string dtypes;
    for (const auto& d : c["dtypes"]) dtypes += (dtypes.empty() ? "" : ",") + d.get<std::string>();
    const int64_t p = c["parameters"].get<int64_t>();
    total += p;
    std::printf("  %-14s %-32s %10.2fM parameters  %5lld tensors  %-8s %s\n",
                c["name"].get<std::string>().c_str(), c["class"].get<std::string>().c_str(), p / 1e6,
                static_cast<long long>(c["tensors"].get<int64_t>()), dtypes.c_str(),
                c["weights"].get<std::string>().c_str());
  }
  std::printf("  total %.2fM parameters\n", total / 1e6);
}

}  // namespace

DIFFMEM_COMMAND(900) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("info", "Print build and runtime information, or what a model folder holds");
  diffmem::cli::add_shared(sub, diffmem::cli::flags::kModel, a->model,
                           "a pipeline or model folder to describe (nothing is loaded but headers)");
  sub->add_flag("--json", a->json, "With --model: print JSON");
  sub->callback([a] {
    diffmem::cli::start();
    if (!a->model.empty()) {
      print_model(*a);
      return;
    }
    std::printf("diffmem 0.1.0\n");
    std::printf("libtorch %s\n", TORCH_VERSION);
    std::printf("threads %d\n", torch::get_num_threads());
    const std::string blas = diffmem::core::blas_core_name();
    std::printf("blas %s\n", blas.empty() ? "not openblas" : ("openblas, " + blas + " kernels").c_str());
    std::printf("cuda %s\n", diffmem::core::cuda_available() ? "available" : "not available");
    // Which kernel the exact uint8 distances (k-NN, tiled ℓ2, dedup) run on.
    const diffmem::search::IntGramKernel& ig = diffmem::search::int_gram_kernel();
    std::printf("integer distances %s\n",
                ig.available ? ig.name.c_str() : ("not available: " + ig.reason + "; float32 GEMMs").c_str());
    if (diffmem::core::cuda_available()) {
      const torch::Device cuda(torch::kCUDA);
      const std::string gpu = diffmem::search::device_int_gram_name(cuda);
      std::printf("integer distances on cuda %s\n",
                  diffmem::search::device_int_mm_available(cuda)
                      ? gpu.c_str()
                      : ("not by default: float32 GEMMs (" + gpu + " with --set knn.arithmetic=integer)").c_str());
    }
  });
}
