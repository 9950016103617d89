// The distributed environment a worker is started in, found in this order of precedence:
//   1. torchrun's variables (ntrun sets them too): RANK, WORLD_SIZE, LOCAL_RANK,
//      LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT;
//   2. Slurm, for a task started by srun (SLURM_STEP_ID set): SLURM_PROCID, SLURM_NTASKS,
//      SLURM_LOCALID, SLURM_NODEID, the tasks on this node from SLURM_NTASKS_PER_NODE or
//      SLURM_STEP_TASKS_PER_NODE / SLURM_TASKS_PER_NODE ("2(x3),1"); MASTER_ADDR defaults to
//      the first host of SLURM_STEP_NODELIST / SLURM_JOB_NODELIST, MASTER_PORT to
//      kSlurmPortBase + SLURM_JOB_ID mod kSlurmPortRange;
//   3. MPI launchers: Open MPI's OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}, MPICH/Hydra's
//      PMI_RANK / PMI_SIZE (MPI_LOCALRANKID, MPI_LOCALNRANKS), PMIx's PMIX_RANK; MASTER_ADDR and
//      MASTER_PORT from the environment, else rank 0's address and a free port broadcast over
//      MPI (mpi_bootstrap.h); in a build without MPI, when every rank is on this node,
//      127.0.0.1 and a port derived from the job's identifier (PMIX_NAMESPACE, ...);
//   4. otherwise a world of one, which needs no process group.
// Under torchrun (and ntrun), TORCHELASTIC_USE_AGENT_STORE=True says that the launcher's agent
// hosts the store at MASTER_ADDR:MASTER_PORT: every rank joins it as a client, under the prefix
// /worker/attempt_<TORCHELASTIC_RESTART_COUNT>, as torch.distributed's env:// does.
#pragma once

#include <string>

namespace nt {

constexpr int kSlurmPortBase = 20000;
constexpr int kSlurmPortRange = 20000;

struct DistEnv {
  int rank = 0;
  int local_rank = 0;
  int world_size = 1;
  int local_world_size = 1;
  int group_rank = 0;  // node index
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "none";  // "torchrun", "slurm", "mpi" or "none"
  bool agent_store = false;     // the launcher hosts the store; rank 0 does otherwise
  int restart_count = 0;        // TORCHELASTIC_RESTART_COUNT: the launcher's attempt
  int requeue_count = 0;        // SLURM_RESTART_COUNT: how often Slurm requeued the job
  int max_restarts = 0;         // TORCHELASTIC_MAX_RESTARTS: restarts the launcher may still make
  // What tells this job's per-step snapshots from another's: ntrun's NANOTRAIN_JOB_SECRET (random,
  // the same for every attempt of one launch), else torchrun's TORCHELASTIC_RUN_ID, else "".
  std::string job_secret;

  bool distributed() const { return world_size > 1; }
  // This process continues a job that ran before: the launcher restarted its workers, or Slurm
  // requeued the job.
  bool restarted() const { return restart_count > 0 || requeue_count > 0; }
};

// Reads and checks the variables. Throws std::invalid_argument naming the variable for a
// malformed or inconsistent value (a rank not below the world size, a port outside 1..65535,
// a malformed Slurm host or task list, an MPI job across nodes without MASTER_ADDR, ...).
DistEnv read_dist_env();

}  // namespace nt
