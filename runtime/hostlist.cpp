// Slurm's hostlist grammar: a comma-separated list at bracket depth 0; each item is a name in
// which every [...] holds comma-separated numbers or lo-hi ranges, expanded as a cartesian
// product from left to right. A range keeps the width of its lower bound ("01-10" -> 01..10).
#include "runtime/hostlist.h"

#include <fmt/format.h>

#include <cctype>
#include <stdexcept>

namespace nt {
namespace {

constexpr size_t kMaxHosts = 1000000;

[[noreturn]] void bad(const std::string& list, const std::string& why) {
  throw std::invalid_argument(fmt::format("hostlist '{}': {}", list, why));
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// The comma-separated items of `text`, empty ones included ("a,,b" -> {"a", "", "b"}).
std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    items.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

// The values one bracket stands for, e.g. "01-03,7" -> {"01", "02", "03", "7"}.
std::vector<std::string> expand_bracket(const std::string& body, const std::string& list) {
  std::vector<std::string> out;
  for (const std::string& item : split_commas(body)) {
    const size_t dash = item.find('-');
    const std::string lo = item.substr(0, dash);
    const std::string hi = dash == std::string::npos ? lo : item.substr(dash + 1);
    if (!all_digits(lo) || !all_digits(hi) || lo.size() > 9 || hi.size() > 9)
      bad(list,
          fmt::format("'[{}]': expected numbers or ranges such as 01-04, found '{}'", body, item));
    const long from = std::stol(lo), to = std::stol(hi);
    if (to < from) bad(list, fmt::format("range '{}' runs backwards", item));
    if (static_cast<size_t>(to - from) >= kMaxHosts) bad(list, "more than a million hosts");
    for (long v = from; v <= to; ++v) {
      std::string digits = std::to_string(v);
      if (digits.size() < lo.size()) digits.insert(0, lo.size() - digits.size(), '0');
      out.push_back(digits);
    }
  }
  return out;
}

// The hosts of one item (no top-level comma), e.g. "rack[1-2]-n[1-2]".
void expand_item(const std::string& item, const std::string& list,
                 std::vector<std::string>& hosts) {
  if (item.empty()) bad(list, "empty host name");
  std::vector<std::string> partial = {""};
  size_t pos = 0;
  while (pos < item.size()) {
    const size_t open = item.find('[', pos);
    const std::string literal = item.substr(pos, open - pos);
    if (literal.find(']') != std::string::npos) bad(list, "']' without '['");
    for (auto& p : partial) p += literal;
    if (open == std::string::npos) break;
    const size_t close = item.find(']', open);
    if (close == std::string::npos) bad(list, "'[' without ']'");
    const std::string body = item.substr(open + 1, close - open - 1);
    if (body.find('[') != std::string::npos) bad(list, "nested '['");
    const auto values = expand_bracket(body, list);
    if (partial.size() * values.size() > kMaxHosts) bad(list, "more than a million hosts");
    std::vector<std::string> next;
    for (const auto& p : partial)
      for (const auto& v : values) next.push_back(p + v);
    partial = std::move(next);
    pos = close + 1;
  }
  hosts.insert(hosts.end(), partial.begin(), partial.end());
  if (hosts.size() > kMaxHosts) bad(list, "more than a million hosts");
}

}  // namespace

std::vector<std::string> expand_hostlist(const std::string& list) {
  std::vector<std::string> hosts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    const char c = i < list.size() ? list[i] : ',';
    if (c == '[') ++depth;
    if (c == ']' && --depth < 0) bad(list, "']' without '['");
    if (c == ',' && depth == 0) {
      expand_item(list.substr(start, i - start), list, hosts);
      start = i + 1;
    }
  }
  if (depth != 0) bad(list, "'[' without ']'");
  return hosts;
}

std::vector<int> expand_tasks_per_node(const std::string& spec) {
  auto fail = [&](const std::string& why) -> std::invalid_argument {
    return std::invalid_argument(fmt::format("tasks per node '{}': {}", spec, why));
  };
  std::vector<int> counts;
  for (const std::string& item : split_commas(spec)) {
    const size_t paren = item.find('(');
    const std::string count = item.substr(0, paren);
    std::string repeat = "1";
    if (paren != std::string::npos) {
      if (item.size() < paren + 4 || item.compare(paren, 2, "(x") != 0 || item.back() != ')')
        throw fail("expected N or N(xR), found '" + item + "'");
      repeat = item.substr(paren + 2, item.size() - paren - 3);
    }
    if (!all_digits(count) || !all_digits(repeat) || count.size() > 6 || repeat.size() > 6)
      throw fail("expected N or N(xR), found '" + item + "'");
    const int n = std::stoi(count), r = std::stoi(repeat);
    if (n < 1 || r < 1) throw fail("counts must be positive, found '" + item + "'");
    if (counts.size() + r > kMaxHosts) throw fail("more than a million nodes");
    counts.insert(counts.end(), r, n);
  }
  return counts;
}

}  // namespace nt
