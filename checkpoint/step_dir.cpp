// A step counts only when its meta (the commit record, written last) is valid and every file it
// names is present at its recorded size. Deletion goes the other way round (meta, fsync, then
// the data files), so every intermediate state of a killed save or prune reads as an
// incomplete step, never a corrupt one.
#include "checkpoint/step_dir.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "checkpoint/meta.h"
#include "runtime/crash_point.h"
#include "runtime/log.h"
#include "serialize/crc32c.h"

namespace fs = std::filesystem;

namespace nt {

std::string model_file_name(int64_t step) {
  return fmt::format("model_{:06d}.pt", step);
}
std::string optim_file_name(int64_t step) {
  return fmt::format("optim_{:06d}.pt", step);
}
std::string meta_file_name(int64_t step) {
  return fmt::format("meta_{:06d}.json", step);
}

std::string rank_optim_file_name(int64_t step, int64_t rank) {
  return fmt::format("optim_{:06d}_rank{}.pt", step, rank);
}

std::string rank_optim_file_pattern(int64_t step) {
  return fmt::format("optim_{:06d}_rank*.pt", step);
}

std::optional<StepFile> parse_step_file(const std::string& name) {
  const size_t underscore = name.find('_');
  if (underscore == std::string::npos) return std::nullopt;
  const std::string kind = name.substr(0, underscore);
  const size_t begin = underscore + 1;
  size_t end = begin;
  while (end < name.size() && end - begin <= 18 &&
         std::isdigit(static_cast<unsigned char>(name[end])))
    ++end;
  const std::string digits = name.substr(begin, end - begin);
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  StepFile file;
  file.step = std::stoll(digits);
  if (fmt::format("{:06d}", file.step) != digits) return std::nullopt;
  const std::string rest = name.substr(end);
  if (kind == "model" && rest == ".pt") {
    file.kind = StepFileKind::kModel;
  } else if (kind == "meta" && rest == ".json") {
    file.kind = StepFileKind::kMeta;
  } else if (kind == "optim" && rest == ".pt") {
    file.kind = StepFileKind::kOptim;
  } else if (kind == "optim" && rest.size() > 8 && rest.compare(0, 5, "_rank") == 0 &&
             rest.compare(rest.size() - 3, 3, ".pt") == 0) {
    // Exactly what {rank:d} writes: digits, no leading zero, not absurdly long.
    const std::string rank = rest.substr(5, rest.size() - 8);
    if (rank.size() > 9 || rank.find_first_not_of("0123456789") != std::string::npos ||
        (rank.size() > 1 && rank[0] == '0'))
      return std::nullopt;
    file.kind = StepFileKind::kRankOptim;
    file.rank = std::stoll(rank);
  } else {
    return std::nullopt;
  }
  return file;
}

std::vector<int64_t> list_rank_optim_files(const std::string& checkpoint_dir, int64_t step) {
  std::vector<int64_t> ranks;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(checkpoint_dir, ec)) {
    const auto file = parse_step_file(entry.path().filename().string());
    if (file && file->kind == StepFileKind::kRankOptim && file->step == step)
      ranks.push_back(file->rank);
  }
  std::sort(ranks.begin(), ranks.end());
  return ranks;
}

uint64_t step_bytes(const std::string& checkpoint_dir, int64_t step) {
  uint64_t total = 0;
  std::error_code ec;
  std::vector<std::string> names = {model_file_name(step), optim_file_name(step),
                                    meta_file_name(step)};
  for (int64_t rank : list_rank_optim_files(checkpoint_dir, step))
    names.push_back(rank_optim_file_name(step, rank));
  for (const auto& name : names) {
    const auto size = fs::file_size(checkpoint_dir + "/" + name, ec);
    if (!ec) total += size;
  }
  return total;
}

std::vector<int64_t> list_meta_steps(const std::string& checkpoint_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (fs::directory_iterator it(checkpoint_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto file = parse_step_file(it->path().filename().string());
    if (file && file->kind == StepFileKind::kMeta) steps.push_back(file->step);
  }
  if (ec)
    throw std::runtime_error(fmt::format("cannot list '{}': {}", checkpoint_dir, ec.message()));
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::optional<nlohmann::json> complete_step_meta(const std::string& checkpoint_dir, int64_t step) {
  try {
    auto meta = read_meta(checkpoint_dir + "/" + meta_file_name(step));
    if (meta.at("step").get<int64_t>() != step) return std::nullopt;
    if (!has_commit_record(meta)) {
      std::error_code ec;
      if (!fs::is_regular_file(checkpoint_dir + "/" + model_file_name(step), ec))
        return std::nullopt;
      return meta;
    }
    if (!meta.at("files").contains(model_file_name(step))) return std::nullopt;
    verify_files(checkpoint_dir, meta, /*checksums=*/false);
    return meta;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool is_complete_step(const std::string& checkpoint_dir, int64_t step) {
  return complete_step_meta(checkpoint_dir, step).has_value();
}

int64_t find_last_step(const std::string& checkpoint_dir) {
  return find_last_complete_step(checkpoint_dir).step;
}

CompleteStep find_last_complete_step(const std::string& checkpoint_dir) {
  std::error_code ec;
  const auto status = fs::status(checkpoint_dir, ec);
  if (ec && status.type() != fs::file_type::not_found)
    throw std::runtime_error(
        fmt::format("cannot read checkpoint directory '{}': {}", checkpoint_dir, ec.message()));
  if (!fs::exists(status))
    throw std::runtime_error(
        fmt::format("checkpoint directory '{}' does not exist", checkpoint_dir));
  if (!fs::is_directory(status))
    throw std::runtime_error(
        fmt::format("checkpoint directory '{}' is not a directory", checkpoint_dir));
  const auto steps = list_meta_steps(checkpoint_dir);
  for (auto it = steps.rbegin(); it != steps.rend(); ++it)
    if (auto meta = complete_step_meta(checkpoint_dir, *it)) return {*it, std::move(*meta)};
  throw std::runtime_error(fmt::format("no complete checkpoint in '{}'", checkpoint_dir));
}

void prepare_step(const std::string& checkpoint_dir, int64_t step) {
  std::error_code ec;
  fs::create_directories(checkpoint_dir, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot create checkpoint directory '{}': {}", checkpoint_dir, ec.message()));
  remove_incomplete_steps(checkpoint_dir);
  // Re-saving a step: its commit record goes first, then its files, so that none from the
  // earlier save (another world size's shards) outlives it unnamed by the new meta.
  remove_step(checkpoint_dir, step);
}

void CommitRecord::add(const std::string& name, const WrittenFile& file) {
  files[name] = {{"bytes", file.bytes}, {"crc32c", crc32c_hex(file.crc32c)}};
}

void commit_step(const std::string& checkpoint_dir, int64_t step, const nlohmann::json& meta_data,
                 const CommitRecord& record) {
  const std::string meta_path = checkpoint_dir + "/" + meta_file_name(step);
  try {
    crash_point("before_meta");
    nlohmann::json meta = meta_data;
    meta["step"] = step;
    meta["format_version"] = kMetaFormatVersion;
    meta["world_size"] = record.world_size;
    meta["created"] = utc_timestamp();
    meta["files"] = record.files;
    if (record.optim_shards > 0) meta["optim_shards"] = record.optim_shards;
    write_file_atomically(meta_path, meta.dump(2) + "\n");
  } catch (...) {
    // A failed commit takes the step's files with it: the space may be what the next save needs.
    try {
      remove_step(checkpoint_dir, step);
    } catch (const std::exception&) {
      // The save's own error is the one to report.
    }
    throw;
  }
  log0("Saved metadata to: {}", meta_path);
  crash_point("before_dir_fsync");
  fsync_directory(checkpoint_dir);
}

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
        parse_step_file(name.substr(0, name.size() - suffix.size()))) {
      if (fs::remove(entry.path(), ec)) removed.push_back(name);
      continue;
    }
    if (const auto file = parse_step_file(name)) steps.insert(file->step);
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
