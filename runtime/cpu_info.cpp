// CPU flags from /proc/cpuinfo rather than cpuid: the kernel clears flags it cannot enable
// (a hypervisor that hides AVX-512 state), so the file says what this process can really use.
#include "runtime/cpu_info.h"

#include <sched.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nt {
namespace {

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

}  // namespace

CpuInfo parse_cpu_info(const std::string& cpuinfo) {
  CpuInfo info;
  bool have_name = false, have_flags = false;
  std::istringstream in(cpuinfo);
  for (std::string line; std::getline(in, line) && !(have_name && have_flags);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "model name" && !have_name) {
      info.model_name = value.empty() ? info.model_name : value;
      have_name = true;
    } else if (key == "flags" && !have_flags) {
      std::istringstream flags(value);
      for (std::string flag; flags >> flag;) {
        info.avx512_bf16 |= flag == "avx512_bf16";
        info.amx_bf16 |= flag == "amx_bf16";
      }
      have_flags = true;
    }
  }
  return info;
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = [] {
    std::ifstream in("/proc/cpuinfo");
    std::stringstream text;
    text << in.rdbuf();
    return parse_cpu_info(text.str());
  }();
  return info;
}

int allowed_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

int count_visible_gpus(const char* cuda_visible_devices, const char* slurm_gpus, int gpus_present) {
  const char* list = cuda_visible_devices ? cuda_visible_devices : slurm_gpus;
  if (!list) return gpus_present;
  // CUDA stops at the first entry that names no device: -1, an index past the last GPU, or
  // nothing. UUIDs ("GPU-...", "MIG-...") are taken as valid.
  int count = 0;
  std::stringstream entries(list);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    entry.erase(0, entry.find_first_not_of(" \t"));
    if (entry.empty()) break;
    if (std::isdigit(static_cast<unsigned char>(entry[0])) || entry[0] == '-') {
      const long index = std::strtol(entry.c_str(), nullptr, 10);
      if (index < 0 || index >= gpus_present) break;
    }
    ++count;
  }
  return std::min(count, gpus_present);
}

int visible_gpu_count() {
  std::error_code ec;
  int present = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++present;
  const char* slurm = std::getenv("SLURM_STEP_GPUS");
  if (!slurm) slurm = std::getenv("SLURM_JOB_GPUS");
  return count_visible_gpus(std::getenv("CUDA_VISIBLE_DEVICES"), slurm, present);
}

}  // namespace nt
