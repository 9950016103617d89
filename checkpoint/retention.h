// Clean-up and retention for a checkpoint directory: removing what killed saves left behind and
// deleting old complete steps (keep_last, keep_every). A step's meta is always deleted first,
// so a step being removed stops counting before any of its files go.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nt {

// Removes temporary files and every file of a step that is not complete (see is_complete_step).
// Returns the names removed.
std::vector<std::string> remove_incomplete_steps(const std::string& checkpoint_dir);

// Deletes every file of step `step`, its meta first; appends the names removed to `removed`
// when given. Throws std::runtime_error only when the directory cannot be fsync'ed after the meta
// is gone.
void remove_step(const std::string& dir, int64_t step, std::vector<std::string>* removed = nullptr);

// Deletes complete steps other than the newest `keep_last` (keep_last < 0 keeps all) and, when
// keep_every > 0, other than multiples of keep_every. The newest complete step is never deleted.
// Returns the steps deleted, ascending.
std::vector<int64_t> prune_checkpoints(const std::string& checkpoint_dir, int64_t keep_last,
                                       int64_t keep_every = 0);

}  // namespace nt
