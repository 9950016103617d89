// Retention and leftover removal. Deletion order (meta, fsync, then data files) keeps every
// intermediate state of a killed prune readable: at worst a step is incomplete, never corrupt.
#include "checkpoint/retention.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "checkpoint/layout.h"
#include "serialize/atomic_file.h"

namespace fs = std::filesystem;

namespace nt {
namespace {

// The step a checkpoint file belongs to, or -1 for a file that is not one of ours.
int64_t step_of(const std::string& name) {
  for (const auto& [prefix, suffix] :
       {std::pair<const char*, const char*>{"model", ".pt"}, {"optim", ".pt"}, {"meta", ".json"}}) {
    const int64_t step = parse_step(name, prefix, suffix);
    if (step >= 0) return step;
  }
  // A per-rank optimizer file, optim_{step:06d}_rank{r}.pt (the sharded layout, nanochat's).
  const size_t at = name.rfind("_rank");
  if (at == std::string::npos || name.size() < at + 9) return -1;
  const int64_t step = parse_step(name.substr(0, at) + ".pt", "optim", ".pt");
  const std::string rank = name.substr(at + 5, name.size() - at - 8);
  if (step < 0 || rank.size() > 9 || rank.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return name == rank_optim_file_name(step, std::stoll(rank)) ? step : -1;
}

}  // namespace

void remove_step(const std::string& dir, int64_t step, std::vector<std::string>* removed) {
  std::error_code ec;
  if (fs::remove(dir + "/" + meta_file_name(step), ec)) {
    if (removed) removed->push_back(meta_file_name(step));
    fsync_directory(dir);
  }
  std::vector<std::string> names = {model_file_name(step), optim_file_name(step)};
  for (int64_t rank : list_rank_optim_files(dir, step))
    names.push_back(rank_optim_file_name(step, rank));
  for (const auto& name : names)
    if (fs::remove(dir + "/" + name, ec) && removed) removed->push_back(name);
}

std::vector<std::string> remove_incomplete_steps(const std::string& checkpoint_dir) {
  std::vector<std::string> removed;
  std::set<int64_t> steps;
  std::error_code ec;
  const std::string suffix = kTempSuffix;
  for (const auto& entry : fs::directory_iterator(checkpoint_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        step_of(name.substr(0, name.size() - suffix.size())) >= 0) {
      if (fs::remove(entry.path(), ec)) removed.push_back(name);
      continue;
    }
    const int64_t step = step_of(name);
    if (step >= 0) steps.insert(step);
  }
  for (int64_t step : steps)
    if (!is_complete_step(checkpoint_dir, step)) remove_step(checkpoint_dir, step, &removed);
  if (!removed.empty()) fsync_directory(checkpoint_dir);
  return removed;
}

std::vector<int64_t> prune_checkpoints(const std::string& checkpoint_dir, int64_t keep_last,
                                       int64_t keep_every) {
  std::vector<int64_t> complete;
  for (int64_t step : list_meta_steps(checkpoint_dir))
    if (is_complete_step(checkpoint_dir, step)) complete.push_back(step);
  std::vector<int64_t> deleted;
  if (keep_last < 0 || complete.empty()) return deleted;
  const size_t keep_from =
      complete.size() > static_cast<size_t>(std::max<int64_t>(keep_last, 1))
          ? complete.size() - static_cast<size_t>(std::max<int64_t>(keep_last, 1))
          : 0;
  for (size_t i = 0; i < keep_from; ++i) {
    const int64_t step = complete[i];
    if (keep_every > 0 && step % keep_every == 0) continue;
    remove_step(checkpoint_dir, step, nullptr);
    deleted.push_back(step);
  }
  if (!deleted.empty()) fsync_directory(checkpoint_dir);
  return deleted;
}

}  // namespace nt
