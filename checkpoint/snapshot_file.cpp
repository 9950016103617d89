// The buffer's header record and the file operations its writers and readers share.
#include "checkpoint/snapshot_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "serialize/crc32c.h"

namespace nt {
namespace {

constexpr std::array<char, 8> kMagic = {'N', 'T', 'S', 'N', 'A', 'P', '0', '1'};

struct RawHeader {
  std::array<char, 8> magic;
  uint64_t job_key;
  int64_t step;
  uint32_t rank;
  uint32_t world_size;
  uint64_t payload_bytes;
  uint32_t payload_crc32c;
  uint32_t header_crc32c;
};
static_assert(sizeof(RawHeader) == sizeof(SnapshotHeaderRecord), "RawHeader has no padding");

}  // namespace

SnapshotHeaderRecord encode_snapshot_header(const SnapshotHeader& h) {
  RawHeader raw{kMagic,       h.job_key,       h.step,           h.rank,
                h.world_size, h.payload_bytes, h.payload_crc32c, 0};
  raw.header_crc32c = crc32c_extend(0, &raw, offsetof(RawHeader, header_crc32c));
  SnapshotHeaderRecord record;
  std::memcpy(record.data(), &raw, sizeof(raw));
  return record;
}

std::optional<SnapshotHeader> decode_snapshot_header(const SnapshotHeaderRecord& record) {
  RawHeader raw{};
  std::memcpy(&raw, record.data(), sizeof(raw));
  if (raw.magic != kMagic ||
      crc32c_extend(0, &raw, offsetof(RawHeader, header_crc32c)) != raw.header_crc32c)
    return std::nullopt;
  return SnapshotHeader{raw.job_key,    raw.step,          raw.rank,
                        raw.world_size, raw.payload_bytes, raw.payload_crc32c};
}

std::optional<SnapshotHeader> read_snapshot_header(const std::string& path, SnapshotCheck check) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  SnapshotHeaderRecord record{};
  if (::pread(fd.get(), record.data(), record.size(), 0) != static_cast<ssize_t>(record.size()))
    return std::nullopt;
  const auto header = decode_snapshot_header(record);
  if (!header || static_cast<uint64_t>(st.st_size) < kSnapshotHeaderBytes ||
      header->payload_bytes > static_cast<uint64_t>(st.st_size) - kSnapshotHeaderBytes)
    return std::nullopt;
  if (check == SnapshotCheck::kHeaderOnly) return header;
  std::vector<char> chunk(1 << 20);
  uint32_t crc = 0;
  for (uint64_t done = 0; done < header->payload_bytes;) {
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(chunk.size(), header->payload_bytes - done));
    const ssize_t n =
        ::pread(fd.get(), chunk.data(), want, static_cast<off_t>(kSnapshotHeaderBytes + done));
    if (n <= 0) return std::nullopt;
    crc = crc32c_extend(crc, chunk.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  if (crc != header->payload_crc32c) return std::nullopt;
  return header;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd open_snapshot_buffer(const std::string& path) {
  int raw_fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (raw_fd < 0 && errno == ENOENT)
    raw_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  Fd fd(raw_fd);
  if (fd.get() < 0)
    throw std::runtime_error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
      st.st_uid != ::geteuid())
    throw std::runtime_error(fmt::format("'{}' is not a private regular file", path));
  return fd;
}

void pwrite_all(int fd, const void* data, size_t size, uint64_t offset, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw std::runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

void pread_all(int fd, void* data, size_t size, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw std::runtime_error(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

}  // namespace nt
