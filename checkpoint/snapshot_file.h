// One snapshot buffer as it lies in the tmpfs: a 4 KiB header, then the payload. The header's
// first 48 bytes (magic, job key, step, rank, world size, payload bytes and CRC-32C, then a
// CRC-32C of those) commit the payload: they are cleared before it is rewritten and written
// after it. Shared by a rank's own buffers and the replicas another node keeps of them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace nt {

constexpr uint64_t kSnapshotHeaderBytes = 4096;  // the payload starts page-aligned

// What a header says; a buffer counts only when every field matches what the reader expects
// and the payload's CRC-32C is right.
struct SnapshotHeader {
  uint64_t job_key = 0;
  int64_t step = -1;
  uint32_t rank = 0;
  uint32_t world_size = 1;
  uint64_t payload_bytes = 0;
  uint32_t payload_crc32c = 0;
};

// The header's committed bytes (the rest of the 4 KiB is zeros).
using SnapshotHeaderRecord = std::array<char, 48>;

SnapshotHeaderRecord encode_snapshot_header(const SnapshotHeader& header);
// nullopt for bytes that are not a whole header: cleared, damaged, or all zeros.
std::optional<SnapshotHeader> decode_snapshot_header(const SnapshotHeaderRecord& record);

// kWhole: the payload's CRC-32C is checked too (a read of the whole file). kHeaderOnly: only the
// header record, for choosing among buffers that a whole check reads later anyway.
enum class SnapshotCheck { kWhole, kHeaderOnly };

// The header of the buffer at `path` when it is whole (and, with kWhole, its payload's CRC-32C
// is right); else nullopt (missing, not a regular file, cleared, short, damaged).
std::optional<SnapshotHeader> read_snapshot_header(const std::string& path,
                                                   SnapshotCheck check = SnapshotCheck::kWhole);

// An open file descriptor, closed when destroyed.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens the buffer at `path` for writing in a directory only this user can reach, creating it
// 0600 (O_EXCL) when missing and never following a symlink. Throws std::runtime_error naming
// the file unless it is a regular file of this user with one link.
Fd open_snapshot_buffer(const std::string& path);

// Whole writes and reads at `offset`; throw std::runtime_error naming `path`.
void pwrite_all(int fd, const void* data, size_t size, uint64_t offset, const std::string& path);
void pread_all(int fd, void* data, size_t size, uint64_t offset, const std::string& path);

}  // namespace nt
