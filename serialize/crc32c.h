// CRC-32C (Castagnoli), the checksum meta files record for every checkpoint file. Uses the
// SSE4.2 crc32 instruction where the CPU has it (several GB/s), else a table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace nt {

// Continues a CRC-32C over `size` bytes: crc32c_extend(crc32c_extend(0, a), b) equals the CRC
// of a followed by b. Start with 0.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);

// The CRC as meta files write it: 8 lowercase hex digits.
std::string crc32c_hex(uint32_t crc);

// The CRC-32C of a file's bytes, read in 1 MiB pieces. Throws std::runtime_error naming the
// path when it cannot be read.
uint32_t file_crc32c(const std::string& path);

}  // namespace nt
