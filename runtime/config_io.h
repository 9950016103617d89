// Reading and writing plain config structs as JSON objects and command-line flags, from one
// field list. A struct opts in with `template <class V> void visit(V&& v)` that calls
// `v("name", member, "one line of meaning")` for each field (int, int64_t, double, bool or
// std::string); the meaning and the struct's default make the `--help` text.
// Unknown keys, wrong types and unparsable values are errors naming the key and the source.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace nt {

// A flag as given on the command line, name normalized to underscores ("--max-seq-len=9"
// becomes {"max_seq_len", "9"}).
struct Flag {
  std::string name;
  std::string value;
};

// `j` for an error message: scalars and flat arrays or objects as written, anything nested as
// its type ("a nested array"), so that hostile nesting never reaches the recursive dump().
std::string json_brief(const nlohmann::json& j);

namespace detail {

template <typename T>
const char* type_name() {
  if constexpr (std::is_same_v<T, bool>)
    return "a boolean";
  else if constexpr (std::is_integral_v<T>)
    return "an integer";
  else if constexpr (std::is_floating_point_v<T>)
    return "a number";
  else
    return "a string";
}

// The placeholder after a flag's name in `--help`.
template <typename T>
const char* flag_type_word() {
  if constexpr (std::is_same_v<T, bool>)
    return "[BOOL]";
  else if constexpr (std::is_integral_v<T>)
    return "INT";
  else if constexpr (std::is_floating_point_v<T>)
    return "FLOAT";
  else
    return "STR";
}

template <typename T>
bool json_has_type(const nlohmann::json& j) {
  if constexpr (std::is_same_v<T, bool>)
    return j.is_boolean();
  else if constexpr (std::is_integral_v<T>)
    return j.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>)
    return j.is_number();
  else
    return j.is_string();
}

// Parses a flag's text as T; throws naming the flag on failure or on an out-of-range integer.
template <typename T>
T parse_flag_value(const Flag& flag) {
  auto fail = [&] {
    return std::invalid_argument("flag --" + flag.name + ": expected " + type_name<T>() +
                                 ", found '" + flag.value + "'");
  };
  if constexpr (std::is_same_v<T, std::string>) {
    return flag.value;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (flag.value == "true" || flag.value == "1") return true;
    if (flag.value == "false" || flag.value == "0") return false;
    throw fail();
  } else {
    size_t used = 0;
    T out{};
    try {
      if constexpr (std::is_integral_v<T>) {
        const long long v = std::stoll(flag.value, &used);
        if (v < static_cast<long long>(std::numeric_limits<T>::min()) ||
            v > static_cast<long long>(std::numeric_limits<T>::max()))
          throw std::out_of_range("");
        out = static_cast<T>(v);
      } else {
        out = static_cast<T>(std::stod(flag.value, &used));
      }
    } catch (const std::logic_error&) {
      throw fail();
    }
    if (used != flag.value.size()) throw fail();
    return out;
  }
}

}  // namespace detail

// Fills the fields of `config` named in the JSON object `j`; fields not named keep their values.
// `where` names the source in errors (a file path, or "meta.model_config").
template <typename Config>
void config_from_json(Config& config, const nlohmann::json& j, const std::string& where) {
  if (!j.is_object())
    throw std::invalid_argument(where + ": expected a JSON object, found " + j.type_name());
  std::set<std::string> known;
  config.visit([&](const char* key, auto& field, const char*) {
    using T = std::decay_t<decltype(field)>;
    known.insert(key);
    auto it = j.find(key);
    if (it == j.end()) return;
    if (!detail::json_has_type<T>(*it))
      throw std::invalid_argument(where + ": key '" + key + "': expected " +
                                  detail::type_name<T>() + ", found " + json_brief(*it));
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // nlohmann's get<int>() would silently truncate; check the range first.
      const bool fits =
          it->is_number_unsigned()
              ? it->template get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
              : it->template get<int64_t>() >= std::numeric_limits<T>::min() &&
                    it->template get<int64_t>() <= std::numeric_limits<T>::max();
      if (!fits)
        throw std::invalid_argument(where + ": key '" + key + "': value " + it->dump() +
                                    " is out of range");
    }
    field = it->template get<T>();
  });
  for (const auto& [key, value] : j.items())
    if (!known.count(key)) throw std::invalid_argument(where + ": unknown key '" + key + "'");
}

// Applies command-line flags to `config`; an unknown flag is an error.
template <typename Config>
void config_from_flags(Config& config, const std::vector<Flag>& flags) {
  for (const Flag& flag : flags) {
    bool found = false;
    config.visit([&](const char* key, auto& field, const char*) {
      using T = std::decay_t<decltype(field)>;
      if (flag.name != key) return;
      field = detail::parse_flag_value<T>(flag);
      found = true;
    });
    if (!found) throw std::invalid_argument("unknown flag --" + flag.name);
  }
}

// Every field of `config` as a JSON object, in visit order.
template <typename Config>
nlohmann::ordered_json config_to_json(const Config& config) {
  nlohmann::ordered_json j;
  const_cast<Config&>(config).visit(
      [&](const char* key, auto& field, const char*) { j[key] = field; });
  return j;
}

// The `--help` lines of `config`'s flags, one per field in visit order:
// "  --name TYPE  meaning (default: value)".
template <typename Config>
std::string config_help(const Config& config) {
  std::string out;
  const_cast<Config&>(config).visit([&](const char* key, auto& field, const char* help) {
    using T = std::decay_t<decltype(field)>;
    std::string line = std::string("  --") + key + " " + detail::flag_type_word<T>();
    line.resize(std::max<size_t>(line.size() + 2, 36), ' ');
    out += line + help + " (default: " + nlohmann::json(field).dump() + ")\n";
  });
  return out;
}

// Splits argv-style arguments into flags: "--name=value", "--name value", and a bare "--name"
// (followed by another flag or nothing) meaning "true". Dashes in names become underscores.
// Anything that is not a flag is an error naming it.
std::vector<Flag> parse_flags(const std::vector<std::string>& args);

}  // namespace nt
