// The launchers' environment contracts, checked before any socket is opened. Each reader fills
// a DistEnv from one launcher's variables; read_dist_env picks the first launcher present.
#include "runtime/dist_env.h"

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "runtime/hostlist.h"
#include "runtime/mpi_bootstrap.h"

namespace nt {
namespace {

constexpr int kMaxRanks = 1 << 20;

const char* get(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? value : nullptr;
}

// The integer value of `name`, or `fallback` when unset; throws naming it when malformed.
int env_int(const char* name, int fallback, int min_value = 0, int max_value = kMaxRanks) {
  const char* text = get(name);
  if (!text) return fallback;
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used == 0 || text[used] != '\0' || value < min_value || value > max_value)
    throw std::invalid_argument(
        fmt::format("environment variable {}: expected an integer in "
                    "[{}, {}], found '{}'",
                    name, min_value, max_value, text));
  return static_cast<int>(value);
}

// The first of `names` that is set, or null.
const char* first_set(std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (get(name)) return name;
  return nullptr;
}

void read_master(DistEnv& env) {
  env.master_port = env_int("MASTER_PORT", env.master_port, 1, 65535);
  if (const char* addr = get("MASTER_ADDR")) env.master_addr = addr;
}

void read_torchrun(DistEnv& env) {
  env.world_size = env_int("WORLD_SIZE", 1, 1);
  env.rank = env_int("RANK", 0);
  env.local_rank = env_int("LOCAL_RANK", env.rank);
  env.local_world_size = env_int("LOCAL_WORLD_SIZE", env.world_size, 1);
  env.group_rank = env_int("GROUP_RANK", 0);
  env.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0);
  env.max_restarts = env_int("TORCHELASTIC_MAX_RESTARTS", 0, 0, 1 << 30);
  // torch.distributed compares with str(True), so "True" is the only value that means yes.
  const char* agent_store = get("TORCHELASTIC_USE_AGENT_STORE");
  env.agent_store = agent_store && std::string(agent_store) == "True";
  read_master(env);
}

void read_slurm(DistEnv& env) {
  env.rank = env_int("SLURM_PROCID", 0);
  env.world_size = env_int(first_set({"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"}), 1, 1);
  env.local_rank = env_int("SLURM_LOCALID", 0);
  env.group_rank = env_int("SLURM_NODEID", 0);
  if (get("SLURM_NTASKS_PER_NODE")) {
    env.local_world_size = env_int("SLURM_NTASKS_PER_NODE", 1, 1);
  } else if (const char* name = first_set({"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"})) {
    const auto counts = expand_tasks_per_node(get(name));
    if (env.group_rank >= static_cast<int>(counts.size()))
      throw std::invalid_argument(fmt::format("{}='{}' lists {} nodes, but SLURM_NODEID is {}",
                                              name, get(name), counts.size(), env.group_rank));
    env.local_world_size = counts[env.group_rank];
  } else {
    env.local_world_size = env.world_size;
  }
  if (const char* name = first_set({"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST"}))
    env.master_addr = expand_hostlist(get(name)).front();
  if (get("SLURM_JOB_ID"))
    env.master_port = kSlurmPortBase + env_int("SLURM_JOB_ID", 0, 0, 2147483647) % kSlurmPortRange;
  read_master(env);
}

void read_mpi(DistEnv& env, const char* rank_variable) {
  const std::string rank_name = rank_variable;
  if (rank_name == "OMPI_COMM_WORLD_RANK") {
    env.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    env.world_size = env_int("OMPI_COMM_WORLD_SIZE", 1, 1);
    env.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    env.local_world_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", env.world_size, 1);
  } else {
    env.rank = env_int(rank_variable, 0);
    if (!get("PMI_SIZE"))
      throw std::invalid_argument(fmt::format(
          "{} is set but PMI_SIZE is not: set WORLD_SIZE and RANK, or launch with mpirun",
          rank_variable));
    env.world_size = env_int("PMI_SIZE", 1, 1);
    env.local_rank = env_int("MPI_LOCALRANKID", 0);
    env.local_world_size = env_int("MPI_LOCALNRANKS", env.world_size, 1);
  }
  env.group_rank = env.local_world_size == env.world_size ? 0 : env.rank / env.local_world_size;
  if (!get("MASTER_ADDR") || !get("MASTER_PORT")) {
    if (mpi_bootstrap_available()) {
      mpi_bootstrap_master(env.master_addr, env.master_port);
    } else if (env.local_world_size != env.world_size) {
      throw std::invalid_argument(fmt::format(
          "MPI job across nodes ({} ranks, {} on this node) in a build without MPI: export "
          "MASTER_ADDR (the host of rank 0) and MASTER_PORT to every rank, e.g. mpirun -x "
          "MASTER_ADDR -x MASTER_PORT",
          env.world_size, env.local_world_size));
    } else {
      // Every rank is on this node and shares the job's identifier: the same derived port.
      const char* id = first_set({"PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "PMI_ID"});
      if (!id)
        throw std::invalid_argument(
            "MPI launch without MASTER_PORT and without a job identifier (PMIX_NAMESPACE, "
            "OMPI_MCA_ess_base_jobid) to derive one from: set MASTER_ADDR and MASTER_PORT");
      uint32_t hash = 2166136261u;  // FNV-1a: the same on every rank and platform
      for (const char* c = get(id); *c; ++c) hash = (hash ^ static_cast<uint8_t>(*c)) * 16777619u;
      env.master_port = kSlurmPortBase + static_cast<int>(hash % kSlurmPortRange);
    }
  }
  read_master(env);
}

}  // namespace

DistEnv read_dist_env() {
  DistEnv env;
  if (get("RANK") && get("WORLD_SIZE")) {
    env.source = "torchrun";
    read_torchrun(env);
  } else if (get("SLURM_PROCID") && (get("SLURM_STEP_ID") || get("SLURM_STEPID"))) {
    env.source = "slurm";
    read_slurm(env);
  } else if (const char* rank = first_set({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"})) {
    env.source = "mpi";
    read_mpi(env, rank);
  } else {
    read_master(env);  // a world of one still accepts MASTER_* for checking
  }
  // Set in every process of a requeued batch job, under ntrun and srun alike.
  env.requeue_count = env_int("SLURM_RESTART_COUNT", 0);
  if (const char* secret = first_set({"NANOTRAIN_JOB_SECRET", "TORCHELASTIC_RUN_ID"}))
    env.job_secret = get(secret);
  if (env.rank >= env.world_size)
    throw std::invalid_argument(fmt::format("{}: rank {} is not below the world size {}",
                                            env.source, env.rank, env.world_size));
  if (env.local_rank >= env.local_world_size)
    throw std::invalid_argument(
        fmt::format("{}: local rank {} is not below the local world size {}", env.source,
                    env.local_rank, env.local_world_size));
  return env;
}

}  // namespace nt
