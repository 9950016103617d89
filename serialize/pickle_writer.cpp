// Opcode encoding for PickleWriter: little-endian lengths and integers, as pickletools documents
// them for protocol 2.
#include "serialize/pickle_writer.h"

namespace nt {
namespace {

void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

}  // namespace

PickleWriter::PickleWriter() : out_("\x80\x02", 2) {}

void PickleWriter::none() {
  out_ += 'N';
}

void PickleWriter::boolean(bool value) {
  out_ += value ? '\x88' : '\x89';
}

void PickleWriter::integer(int64_t value) {
  if (value >= 0 && value < 256) {
    out_ += 'K';
    put_le(out_, static_cast<uint64_t>(value), 1);
  } else if (value >= INT32_MIN && value <= INT32_MAX) {
    out_ += 'J';
    put_le(out_, static_cast<uint32_t>(static_cast<int32_t>(value)), 4);
  } else {  // LONG1: 8 bytes of two's complement always fit an int64
    out_ += '\x8a';
    put_le(out_, 8, 1);
    put_le(out_, static_cast<uint64_t>(value), 8);
  }
}

void PickleWriter::string(const std::string& text) {
  out_ += 'X';  // BINUNICODE
  put_le(out_, text.size(), 4);
  out_ += text;
}

void PickleWriter::global(const std::string& module, const std::string& name) {
  out_ += 'c';
  out_ += module + '\n' + name + '\n';
}

void PickleWriter::mark() {
  out_ += '(';
}
void PickleWriter::empty_tuple() {
  out_ += ')';
}
void PickleWriter::tuple() {
  out_ += 't';
}
void PickleWriter::empty_list() {
  out_ += ']';
}
void PickleWriter::appends() {
  out_ += 'e';
}
void PickleWriter::empty_dict() {
  out_ += '}';
}
void PickleWriter::set_items() {
  out_ += 'u';
}
void PickleWriter::new_object() {
  out_ += '\x81';
}
void PickleWriter::build() {
  out_ += 'b';
}
void PickleWriter::reduce() {
  out_ += 'R';
}

std::string PickleWriter::finish() {
  out_ += '.';
  return std::move(out_);
}

}  // namespace nt
