// CRC-32C against the standard check value and the incremental contract.
#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace nt
