#pragma once
// The MPI communicator (mpi_communicator.cpp), present only in a build with MPI.
#include "diffmem/dist/communicator.h"

namespace diffmem::dist::detail {

/// Whether this build has MPI (DIFFMEM_HAVE_MPI).
bool mpi_built();

/// MPI_COMM_WORLD, initialized on first use and finalized at exit. Only with mpi_built().
const Communicator& mpi_world();

}  // namespace diffmem::dist::detail
