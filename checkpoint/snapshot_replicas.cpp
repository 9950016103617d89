// The replica protocol, one buffer at a time on a tag stream: the sender's header record (48
// bytes; 48 zeros end the stream), the receiver's answer (1: kept, 0: refused, its log says
// why), then the payload in chunks, sent from and received into memory maps of the two files
// (no copy of their own). The receiver reserves the whole file before it answers, so a full
// tmpfs refuses up front instead of failing half-way (or faulting in the map), and it writes the
// header record last, as the store does, so a sender killed mid-transfer leaves no replica that
// counts.
#include "checkpoint/snapshot_replicas.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "runtime/crash_point.h"
#include "runtime/log.h"

namespace nt {
namespace {

constexpr int kStreamTags = 1;   // the background stream: tags 1, 2, 3
constexpr int kRestoreTags = 4;  // a restart's restores: tags 4, 5, 6
constexpr uint64_t kChunkBytes = uint64_t{8} << 20;

// A file's first `bytes` bytes mapped shared; unmapped when destroyed.
class Mapping {
 public:
  Mapping(int fd, uint64_t bytes, bool writable, const std::string& path) : bytes_(bytes) {
    data_ =
        ::mmap(nullptr, bytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (data_ == MAP_FAILED)
      throw std::runtime_error(fmt::format("cannot map '{}': {}", path, std::strerror(errno)));
  }
  ~Mapping() { ::munmap(data_, bytes_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  char* at(uint64_t offset) const { return static_cast<char*>(data_) + offset; }

 private:
  void* data_;
  uint64_t bytes_;
};

// Sends the complete buffer at `path` to `to`; false when `to` refused it.
bool send_buffer(PeerChannel& channel, const std::string& path, int to, int tags) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0)
    throw std::runtime_error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  SnapshotHeaderRecord record{};
  pread_all(fd.get(), record.data(), record.size(), 0, path);
  const auto header = decode_snapshot_header(record);
  if (!header) throw std::runtime_error(fmt::format("'{}' holds no complete snapshot", path));
  channel.send(record.data(), record.size(), to, tags);
  int64_t kept = 0;
  channel.recv(&kept, sizeof(kept), to, tags + 1);
  if (!kept) return false;
  // The caller keeps the buffer from being rewritten (SnapshotReplicas::release) meanwhile.
  const Mapping file(fd.get(), kSnapshotHeaderBytes + header->payload_bytes, false, path);
  for (uint64_t done = 0; done < header->payload_bytes;) {
    const size_t n = static_cast<size_t>(std::min(kChunkBytes, header->payload_bytes - done));
    channel.send(file.at(kSnapshotHeaderBytes + done), n, to, tags + 2);
    done += n;
  }
  return true;
}

struct Received {
  bool end = false;     // the sender said nothing more comes
  std::string refused;  // why this buffer was not kept ("" when it was)
  int64_t step = -1;
};

// Receives one buffer from `from` into `path`, unless `problem` finds a reason to refuse its
// header. Throws std::runtime_error only when the channel fails (the peer is gone); a file
// that cannot be written is a refusal, so the stream stays in step.
Received receive_buffer(PeerChannel& channel, int from, const std::string& path,
                        const std::function<std::string(const SnapshotHeader&)>& problem,
                        int tags) {
  SnapshotHeaderRecord record{};
  channel.recv(record.data(), record.size(), from, tags);
  if (record == SnapshotHeaderRecord{}) return {true, "", -1};
  const auto header = decode_snapshot_header(record);
  Received got{false, header ? problem(*header) : "a damaged header record", -1};
  std::optional<Fd> fd;
  std::optional<Mapping> file;
  if (got.refused.empty()) {
    try {
      fd.emplace(open_snapshot_buffer(path));
      const SnapshotHeaderRecord cleared{};
      pwrite_all(fd->get(), cleared.data(), cleared.size(), 0, path);
      const auto size = static_cast<off_t>(kSnapshotHeaderBytes + header->payload_bytes);
      if (::ftruncate(fd->get(), size) != 0)
        throw std::runtime_error(fmt::format("cannot size '{}': {}", path, std::strerror(errno)));
      if (const int error = ::posix_fallocate(fd->get(), 0, size))
        throw std::runtime_error(fmt::format("cannot reserve {:.1f} MB for '{}': {}", size / 1e6,
                                             path, std::strerror(error)));
      file.emplace(fd->get(), static_cast<uint64_t>(size), true, path);
    } catch (const std::exception& e) {
      got.refused = e.what();
      if (fd) ::ftruncate(fd->get(), 0);  // give the tmpfs its pages back
    }
  }
  const int64_t kept = got.refused.empty() ? 1 : 0;
  channel.send(&kept, sizeof(kept), from, tags + 1);
  if (!kept) return got;
  for (uint64_t done = 0; done < header->payload_bytes;) {
    const size_t n = static_cast<size_t>(std::min(kChunkBytes, header->payload_bytes - done));
    channel.recv(file->at(kSnapshotHeaderBytes + done), n, from, tags + 2);
    done += n;
  }
  file.reset();
  crash_point("replica_before_header");
  try {
    pwrite_all(fd->get(), record.data(), record.size(), 0, path);
  } catch (const std::exception& e) {
    got.refused = e.what();  // the stream is still in step: only this replica does not count
    return got;
  }
  got.step = header->step;
  return got;
}

}  // namespace

int replica_target(int rank, int local_world_size, int world_size) {
  return (rank + local_world_size) % world_size;
}

int replica_source(int rank, int local_world_size, int world_size) {
  return (rank - local_world_size + world_size) % world_size;
}

SnapshotReplicas::SnapshotReplicas(SnapshotStore& store, std::unique_ptr<PeerChannel> channel,
                                   int rank, int local_world_size, int world_size)
    : store_(store),
      channel_(std::move(channel)),
      rank_(rank),
      target_(replica_target(rank, local_world_size, world_size)),
      source_(replica_source(rank, local_world_size, world_size)) {}

SnapshotReplicas::~SnapshotReplicas() {
  if (!finished_) {
    closing_ = true;
    channel_->abort();  // the job is failing: nobody answers any more
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back({-1});
  }
  changed_.notify_all();
  if (sender_.joinable()) sender_.join();
  if (receiver_.joinable()) receiver_.join();
}

std::vector<int64_t> SnapshotReplicas::steps() const {
  return store_.complete_steps(source_, SnapshotStore::Kind::kReplica);
}

void SnapshotReplicas::restore_to(int to, int64_t step) {
  for (int index = 0; index < 2; ++index) {
    const std::string path = store_.buffer_path(source_, index, SnapshotStore::Kind::kReplica);
    // steps() checked it whole; the rank that takes it back reads it whole again.
    const auto header = read_snapshot_header(path, SnapshotCheck::kHeaderOnly);
    if (!header || !store_.is_ours(*header, source_) || header->step != step) continue;
    if (!send_buffer(*channel_, path, to, kRestoreTags))
      throw std::runtime_error(fmt::format(
          "rank {} did not take back its snapshot of step {} from {} (its log says why)", to, step,
          path));
    return;
  }
  throw std::runtime_error(
      fmt::format("{}: no complete replica of rank {}'s step {}", store_.dir(), source_, step));
}

void SnapshotReplicas::restore_from(int from, int64_t step) {
  for (int index = 0; index < 2; ++index) ::unlink(store_.buffer_path(rank_, index).c_str());
  const auto got = receive_buffer(
      *channel_, from, store_.buffer_path(rank_, 0),
      [&](const SnapshotHeader& h) -> std::string {
        if (!store_.enabled()) return "snapshots are off here: " + store_.disabled_reason();
        if (!store_.is_ours(h, rank_) || h.step != step)
          return fmt::format("expected rank {}'s step {}, found rank {}'s step {}", rank_, step,
                             h.rank, h.step);
        return "";
      },
      kRestoreTags);
  if (!got.refused.empty())
    throw std::runtime_error(
        fmt::format("rank {}: the replica from rank {}: {}", rank_, from, got.refused));
}

void SnapshotReplicas::start(int64_t resumed_step) {
  next_replica_ = 0;
  for (int index = 0; index < 2; ++index) {
    const std::string path = store_.buffer_path(source_, index, SnapshotStore::Kind::kReplica);
    const auto header = read_snapshot_header(path, SnapshotCheck::kHeaderOnly);
    if (resumed_step >= 0 && header && store_.is_ours(*header, source_) &&
        header->step == resumed_step)
      next_replica_ = 1 - index;
    else
      ::unlink(path.c_str());  // an earlier job's, or a later step of the attempt that died
  }
  const std::string off =
      store_.enabled() ? "" : "snapshots are off here: " + store_.disabled_reason();
  receiver_ = std::thread([this, off] {
    try {
      bool said = false;
      while (true) {
        const auto got = receive_buffer(
            *channel_, source_,
            store_.buffer_path(source_, next_replica_, SnapshotStore::Kind::kReplica),
            [&](const SnapshotHeader& h) -> std::string {
              if (!off.empty()) return off;
              return store_.is_ours(h, source_) ? ""
                                                : "not this job's, rank's or world size's header";
            },
            kStreamTags);
        if (got.end) return;
        if (got.refused.empty()) {
          next_replica_ = 1 - next_replica_;
        } else if (!said) {
          said = true;
          spdlog::info("warning: not keeping rank {}'s snapshots: {}", source_, got.refused);
        }
      }
    } catch (const std::exception& e) {
      if (!closing_) spdlog::info("warning: replicas of rank {} stopped: {}", source_, e.what());
    }
  });
  sender_ = std::thread([this] { send_loop(); });
}

void SnapshotReplicas::send_loop() {
  while (true) {
    int index;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [this] { return !queue_.empty(); });
      index = queue_.front().index;
      queue_.pop_front();
      sending_ = index;
    }
    try {
      if (index < 0) {
        const SnapshotHeaderRecord end{};
        channel_->send(end.data(), end.size(), target_, kStreamTags);
        return;
      }
      if (!refused_ &&
          !send_buffer(*channel_, store_.buffer_path(rank_, index), target_, kStreamTags)) {
        refused_ = true;
        spdlog::info(
            "warning: rank {} keeps no replica of rank {}'s snapshots (its log says why): a loss "
            "of this node falls back to the disk",
            target_, rank_);
      }
    } catch (const std::exception& e) {
      if (!closing_) spdlog::info("warning: replicas to rank {} stopped: {}", target_, e.what());
      refused_ = true;
      if (index < 0) return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sending_ = -1;
    }
    changed_.notify_all();
  }
}

void SnapshotReplicas::send_newest() {
  const int index = store_.newest_buffer();
  if (index < 0 || !sender_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back({index});
  }
  changed_.notify_all();
}

void SnapshotReplicas::release(int index) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] {
    return sending_ != index && std::none_of(queue_.begin(), queue_.end(),
                                             [&](const Pending& p) { return p.index == index; });
  });
}

void SnapshotReplicas::finish() {
  if (!sender_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back({-1});
  }
  changed_.notify_all();
  sender_.join();
  receiver_.join();
  finished_ = true;
  for (int index = 0; index < 2; ++index)
    ::unlink(store_.buffer_path(source_, index, SnapshotStore::Kind::kReplica).c_str());
}

}  // namespace nt
