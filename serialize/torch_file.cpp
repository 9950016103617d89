// torch.save-format files through LibTorch's zip writer and reader. The pickler writes tensors
// as storages with `_rebuild_tensor_v2`, and dicts and lists untagged: torch.load's weights_only
// mode (the default since PyTorch 2.6) refuses the TorchScript type tags (restore_type_tag).
// Reading goes through nanotrain's own unpickler, because LibTorch's cannot read what Python
// writes (an OrderedDict state_dict, APPEND, SETITEM), from a whole file or from a region of one
// (torch.distributed.checkpoint's .distcp files are archives laid end to end).
#include "serialize/torch_file.h"

#include <ATen/Functions.h>
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "serialize/pickle_reader.h"

namespace nt {
namespace {

// Bytes [offset, offset + length) of a file as the zip reader's input. A region that does not
// lie inside the file is an error here, before the reader looks for its end record.
class FileRegion : public caffe2::serialize::ReadAdapterInterface {
 public:
  FileRegion(const std::string& path, uint64_t offset, uint64_t length)
      : path_(path), offset_(offset), length_(length) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw std::runtime_error(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
    struct stat st;
    if (::fstat(fd_, &st) != 0 || offset > static_cast<uint64_t>(st.st_size) ||
        length > static_cast<uint64_t>(st.st_size) - offset) {
      ::close(fd_);
      throw std::runtime_error(
          fmt::format("{}: expected bytes [{}, {}), the file holds {} (truncated?)", path, offset,
                      offset + length, static_cast<uint64_t>(st.st_size)));
    }
  }
  ~FileRegion() override { ::close(fd_); }
  FileRegion(const FileRegion&) = delete;
  FileRegion& operator=(const FileRegion&) = delete;

  size_t size() const override { return length_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what) const override {
    if (pos >= length_) return 0;
    n = std::min<uint64_t>(n, length_ - pos);
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, static_cast<char*>(buf) + done, n - done,
                                  static_cast<off_t>(offset_ + pos + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw std::runtime_error(fmt::format("cannot read '{}' ({}): {}", path_, what,
                                             got < 0 ? std::strerror(errno) : "unexpected end"));
      done += static_cast<size_t>(got);
    }
    return n;
  }

 private:
  std::string path_;
  uint64_t offset_, length_;
  int fd_ = -1;
};

}  // namespace

void write_torch_archive(const c10::IValue& value,
                         const std::function<void(const void*, size_t)>& write,
                         const std::string& where) {
  std::vector<char> pickle_bytes;
  torch::jit::Pickler pickler(
      [&](const char* data, size_t size) {
        pickle_bytes.insert(pickle_bytes.end(), data, data + size);
      },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();

  // The zip writer must never see a failed write: its destructor finalizes the archive and
  // would throw from there. So the first error is kept, later writes are dropped, and the
  // error is raised once the writer is gone.
  std::string write_error;
  try {
    caffe2::serialize::PyTorchStreamWriter zip([&](const void* data, size_t size) {
      if (write_error.empty()) {
        try {
          write(data, size);
        } catch (const std::exception& e) {
          write_error = e.what();
        }
      }
      return size;
    });
    torch::jit::writeArchiveAndTensors("data", pickle_bytes.data(), pickle_bytes.size(),
                                       pickler.tensorData(), zip);
    zip.writeEndOfFile();
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot write '" + where + "': " + e.what_without_backtrace());
  }
  if (!write_error.empty()) throw std::runtime_error(write_error);
}

WrittenFile save_torch_file(const c10::IValue& value, const std::string& path) {
  AtomicFileWriter file(path);
  write_torch_archive(
      value, [&](const void* data, size_t size) { file.write(data, size); }, path);
  return file.commit();
}

namespace {

c10::IValue load_archive(const std::string& path, c10::Device device, uint64_t offset,
                         uint64_t length, const std::string& where) {
  try {
    // The reader finds the archive's top folder itself: Python names it after the file's stem,
    // nanotrain's writer "archive".
    caffe2::serialize::PyTorchStreamReader reader(
        std::make_shared<FileRegion>(path, offset, length));
    auto [pickle, pickle_size] = reader.getRecord("data.pkl");
    const StorageLoader load_storage = [&](const std::string& key, at::ScalarType dtype,
                                           int64_t numel) {
      const std::string record = "data/" + key;
      if (!reader.hasRecord(record))
        throw std::runtime_error(
            fmt::format("{}: storage '{}' has no record {}", where, key, record));
      auto [data, bytes] = reader.getRecord(record);
      const auto expected = static_cast<uint64_t>(numel) * c10::elementSize(dtype);
      if (bytes != expected)
        throw std::runtime_error(fmt::format("{}: record {}: expected {} bytes ({} x {}), found {}",
                                             where, record, expected, numel, c10::toString(dtype),
                                             bytes));
      // The record's buffer becomes the storage: no copy on the CPU.
      c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(data),
                           /*allocator=*/nullptr, /*resizable=*/false);
      at::Tensor flat =
          at::empty({0}, at::TensorOptions().dtype(dtype)).set_(storage, 0, {numel}, {1});
      return device.is_cpu() ? flat : flat.to(device);
    };
    return unpickle(static_cast<const char*>(pickle.get()), pickle_size, load_storage, where);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot read '" + where +
                             "' as a torch.save file: " + e.what_without_backtrace());
  }
}

}  // namespace

c10::IValue load_torch_file(const std::string& path, c10::Device device) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error("cannot read '" + path + "': no such file");
  return load_archive(path, device, 0, static_cast<uint64_t>(st.st_size), path);
}

c10::IValue load_torch_file(const std::string& path, c10::Device device, uint64_t offset,
                            uint64_t length) {
  return load_archive(path, device, offset, length,
                      fmt::format("{} bytes [{}, {})", path, offset, offset + length));
}

}  // namespace nt
