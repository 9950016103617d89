// Rank 0's choice of the resume step and the checks around it. A failure on rank 0 is
// broadcast as kRankZeroFailed, so that the other ranks stop at once with a message instead of
// waiting in the next collective until it times out.
#include "checkpoint/resume_step.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "checkpoint/step_dir.h"
#include "runtime/log.h"

namespace nt {
namespace {

constexpr int64_t kRankZeroFailed = -3;

// What --resume_from_step names (-1: a fresh start), with a rollback's later steps deleted or
// refused; auto's step comes with the meta that found it complete.
CompleteStep choose_on_rank_zero(const std::string& dir, int64_t step, bool prune_abandoned) {
  if (step == -1) return {};
  if (step == kResumeAuto) {
    try {
      return find_last_complete_step(dir);
    } catch (const std::runtime_error& e) {
      log0("resume_from_step=auto: {} on disk", e.what());
      return {};
    }
  }
  std::vector<int64_t> later;
  for (int64_t s : list_meta_steps(dir))
    if (s > step && is_complete_step(dir, s)) later.push_back(s);
  if (later.empty()) return {step, nullptr};
  if (!prune_abandoned)
    throw std::invalid_argument(fmt::format(
        "resume_from_step={} rolls back '{}', which holds the later steps [{}]: a restart with "
        "--resume_from_step=auto would resume them, and --keep_last would delete this run's "
        "saves first. Pass --prune_abandoned to delete them, or move them elsewhere",
        step, dir, fmt::join(later, ", ")));
  for (int64_t s : later) remove_step(dir, s);
  log0("prune_abandoned: deleted the later steps [{}] of '{}'", fmt::join(later, ", "), dir);
  return {step, nullptr};
}

}  // namespace

int64_t parse_resume_from_step(const std::string& text, bool restarted) {
  if (text.empty() && restarted) {
    log0("resume_from_step unset on a restarted job: resuming from the last complete step (auto)");
    return kResumeAuto;
  }
  if (text.empty() || text == "-1") return -1;
  if (text == "auto") return kResumeAuto;
  if (text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument(fmt::format(
        "resume_from_step: expected -1, auto, a step number or nothing, found '{}'", text));
  return std::stoll(text);
}

std::optional<CompleteStep> agree_on_resume_step(const std::string& dir, int64_t resume_from_step,
                                                 bool prune_abandoned, int rank,
                                                 Collectives* collectives) {
  auto choice = torch::full({1}, kRankZeroFailed, torch::kInt64);
  std::string error;
  CompleteStep chosen;
  if (rank == 0) {
    try {
      chosen = choose_on_rank_zero(dir, resume_from_step, prune_abandoned);
      choice.fill_(chosen.step);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (collectives) collectives->broadcast(choice, 0);
  const int64_t step = choice.item<int64_t>();
  if (!error.empty()) throw std::runtime_error(error);
  if (step == kRankZeroFailed)
    throw std::runtime_error(fmt::format(
        "rank {}: rank 0 could not choose the step to resume from (its log says why)", rank));

  if (step < 0) return std::nullopt;
  // Every rank reads the meta itself once (rank 0 may have it already): NFS may show a rank a
  // stale listing of a fast restart.
  if (chosen.meta.is_null()) {
    if (auto meta = complete_step_meta(dir, step)) chosen.meta = std::move(*meta);
  }
  const bool missing = chosen.meta.is_null();
  if (on_any_rank(missing, collectives)) {
    if (missing)
      throw std::runtime_error(fmt::format(
          "rank {}: rank 0 resumes from step {}, which '{}' does not hold complete here: every "
          "rank must see the same checkpoint directory (a shared filesystem; set "
          "NANOTRAIN_BASE_DIR or --model_tag alike on every node)",
          rank, step, dir));
    throw std::runtime_error(fmt::format(
        "rank {}: another rank does not see step {} of '{}' complete (its log names it)", rank,
        step, dir));
  }
  chosen.step = step;
  return chosen;
}

}  // namespace nt
