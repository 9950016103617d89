// The snapshot buffers: a header that commits the payload before it, a private directory, and
// the background copy. The header is the only commit record, so it is cleared before a buffer
// is rewritten and written after the payload: a kill at any point leaves either the previous
// snapshot of that buffer (header intact) or a buffer that does not count.
#include "checkpoint/snapshot.h"

#include <ATen/ATen.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "checkpoint/flat_ivalue.h"
#include "checkpoint/snapshot_file.h"
#include "runtime/crash_point.h"
#include "runtime/log.h"
#include "serialize/crc32c.h"

namespace nt {
namespace {

uint64_t fnv1a(uint64_t hash, const std::string& text) {
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  return ::getcwd(cwd, sizeof(cwd)) ? std::string(cwd) + "/" + path : path;
}

std::string errno_text() {
  return std::strerror(errno);
}

// The value a checked payload of `payload_bytes` describes, its tensors read into memory of
// their own. Throws std::runtime_error naming the file when the description does not fit.
c10::IValue read_payload(const std::string& path, uint64_t payload_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0)
    throw std::runtime_error(fmt::format("cannot open '{}': {}", path, errno_text()));
  uint64_t length = 0;
  pread_all(fd.get(), &length, sizeof(length), kSnapshotHeaderBytes, path);
  if (length > payload_bytes - sizeof(length))
    throw std::runtime_error(fmt::format("{}: a description of {} bytes in a payload of {}", path,
                                         length, payload_bytes));
  std::string text(length, '\0');
  pread_all(fd.get(), text.data(), length, kSnapshotHeaderBytes + sizeof(length), path);
  try {
    const auto description = nlohmann::json::parse(text);
    const uint64_t start = (sizeof(length) + length + 63) / 64 * 64;  // where the tensors begin
    std::vector<at::Tensor> tensors;
    for (const auto& entry : description.at("tensors")) {
      const auto offset = start + entry.at("offset").get<uint64_t>();
      const auto bytes = entry.at("bytes").get<uint64_t>();
      auto t = at::empty(
          entry.at("shape").get<std::vector<int64_t>>(),
          at::TensorOptions().dtype(dtype_from_name(entry.at("dtype").get<std::string>(), path)));
      if (t.nbytes() != bytes || offset > payload_bytes || bytes > payload_bytes - offset)
        throw std::runtime_error(
            fmt::format("{}: a tensor of {} bytes at {} does not fit", path, bytes, offset));
      pread_all(fd.get(), t.data_ptr(), bytes, kSnapshotHeaderBytes + offset, path);
      tensors.push_back(std::move(t));
    }
    return unflatten_ivalue(description.at("value"), tensors, path);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
  }
}

// An upper bound on a payload's size: its tensors' bytes plus room for the pickle and zip.
uint64_t estimated_bytes(const c10::IValue& value) {
  if (value.isTensor()) return value.toTensor().nbytes() + 256;
  uint64_t sum = 64;
  if (value.isGenericDict())
    for (const auto& item : value.toGenericDict()) sum += estimated_bytes(item.value()) + 64;
  else if (value.isList())
    for (const auto& item : value.toListRef()) sum += estimated_bytes(item);
  else if (value.isString())
    sum += value.toStringRef().size();
  return sum;
}

// "" when `dir` exists (or was created) as a directory that only this user can reach: /dev/shm is
// shared by every user of the node, and nobody else may plant, read or replace a snapshot.
std::string private_dir_problem(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fmt::format("cannot create '{}': {}", dir, errno_text());
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return fmt::format("'{}': {}", dir, errno_text());
  if (!S_ISDIR(st.st_mode)) return fmt::format("'{}' is not a directory", dir);
  if (st.st_uid != ::geteuid())
    return fmt::format("'{}' belongs to uid {}, not to this user ({})", dir, st.st_uid,
                       ::geteuid());
  if ((st.st_mode & 077) != 0)
    return fmt::format("'{}' has mode {:o}: others could reach it (expected 700)", dir,
                       st.st_mode & 0777);
  return "";
}

std::string megabytes(uint64_t bytes) {
  return fmt::format("{:.1f} MB", bytes / 1e6);
}

}  // namespace

std::string snapshot_dir(const std::string& root, const std::string& checkpoint_dir) {
  return fmt::format("{}/nanotrain-{}-{:016x}", root, ::geteuid(),
                     fnv1a(14695981039346656037ull, absolute(checkpoint_dir)));
}

uint64_t snapshot_job_key(const std::string& job_secret, const std::string& checkpoint_dir) {
  return fnv1a(fnv1a(14695981039346656037ull, job_secret) ^ 0x9e3779b97f4a7c15ull,
               absolute(checkpoint_dir));
}

SnapshotStore::SnapshotStore(SnapshotOptions options)
    : options_(std::move(options)), disabled_reason_(private_dir_problem(options_.dir)) {}

SnapshotStore::~SnapshotStore() {
  if (worker_.joinable()) worker_.join();
}

std::string SnapshotStore::buffer_path(int rank, int index, Kind kind) const {
  return fmt::format("{}/{}{}.{}", options_.dir, kind == Kind::kOwn ? "rank" : "replica", rank,
                     index);
}

bool SnapshotStore::is_ours(const SnapshotHeader& header, int rank) const {
  return header.job_key == options_.job_key && header.rank == static_cast<uint32_t>(rank) &&
         header.world_size == static_cast<uint32_t>(options_.world_size);
}

std::vector<int64_t> SnapshotStore::complete_steps(int rank, Kind kind) const {
  std::vector<int64_t> steps;
  if (!enabled()) return steps;
  for (int index = 0; index < 2; ++index) {
    const auto header = read_snapshot_header(buffer_path(rank, index, kind));
    if (header && is_ours(*header, rank)) steps.push_back(header->step);
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

std::string SnapshotStore::other_world_sizes(int rank) const {
  std::vector<std::string> found;
  if (!enabled()) return "";
  for (int index = 0; index < 2; ++index) {
    const auto header = read_snapshot_header(buffer_path(rank, index));
    if (header && header->job_key == options_.job_key &&
        header->rank == static_cast<uint32_t>(rank) &&
        header->world_size != static_cast<uint32_t>(options_.world_size))
      found.push_back(fmt::format("rank{}.{} holds step {} of a world of {} ranks, not {}", rank,
                                  index, header->step, header->world_size, options_.world_size));
  }
  return fmt::format("{}", fmt::join(found, "; "));
}

c10::IValue SnapshotStore::read(int64_t step, int rank) const {
  for (int index = 0; index < 2; ++index) {
    const std::string path = buffer_path(rank, index);
    const auto header = read_snapshot_header(path);
    if (header && is_ours(*header, rank) && header->step == step)
      return read_payload(path, header->payload_bytes);
  }
  throw std::runtime_error(
      fmt::format("{}: no complete snapshot of step {} for rank {}", options_.dir, step, rank));
}

void SnapshotStore::keep_only(int64_t step) {
  wait();
  for (int index = 0; index < 2; ++index) {
    // The step was just loaded from one of them, checked whole.
    const auto header =
        read_snapshot_header(buffer_path(options_.rank, index), SnapshotCheck::kHeaderOnly);
    if (header && header->step == step && header->job_key == options_.job_key) {
      next_ = 1 - index;
      newest_ = index;
      // The other buffer may hold a later step of the attempt that died: it must not count.
      ::unlink(buffer_path(options_.rank, next_).c_str());
      return;
    }
  }
}

void SnapshotStore::begin(int64_t step, c10::IValue payload, std::function<void()> before_reading) {
  wait();
  if (!enabled()) return;
  if (buffer_bytes_ == 0) {
    // Before the first copy: two buffers must fit beside what this rank's files hold already.
    struct statvfs fs {};
    if (::statvfs(options_.dir.c_str(), &fs) == 0) {
      uint64_t held = 0;
      for (int index = 0; index < 2; ++index) {
        struct stat st {};
        if (::lstat(buffer_path(options_.rank, index).c_str(), &st) == 0)
          held += static_cast<uint64_t>(st.st_blocks) * 512;
      }
      const uint64_t need = 2 * (kSnapshotHeaderBytes + estimated_bytes(payload));
      const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize + held;
      if (need > free_bytes) {
        disabled_reason_ =
            fmt::format("two snapshot buffers need {} for rank {}, {} has {} free", megabytes(need),
                        options_.rank, options_.dir, megabytes(free_bytes));
        spdlog::info("warning: snapshots off: {}; recovery falls back to the disk",
                     disabled_reason_);
        remove_files();
        return;
      }
    }
  }
  const int index = next_;
  next_ = 1 - next_;
  newest_ = -1;  // until this copy ends; the other buffer keeps the older step
  worker_ = std::thread([this, index, step, payload = std::move(payload),
                         before_reading = std::move(before_reading)] {
    try {
      if (before_reading) before_reading();
      write(index, step, payload);
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  });
}

void SnapshotStore::write(int index, int64_t step, const c10::IValue& payload) {
  const std::string path = buffer_path(options_.rank, index);
  // The directory is ours alone (checked when opened); O_NOFOLLOW and O_EXCL guard the rest.
  const Fd fd = open_snapshot_buffer(path);
  const SnapshotHeaderRecord cleared{};
  pwrite_all(fd.get(), cleared.data(), cleared.size(), 0, path);
  // The payload: the description's length and JSON, then each tensor's bytes, every part
  // starting 64-byte aligned; the CRC-32C covers it all, padding included.
  const FlatIValue flat = flatten_ivalue(payload);
  auto aligned = [](uint64_t n) { return (n + 63) / 64 * 64; };
  nlohmann::json tensors = nlohmann::json::array();
  uint64_t offset = 0;  // from the start of the tensors, after the description
  for (const auto& t : flat.tensors) {
    tensors.push_back({{"dtype", dtype_to_name(t.scalar_type())},
                       {"shape", t.sizes().vec()},
                       {"offset", offset},
                       {"bytes", t.nbytes()}});
    offset = aligned(offset + t.nbytes());
  }
  const std::string description =
      nlohmann::json{{"value", flat.structure}, {"tensors", tensors}}.dump();
  uint64_t written = 0;
  uint32_t crc = 0;
  const std::array<char, 64> zeros{};
  auto emit = [&](const void* data, size_t size) {
    pwrite_all(fd.get(), data, size, kSnapshotHeaderBytes + written, path);
    crc = crc32c_extend(crc, data, size);
    written += size;
  };
  auto pad = [&] { emit(zeros.data(), aligned(written) - written); };
  const uint64_t length = description.size();
  emit(&length, sizeof(length));
  emit(description.data(), description.size());
  pad();
  for (const auto& t : flat.tensors) {
    emit(t.data_ptr(), t.nbytes());
    pad();
  }
  crash_point("snapshot_before_header");
  const auto record =
      encode_snapshot_header({options_.job_key, step, static_cast<uint32_t>(options_.rank),
                              static_cast<uint32_t>(options_.world_size), written, crc});
  pwrite_all(fd.get(), record.data(), record.size(), 0, path);
  buffer_bytes_ = kSnapshotHeaderBytes + written;
  newest_ = index;
}

void SnapshotStore::wait() {
  if (!worker_.joinable()) return;
  worker_.join();
  if (error_.empty()) return;
  disable(error_);
  error_.clear();
}

void SnapshotStore::disable(const std::string& reason) {
  if (!enabled()) return;
  disabled_reason_ = reason;
  newest_ = -1;
  spdlog::info("warning: snapshots off: {}; recovery falls back to the disk", disabled_reason_);
  remove_files();  // a full tmpfs is shared with the node: give its pages back
}

std::string SnapshotStore::side_file(const std::string& name) const {
  return fmt::format("{}/{}.rank{}", options_.dir, name, options_.rank);
}

void SnapshotStore::remove_files() {
  if (worker_.joinable()) worker_.join();
  for (int index = 0; index < 2; ++index) ::unlink(buffer_path(options_.rank, index).c_str());
  const std::string suffix = fmt::format(".rank{}", options_.rank);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      ::unlink(entry.path().c_str());
  }
}

void SnapshotStore::finish() {
  remove_files();
  ::rmdir(options_.dir.c_str());  // fails until the node's last rank has removed its files
}

}  // namespace nt
