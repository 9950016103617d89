// CPU flags and names from /proc/cpuinfo texts, the precision "auto" resolves to, and the CPU
// count taken from the affinity mask.
#include <gtest/gtest.h>
#include <sched.h>

#include <fstream>
#include <sstream>

#include "runtime/cpu_info.h"
#include "runtime/precision.h"
#include "tests/support/expect_error.h"

namespace nt {
namespace {

constexpr const char* kEpycMilan =
    "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
    "flags\t\t: fpu sse avx avx2 fma sha_ni\n\n"
    "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 avx512_bf16\n";
constexpr const char* kSapphireRapids =
    "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C\n"
    "flags\t\t: avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8\n";

TEST(Hardware, CpuInfoReadsTheFirstProcessorsNameAndBf16Flags) {
  const CpuInfo epyc = parse_cpu_info(kEpycMilan);
  EXPECT_EQ(epyc.model_name, "AMD EPYC 7B13");
  EXPECT_FALSE(epyc.bf16()) << "only the first processor's flags count";
  const CpuInfo spr = parse_cpu_info(kSapphireRapids);
  EXPECT_EQ(spr.model_name, "Intel(R) Xeon(R) Platinum 8481C");
  EXPECT_TRUE(spr.avx512_bf16);
  EXPECT_TRUE(spr.amx_bf16);
  EXPECT_TRUE(parse_cpu_info("flags : sse avx512_bf16\n").bf16());
  // A flag whose name merely contains the word does not count.
  EXPECT_FALSE(parse_cpu_info("flags : avx512_bf16x amx_bf16_extra\n").bf16());
  const CpuInfo empty = parse_cpu_info("");
  EXPECT_EQ(empty.model_name, "unknown");
  EXPECT_FALSE(empty.bf16());
}

TEST(Hardware, ThisMachineAgreesWithItsCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  std::stringstream text;
  text << in.rdbuf();
  const bool flagged = text.str().find(" avx512_bf16") != std::string::npos ||
                       text.str().find(" amx_bf16") != std::string::npos;
  EXPECT_EQ(bf16_matmul_native(torch::kCPU), flagged);
  EXPECT_EQ(resolve_matmul_dtype("auto", torch::kCPU, "muon_dtype"),
            flagged ? c10::kBFloat16 : c10::kFloat);
}

TEST(Hardware, MatmulDtypeNames) {
  EXPECT_EQ(resolve_matmul_dtype("float32", torch::kCPU, "k"), c10::kFloat);
  EXPECT_EQ(resolve_matmul_dtype("bfloat16", torch::kCPU, "k"), c10::kBFloat16);
  EXPECT_EQ(dtype_name(c10::kBFloat16), "bfloat16");
  EXPECT_EQ(dtype_name(c10::kFloat), "float32");
  testing::expect_error([] { resolve_matmul_dtype("fp16", torch::kCPU, "muon_dtype"); },
                        "muon_dtype: expected auto, bfloat16 or float32, found 'fp16'");
}

TEST(Hardware, CpuCountIsTheAffinityMask) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_EQ(allowed_cpu_count(), CPU_COUNT(&saved));
  int first = 0;
  while (!CPU_ISSET(first, &saved)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(allowed_cpu_count(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
}

TEST(Hardware, VisibleGpusFollowCudaVisibleDevicesThenSlurm) {
  EXPECT_EQ(count_visible_gpus(nullptr, nullptr, 8), 8);  // no binding: every GPU present
  EXPECT_EQ(count_visible_gpus("0,1", nullptr, 8), 2);
  EXPECT_EQ(count_visible_gpus("3, 5", "0,1,2,3", 8), 2);  // CUDA_VISIBLE_DEVICES wins
  EXPECT_EQ(count_visible_gpus(nullptr, "4,5,6", 8), 3);   // Slurm's binding
  EXPECT_EQ(count_visible_gpus("", nullptr, 8), 0);        // hides them all
  EXPECT_EQ(count_visible_gpus("-1", nullptr, 8), 0);
  EXPECT_EQ(count_visible_gpus("0,-1,2", nullptr, 8), 1);  // CUDA stops at the invalid entry
  EXPECT_EQ(count_visible_gpus("0,9,1", nullptr, 8), 1);   // index past the last GPU
  EXPECT_EQ(count_visible_gpus("GPU-8f1c,GPU-23ab", nullptr, 4), 2);
  EXPECT_EQ(count_visible_gpus("0,1", nullptr, 0), 0);  // a binding without GPUs
}

}  // namespace
}  // namespace nt
