// Reading and verifying meta files. Sizes are cheap (stat) and always checked for completeness;
// checksums read every byte and are checked on load unless turned off.
#include "checkpoint/meta.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "runtime/config_io.h"
#include "serialize/crc32c.h"

namespace nt {
namespace {

std::runtime_error meta_error(const std::string& path, const std::string& what) {
  return std::runtime_error(fmt::format("{}: {}", path, what));
}

void require(const nlohmann::json& j, const char* key, bool (nlohmann::json::*is_type)() const,
             const char* type, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end()) throw meta_error(path, fmt::format("missing key '{}'", key));
  if (!((*it).*is_type)())
    throw meta_error(path,
                     fmt::format("key '{}': expected {}, found {}", key, type, json_brief(*it)));
}

// Python's json.dump writes float('inf') and float('nan') as the bare words Infinity, -Infinity
// and NaN, which JSON (and nlohmann) refuse; nanochat's meta holds them where a figure is not
// known yet (min_val_bpb before the first evaluation). Outside strings they become null.
std::string python_specials_to_null(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        in_string = false;
      continue;
    }
    in_string = c == '"';
    size_t matched = 0;
    for (const char* word : {"-Infinity", "Infinity", "NaN"})
      if (text.compare(i, std::strlen(word), word) == 0) matched = std::strlen(word);
    if (matched == 0) {
      out += c;
    } else {
      out += "null";
      i += matched - 1;
    }
  }
  return out;
}

}  // namespace

nlohmann::json read_meta(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open meta file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error("error reading meta file '" + path + "'");
  return parse_meta(text.str(), path);
}

nlohmann::json parse_meta(const std::string& text, const std::string& path) {
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(python_specials_to_null(text));
  } catch (const nlohmann::json::exception& e) {
    throw meta_error(path, std::string("invalid JSON: ") + e.what());
  }
  if (!meta.is_object()) throw meta_error(path, "expected a JSON object");
  require(meta, "step", &nlohmann::json::is_number_integer, "an integer", path);
  const auto& step = meta["step"];
  if (step.is_number_unsigned() ? step.get<uint64_t>() > std::numeric_limits<int64_t>::max()
                                : step.get<int64_t>() < 0)
    throw meta_error(path,
                     fmt::format("key 'step': expected a non-negative 64-bit integer, found {}",
                                 json_brief(step)));
  require(meta, "model_config", &nlohmann::json::is_object, "an object", path);
  // nanochat's own metas carry no commit record; one that names a format_version but lost its
  // files is a damaged nanotrain meta.
  if (!has_commit_record(meta) && !meta.contains("format_version")) return meta;
  require(meta, "files", &nlohmann::json::is_object, "an object", path);
  for (const auto& [name, entry] : meta["files"].items()) {
    const std::string where = fmt::format("{}: files.{}", path, name);
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      throw meta_error(path, fmt::format("files: '{}' is not a file name", name));
    if (!entry.is_object()) throw std::runtime_error(where + ": expected an object");
    require(entry, "bytes", &nlohmann::json::is_number_unsigned, "a non-negative integer", where);
    require(entry, "crc32c", &nlohmann::json::is_string, "a string", where);
    const std::string crc = entry["crc32c"];
    if (crc.size() != 8 || crc.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw std::runtime_error(where + ": crc32c: expected 8 hex digits, found '" + crc + "'");
  }
  return meta;
}

bool has_commit_record(const nlohmann::json& meta) {
  return meta.contains("files");
}

GPTConfig model_config_from_meta(const nlohmann::json& meta, const std::string& where) {
  GPTConfig config;
  std::vector<std::string> missing;
  config.visit([&](const char* key, auto&, const char*) {
    if (!meta.at("model_config").contains(key)) missing.push_back(key);
  });
  if (!missing.empty())
    throw std::runtime_error(
        fmt::format("{}: model_config: missing keys {}", where, fmt::join(missing, ", ")));
  try {
    config_from_json(config, meta.at("model_config"), where + ": model_config");
    config.validate();
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  return config;
}

void verify_files(const std::string& checkpoint_dir, const nlohmann::json& meta, bool checksums) {
  if (!has_commit_record(meta)) return;
  for (const auto& [name, entry] : meta.at("files").items()) {
    const std::string path = checkpoint_dir + "/" + name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
      throw std::runtime_error(fmt::format("{}: missing (named in the step's meta)", path));
    const uint64_t expected = entry.at("bytes");
    if (static_cast<uint64_t>(st.st_size) != expected)
      throw std::runtime_error(fmt::format("{}: expected {} bytes, found {}", path, expected,
                                           static_cast<uint64_t>(st.st_size)));
    if (!checksums) continue;
    const std::string found = crc32c_hex(file_crc32c(path));
    if (found != entry.at("crc32c").get<std::string>())
      throw std::runtime_error(fmt::format("{}: checksum mismatch: expected crc32c {}, found {}",
                                           path, entry.at("crc32c").get<std::string>(), found));
  }
}

}  // namespace nt
