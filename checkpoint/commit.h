// The commit protocol of one step, shared by the gathered and the sharded layouts: rank 0
// prepares the directory, the step's files are written through the atomic writer, and the meta
// naming every file with its size and CRC-32C is written last, as the commit record.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "serialize/atomic_file.h"

namespace nt {

// {"bytes": ..., "crc32c": "8 hex digits"}, a file's entry in meta.files.
nlohmann::json file_record(const WrittenFile& file);

// Before any file of `step` is written: creates `checkpoint_dir`, removes what killed saves left
// behind and, when `step` is saved again, its earlier files (the meta first). Throws
// std::runtime_error naming the directory.
void prepare_step(const std::string& checkpoint_dir, int64_t step);

// Writes meta_{step:06d}.json: `meta_data` plus step, format_version, world_size (default 1),
// created (UTC) and `files` ({name: file_record}), then fsyncs the directory. Once the meta is
// renamed into place the step is complete.
void commit_step(const std::string& checkpoint_dir, int64_t step, const nlohmann::json& meta_data,
                 const nlohmann::json& files);

}  // namespace nt
