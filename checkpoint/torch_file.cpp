// torch.save-format files through LibTorch's zip writer and reader. The pickler writes tensors
// as storages with `_rebuild_tensor_v2`, and dicts and lists untagged: torch.load's weights_only
// mode (the default since PyTorch 2.6) refuses the TorchScript type tags (restore_type_tag).
// Reading goes through nanotrain's own unpickler, because LibTorch's cannot read what Python
// writes (an OrderedDict state_dict, APPEND, SETITEM).
#include "checkpoint/torch_file.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <sys/stat.h>
#include <stdexcept>

#include "checkpoint/pickle_reader.h"

namespace nt {

WrittenFile save_torch_file(const c10::IValue& value, const std::string& path) {
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

  AtomicFileWriter file(path);
  // The zip writer must never see a failed write: its destructor finalizes the archive and
  // would throw from there. So the first error is kept, later writes are dropped, and the
  // error is raised once the writer is gone.
  std::string write_error;
  try {
    caffe2::serialize::PyTorchStreamWriter zip([&](const void* data, size_t size) {
      if (write_error.empty()) {
        try {
          file.write(data, size);
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
    throw std::runtime_error("cannot write '" + path + "': " + e.what_without_backtrace());
  }
  if (!write_error.empty()) throw std::runtime_error(write_error);
  return file.commit();
}

c10::IValue load_torch_file(const std::string& path, c10::Device device) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error("cannot read '" + path + "': no such file");
  try {
    // The reader finds the archive's top folder itself: Python names it after the file's stem,
    // nanotrain's writer "archive".
    caffe2::serialize::PyTorchStreamReader reader(path);
    auto [pickle, pickle_size] = reader.getRecord("data.pkl");
    const StorageLoader load_storage = [&](const std::string& key, at::ScalarType dtype,
                                           int64_t numel) {
      const std::string record = "data/" + key;
      if (!reader.hasRecord(record))
        throw std::runtime_error(
            fmt::format("{}: storage '{}' has no record {}", path, key, record));
      auto [data, bytes] = reader.getRecord(record);
      const auto expected = static_cast<uint64_t>(numel) * c10::elementSize(dtype);
      if (bytes != expected)
        throw std::runtime_error(fmt::format("{}: record {}: expected {} bytes ({} x {}), found {}",
                                             path, record, expected, numel, c10::toString(dtype),
                                             bytes));
      // The record's buffer becomes the storage: no copy on the CPU.
      c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(data),
                           /*allocator=*/nullptr, /*resizable=*/false);
      at::Tensor flat =
          at::empty({0}, at::TensorOptions().dtype(dtype)).set_(storage, 0, {numel}, {1});
      return device.is_cpu() ? flat : flat.to(device);
    };
    return unpickle(static_cast<const char*>(pickle.get()), pickle_size, load_storage, path);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot read '" + path +
                             "' as a torch.save file: " + e.what_without_backtrace());
  }
}

}  // namespace nt
