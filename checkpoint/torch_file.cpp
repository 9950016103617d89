// torch.save-format files through LibTorch's zip writer and reader. The pickler writes tensors
// as storages with `_rebuild_tensor_v2`, which Python's torch.load (weights_only too) accepts.
#include "checkpoint/torch_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <sys/stat.h>
#include <stdexcept>

namespace nt {

WrittenFile save_torch_file(const c10::IValue& value, const std::string& path) {
  std::vector<char> pickle_bytes;
  torch::jit::Pickler pickler([&](const char* data, size_t size) {
    pickle_bytes.insert(pickle_bytes.end(), data, data + size);
  });
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
    caffe2::serialize::PyTorchStreamReader reader(path);
    return torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                             c10::nullopt, c10::nullopt, device, reader);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot read '" + path +
                             "' as a torch.save file: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read '" + path + "' as a torch.save file: " + e.what());
  }
}

}  // namespace nt
