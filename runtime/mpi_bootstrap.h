// MASTER_ADDR and MASTER_PORT for a job started by mpirun without them: rank 0 picks an address
// of its host and a free port, and MPI_Bcast's both to every rank. Compiled with MPI where CMake
// finds it (option NANOTRAIN_WITH_MPI); MPI is initialized here only, and finalized at exit.
#pragma once

#include <string>

namespace nt {

// Whether this build can bootstrap over MPI.
bool mpi_bootstrap_available();

// Collective over MPI_COMM_WORLD on the first call (later calls return the same answer): sets
// `addr` and `port` on every rank to rank 0's choice. Throws std::runtime_error when MPI fails
// or this build has no MPI.
void mpi_bootstrap_master(std::string& addr, int& port);

}  // namespace nt
