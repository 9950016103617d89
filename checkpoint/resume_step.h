// The step a training run starts from, one for every rank: rank 0 resolves --resume_from_step
// (auto: the last complete step) and settles a rollback's later steps, broadcasts its choice,
// and every rank checks that it sees that step complete (the checkpoint directory must be
// shared, and NFS may show a fast restart a stale listing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "checkpoint/step_dir.h"
#include "runtime/collectives.h"

namespace nt {

// --resume_from_step as a number: -1 starts fresh, kResumeAuto resumes the last complete step.
constexpr int64_t kResumeAuto = -2;

// "" (unset), "-1", "auto" or a step's digits; throws std::invalid_argument naming
// resume_from_step. Unset is -1 on a job's first start and kResumeAuto when `restarted` (the
// launcher restarted the workers, or Slurm requeued the job), which rank 0 logs: a restart
// continues the run instead of training it again from step 0.
int64_t parse_resume_from_step(const std::string& text, bool restarted);

// Every rank calls it (`collectives` nullptr for a world of one); rank 0 holds the lock of
// `checkpoint_dir`. Returns nullopt for a fresh start (-1, or kResumeAuto with no complete step
// yet) or the step with its meta, which each rank reads once (rank 0 while choosing). A rollback (a
// step below the newest complete one) refuses to start, naming the later steps, unless
// `prune_abandoned`, which deletes them first: otherwise the next auto restart would resume the
// abandoned run and --keep_last would delete this run's saves first. Throws std::runtime_error
// "rank R: ..." on every rank when rank 0 could not choose (its own error there) or when some rank
// does not see the step complete (naming the directory).
std::optional<CompleteStep> agree_on_resume_step(const std::string& checkpoint_dir,
                                                 int64_t resume_from_step, bool prune_abandoned,
                                                 int rank, Collectives* collectives);

}  // namespace nt
