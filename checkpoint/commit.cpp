// Both layouts end the same way: the meta, renamed into place, is the commit. A failure before
// that takes the step's files with it: the step is not complete, and the space may be what the
// next save needs.
#include "checkpoint/commit.h"

#include <fmt/format.h>

#include <filesystem>
#include <stdexcept>

#include "checkpoint/layout.h"
#include "checkpoint/meta.h"
#include "checkpoint/retention.h"
#include "runtime/crash_point.h"
#include "runtime/log.h"
#include "serialize/crc32c.h"

namespace fs = std::filesystem;

namespace nt {

nlohmann::json file_record(const WrittenFile& file) {
  return {{"bytes", file.bytes}, {"crc32c", crc32c_hex(file.crc32c)}};
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

void commit_step(const std::string& checkpoint_dir, int64_t step, const nlohmann::json& meta_data,
                 const nlohmann::json& files) {
  const std::string meta_path = checkpoint_dir + "/" + meta_file_name(step);
  try {
    crash_point("before_meta");
    nlohmann::json meta = meta_data;
    meta["step"] = step;
    meta["format_version"] = kMetaFormatVersion;
    meta["world_size"] = meta_data.value("world_size", 1);
    meta["created"] = utc_timestamp();
    meta["files"] = files;
    write_file_atomically(meta_path, meta.dump(2) + "\n");
  } catch (...) {
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

}  // namespace nt
