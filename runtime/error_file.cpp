// torchrun's error-file format, written atomically enough for a reader that only looks after
// the worker exited.
#include "runtime/error_file.h"

#include <cxxabi.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <typeinfo>

namespace nt {

void record_error_file(const std::exception& error) {
  const char* path = std::getenv("TORCHELASTIC_ERROR_FILE");
  if (!path || !*path) return;
  try {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> type(
        abi::__cxa_demangle(typeid(error).name(), nullptr, nullptr, &status), std::free);
    const std::string message =
        std::string(status == 0 && type ? type.get() : "std::exception") + ": " + error.what();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    const nlohmann::json record = {
        {"message",
         {{"message", message},
          {"extraInfo", {{"py_callstack", message}, {"timestamp", std::to_string(seconds)}}}}}};
    std::ofstream(path) << record.dump();
  } catch (...) {
    // Nothing to do: the failure itself is still reported on stderr and in the exit code.
  }
}

}  // namespace nt
