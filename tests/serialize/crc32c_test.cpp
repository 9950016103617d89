// CRC-32C against the standard check value and the incremental contract.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "serialize/crc32c.h"

namespace nt {
namespace {

TEST(Crc32c, MatchesStandardCheckValues) {
  // The CRC-32C check value (RFC 3720, and every CRC catalogue): "123456789" -> e3069283.
  const std::string check = "123456789";
  EXPECT_EQ(crc32c_hex(crc32c_extend(0, check.data(), check.size())), "e3069283");
  EXPECT_EQ(crc32c_extend(0, "", 0), 0u);
  const std::string zeros(32, '\0');  // RFC 3720 B.4: 32 bytes of zeros -> 8a9136aa
  EXPECT_EQ(crc32c_hex(crc32c_extend(0, zeros.data(), zeros.size())), "8a9136aa");
}

TEST(Crc32c, ExtendsAcrossChunks) {
  std::string data(10007, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  const uint32_t whole = crc32c_extend(0, data.data(), data.size());
  for (size_t split : {0ul, 1ul, 7ul, 8ul, 4096ul, 10006ul}) {
    uint32_t crc = crc32c_extend(0, data.data(), split);
    crc = crc32c_extend(crc, data.data() + split, data.size() - split);
    EXPECT_EQ(crc, whole) << split;
  }
}

// Bit by bit, straight from the definition: the reference the fast paths must equal.
uint32_t crc32c_bitwise(const unsigned char* p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

// Long inputs go through three interleaved streams joined by shifts; every length around the
// 24 KiB block boundaries, and unaligned starts, must agree with the definition.
TEST(Crc32c, LongInputsMatchTheDefinition) {
  std::vector<unsigned char> data(3 * 3 * 8192 + 123);
  uint64_t x = 88172645463325252ull;
  for (auto& b : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = static_cast<unsigned char>(x);
  }
  for (size_t offset : {0ul, 1ul, 5ul}) {
    for (size_t n : {24575ul, 24576ul, 24577ul, 49152ul, 49159ul, 3 * 3 * 8192ul + 100}) {
      if (offset + n > data.size()) continue;
      EXPECT_EQ(crc32c_extend(0, data.data() + offset, n), crc32c_bitwise(data.data() + offset, n))
          << "offset " << offset << ", " << n << " bytes";
    }
  }
}

}  // namespace
}  // namespace nt
