// CRC-32C with a hardware path (x86 SSE4.2, three interleaved streams) chosen at run time and a
// portable table path.
#include "serialize/crc32c.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace nt {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // reflected Castagnoli polynomial

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}

uint32_t crc32c_table(uint32_t crc, const unsigned char* p, size_t n) {
  static const std::array<uint32_t, 256> table = make_table();
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

// Shifting a CRC register past `bytes` zero bytes is linear over GF(2): a 32x32 bit matrix,
// applied through four byte tables. It lets independent streams over adjacent blocks be joined:
// crc(c, A || B) = shift_|B|(crc(c, A)) ^ crc(0, B) for the raw register.
class ZeroShift {
 public:
  explicit ZeroShift(size_t bytes) {  // `bytes`: a power of two
    std::array<uint32_t, 32> odd{}, even{};
    odd[0] = kPolynomial;  // one zero bit
    for (int n = 1; n < 32; ++n) odd[n] = 1u << (n - 1);
    square(even, odd);  // two zero bits
    square(odd, even);  // four
    // Each squaring doubles the shift; the first gives one byte.
    std::array<uint32_t, 32>* result = &even;
    for (size_t n = bytes;;) {
      square(even, odd);
      result = &even;
      if ((n >>= 1) == 0) break;
      square(odd, even);
      result = &odd;
      if ((n >>= 1) == 0) break;
    }
    for (uint32_t b = 0; b < 256; ++b)
      for (int k = 0; k < 4; ++k) table_[k][b] = times(*result, b << (8 * k));
  }

  uint32_t operator()(uint32_t crc) const {
    return table_[0][crc & 0xFF] ^ table_[1][(crc >> 8) & 0xFF] ^ table_[2][(crc >> 16) & 0xFF] ^
           table_[3][crc >> 24];
  }

 private:
  static uint32_t times(const std::array<uint32_t, 32>& matrix, uint32_t vector) {
    uint32_t sum = 0;
    for (int n = 0; vector != 0; ++n, vector >>= 1)
      if (vector & 1) sum ^= matrix[n];
    return sum;
  }
  static void square(std::array<uint32_t, 32>& out, const std::array<uint32_t, 32>& matrix) {
    for (int n = 0; n < 32; ++n) out[n] = times(matrix, matrix[n]);
  }

  std::array<std::array<uint32_t, 256>, 4> table_{};
};

#if defined(__x86_64__)
// The crc32 instruction has a latency of three cycles and a throughput of one: three streams
// over adjacent 8 KiB blocks keep it busy, then are joined (about 3x a single stream).
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const unsigned char* p,
                                                        size_t n) {
  constexpr size_t kBlock = 8192;
  static const ZeroShift shift_block(kBlock);
  uint64_t c0 = crc;
  for (; n >= 3 * kBlock; n -= 3 * kBlock, p += 3 * kBlock) {
    uint64_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < kBlock; i += 8) {
      uint64_t w0, w1, w2;
      std::memcpy(&w0, p + i, 8);
      std::memcpy(&w1, p + kBlock + i, 8);
      std::memcpy(&w2, p + 2 * kBlock + i, 8);
      c0 = _mm_crc32_u64(c0, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    c0 = shift_block(static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1);
    c0 = shift_block(static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c2);
  }
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c0 = _mm_crc32_u64(c0, word);
  }
  uint32_t c32 = static_cast<uint32_t>(c0);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}
#endif

}  // namespace

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  static const bool has_sse42 = __builtin_cpu_supports("sse4.2");
  crc = has_sse42 ? crc32c_sse42(crc, p, size) : crc32c_table(crc, p, size);
#else
  crc = crc32c_table(crc, p, size);
#endif
  return ~crc;
}

std::string crc32c_hex(uint32_t crc) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", crc);
  return buf;
}

uint32_t file_crc32c(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::vector<char> buffer(1 << 20);
  uint32_t crc = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    crc = crc32c_extend(crc, buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw std::runtime_error("error reading '" + path + "'");
  return crc;
}

}  // namespace nt
