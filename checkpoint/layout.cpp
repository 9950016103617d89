// Directory scanning for checkpoints. A step counts only when its meta (the commit record,
// written last) is valid and every file it names is present at its recorded size.
#include "checkpoint/layout.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "checkpoint/meta.h"

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

std::vector<int64_t> list_rank_optim_files(const std::string& checkpoint_dir, int64_t step) {
  std::vector<int64_t> ranks;
  const std::string head = fmt::format("optim_{:06d}_rank", step);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(checkpoint_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= head.size() + 3 || name.compare(0, head.size(), head) != 0) continue;
    const std::string digits = name.substr(head.size(), name.size() - head.size() - 3);
    // Exactly what {rank:d} writes: digits, no leading zero, not absurdly long.
    if (name.compare(name.size() - 3, 3, ".pt") != 0 || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos ||
        (digits.size() > 1 && digits[0] == '0'))
      continue;
    ranks.push_back(std::stoll(digits));
  }
  std::sort(ranks.begin(), ranks.end());
  return ranks;
}

int64_t parse_step(const std::string& name, const std::string& prefix, const std::string& suffix) {
  const std::string head = prefix + "_";
  if (name.size() <= head.size() + suffix.size() || name.compare(0, head.size(), head) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits = name.substr(head.size(), name.size() - head.size() - suffix.size());
  if (digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  const int64_t step = std::stoll(digits);
  return fmt::format("{:06d}", step) == digits ? step : -1;
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
    const int64_t step = parse_step(it->path().filename().string(), "meta", ".json");
    if (step >= 0) steps.push_back(step);
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

std::string find_largest_model(const std::string& checkpoints_dir) {
  std::error_code ec;
  std::vector<fs::directory_entry> tags;
  for (const auto& entry : fs::directory_iterator(checkpoints_dir, ec))
    if (entry.is_directory(ec)) tags.push_back(entry);
  if (ec && tags.empty())
    throw std::runtime_error(fmt::format("cannot list '{}': {}", checkpoints_dir, ec.message()));
  if (tags.empty())
    throw std::runtime_error(fmt::format("no model directories in '{}'", checkpoints_dir));
  int64_t best_depth = -1;
  std::string best;
  for (const auto& tag : tags) {
    const std::string name = tag.path().filename().string();
    size_t n = 1;
    while (n < name.size() && n < 19 && std::isdigit(static_cast<unsigned char>(name[n]))) ++n;
    if (name[0] != 'd' || n == 1) continue;
    const int64_t depth = std::stoll(name.substr(1, n - 1));
    if (depth > best_depth) best_depth = depth, best = name;
  }
  if (!best.empty()) return best;
  auto newest = std::max_element(tags.begin(), tags.end(), [](const auto& a, const auto& b) {
    std::error_code e;
    return fs::last_write_time(a.path(), e) < fs::last_write_time(b.path(), e);
  });
  return newest->path().filename().string();
}

std::string source_directory(const std::string& source) {
  if (source == "base") return "base_checkpoints";
  if (source == "mid") return "mid_checkpoints";
  if (source == "sft") return "chatsft_checkpoints";
  if (source == "rl") return "chatrl_checkpoints";
  throw std::invalid_argument(
      fmt::format("unknown checkpoint source '{}': expected one of base, mid, sft, rl", source));
}

}  // namespace nt
