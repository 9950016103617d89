// meta_{step}.json: nanochat's keys plus the commit record of a step (format_version,
// world_size, created, and `files`: bytes and CRC-32C of every file of the step). Metas that
// nanochat itself wrote have no commit record and are accepted as such.
// Readers check types so that a damaged meta is an error naming the key, never a crash.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "model/config.h"

namespace nt {

constexpr int kMetaFormatVersion = 1;

// Parses and checks a meta file: a JSON object whose "step" (integer), "model_config" (an
// object) and "files" ({name: {"bytes": integer, "crc32c": 8 hex digits}}) are present and well
// typed; a meta with neither "files" nor "format_version" is nanochat's own and needs no
// "files". Throws std::runtime_error naming the file and the key.
nlohmann::json read_meta(const std::string& path);
// The same checks on a meta file's text; `path` names it in errors. Python's Infinity,
// -Infinity and NaN (which its json module writes and JSON lacks) are read as null.
nlohmann::json parse_meta(const std::string& text, const std::string& path);

// Whether `meta` (as read_meta returns it) holds nanotrain's commit record. Without one (a
// checkpoint nanochat wrote) there are no recorded sizes or checksums to verify.
bool has_commit_record(const nlohmann::json& meta);

// meta.model_config as a validated GPTConfig; `where` names the source in errors.
GPTConfig model_config_from_meta(const nlohmann::json& meta, const std::string& where);

// Checks that every file named in meta.files exists in `checkpoint_dir` with the recorded size
// and, when `checksums`, the recorded CRC-32C (nothing, for a meta without a commit record). Throws
// std::runtime_error naming the file, what was expected and what was found.
void verify_files(const std::string& checkpoint_dir, const nlohmann::json& meta, bool checksums);

}  // namespace nt
