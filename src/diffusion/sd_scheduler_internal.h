#pragma once
// The schedulers make_sd_scheduler builds from files of their own.
#include <memory>

#include "diffmem/diffusion/sd_scheduler.h"

namespace diffmem::diffusion::detail {

/// DPMSolverMultistepScheduler, algorithm_type dpmsolver++ (sd_dpm_solver.cpp).
std::unique_ptr<SdScheduler> make_dpm_solver(const SchedulerConfig& config, int64_t steps);

}  // namespace diffmem::diffusion::detail
