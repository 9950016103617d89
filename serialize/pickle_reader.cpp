// The opcode interpreter: input reading, the stack with its MARKs, and the memo, each access
// checked. What globals build and how values become IValues is in pickle_objects.cpp.
#include "serialize/pickle_reader.h"

#include <fmt/format.h>

#include <cstring>
#include <unordered_map>
#include <utility>
#include <vector>

#include "serialize/pickle_objects.h"

namespace nt {
namespace {

using pickle::Kind;
using pickle::Object;

const std::pair<uint8_t, const char*> kOpcodeNames[] = {
    {0x80, "PROTO"},        {0x95, "FRAME"},          {'.', "STOP"},
    {'(', "MARK"},          {'}', "EMPTY_DICT"},      {']', "EMPTY_LIST"},
    {')', "EMPTY_TUPLE"},   {'s', "SETITEM"},         {'u', "SETITEMS"},
    {'a', "APPEND"},        {'e', "APPENDS"},         {'q', "BINPUT"},
    {'r', "LONG_BINPUT"},   {0x94, "MEMOIZE"},        {'h', "BINGET"},
    {'j', "LONG_BINGET"},   {'t', "TUPLE"},           {0x85, "TUPLE1"},
    {0x86, "TUPLE2"},       {0x87, "TUPLE3"},         {'J', "BININT"},
    {'K', "BININT1"},       {'M', "BININT2"},         {0x8a, "LONG1"},
    {'G', "BINFLOAT"},      {'X', "BINUNICODE"},      {0x8c, "SHORT_BINUNICODE"},
    {'T', "BINSTRING"},     {'U', "SHORT_BINSTRING"}, {'N', "NONE"},
    {0x88, "NEWTRUE"},      {0x89, "NEWFALSE"},       {'c', "GLOBAL"},
    {0x93, "STACK_GLOBAL"}, {'R', "REDUCE"},          {'b', "BUILD"},
    {'Q', "BINPERSID"},     {0x81, "NEWOBJ"}};

std::string opcode_name(uint8_t op) {
  for (const auto& [code, name] : kOpcodeNames)
    if (code == op) return name;
  return fmt::format("0x{:02x}", op);
}

class Unpickler {
 public:
  Unpickler(const char* data, size_t size, const StorageLoader& load_storage,
            const std::string& where, PickleGlobals globals)
      : data_(data),
        size_(size),
        storages_(load_storage),
        where_(where),
        globals_(globals),
        arena_(size) {}

  c10::IValue run() {
    try {
      while (pos_ < size_) {
        op_start_ = pos_;
        op_ = static_cast<uint8_t>(data_[pos_++]);
        if (op_ == '.') return pickle::to_ivalue(*pop());
        if (Object* pushed = step()) stack_.push_back(pushed);
      }
      throw std::runtime_error(
          fmt::format("{}: input ends at byte {} without STOP (truncated)", where_, size_));
    } catch (const pickle::Error& e) {
      throw std::runtime_error(fmt::format("{}: {} (pickle opcode {} at byte {})", where_, e.what(),
                                           opcode_name(op_), op_start_));
    } catch (const c10::Error& e) {  // LibTorch refusing something the checks let through
      throw std::runtime_error(fmt::format("{}: {} (pickle opcode {} at byte {})", where_,
                                           e.what_without_backtrace(), opcode_name(op_),
                                           op_start_));
    }
  }

 private:
  const char* take(size_t n) {
    if (n > size_ - pos_)
      throw pickle::Error(fmt::format("truncated: needs {} more bytes, {} left", n, size_ - pos_));
    const char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t read_le(size_t n) {
    const auto* p = reinterpret_cast<const unsigned char*>(take(n));
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::string read_string(uint64_t n) { return std::string(take(n), n); }
  std::string read_line() {
    const void* end = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (!end) throw pickle::Error("truncated: line without a newline");
    std::string line = read_string(static_cast<const char*>(end) - (data_ + pos_));
    ++pos_;
    return line;
  }
  // LONG1: n little-endian two's-complement bytes.
  int64_t read_long1() {
    const uint64_t n = read_le(1);
    if (n > 8) throw pickle::Error(fmt::format("integer of {} bytes does not fit 64 bits", n));
    if (n == 0) return 0;
    uint64_t v = read_le(n);
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  double read_float() {
    const auto* p = reinterpret_cast<const unsigned char*>(take(8));
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = bits << 8 | p[i];  // big-endian
    double v;
    std::memcpy(&v, &bits, sizeof(v));
    return v;
  }

  Object* make(Kind kind, int64_t integer = 0) {
    Object* o = arena_.make(kind);
    o->integer = integer;
    return o;
  }
  Object* make_string(std::string text) {
    Object* o = make(Kind::kString);
    o->text = std::move(text);
    return o;
  }
  Object* make_tuple(std::vector<Object*> items) {
    Object* o = make(Kind::kTuple);
    o->items = std::move(items);
    return o;
  }
  Object* make_global(const std::string& module, const std::string& name) {
    Object* o = make(Kind::kGlobal);
    o->global = &pickle::find_global(module, name, globals_);
    o->text = module + "." + name;
    return o;
  }

  // The stack as Python's unpickler sees it: values below the latest MARK are out of reach.
  Object* top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back()))
      throw pickle::Error("stack underflow");
    return stack_.back();
  }
  Object* pop() {
    Object* o = top();
    stack_.pop_back();
    return o;
  }
  std::vector<Object*> pop_to_mark() {
    if (marks_.empty()) throw pickle::Error("no MARK to pop to");
    const size_t base = marks_.back();
    marks_.pop_back();
    std::vector<Object*> items(stack_.begin() + static_cast<std::ptrdiff_t>(base), stack_.end());
    stack_.resize(base);
    return items;
  }
  std::vector<Object*>& items_of(Kind kind) {
    Object* o = top();
    if (o->kind != kind)
      throw pickle::Error(fmt::format("expected a {} on the stack, found a {}",
                                      pickle::kind_name(kind), pickle::kind_name(o->kind)));
    return o->items;
  }
  void memo_put(uint64_t index) { memo_[index] = top(); }
  Object* memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) throw pickle::Error(fmt::format("memo index {} is not defined", index));
    return it->second;
  }

  // Executes the opcode in op_; returns what it pushes, if anything.
  Object* step() {
    switch (op_) {
      case 0x80:  // PROTO
        if (const uint64_t protocol = read_le(1); protocol > 5)
          throw pickle::Error(fmt::format("unsupported pickle protocol {}", protocol));
        return nullptr;
      case 0x95:  // FRAME: only groups bytes, which are read in order anyway
        read_le(8);
        return nullptr;
      case '(':
        marks_.push_back(stack_.size());
        return nullptr;
      case '}':
        return make(Kind::kDict);
      case ']':
        return make(Kind::kList);
      case ')':
        return make(Kind::kTuple);
      case 's': {
        Object* value = pop();
        Object* key = pop();
        auto& dict = items_of(Kind::kDict);
        dict.push_back(key);
        dict.push_back(value);
        return nullptr;
      }
      case 'u': {
        const auto items = pop_to_mark();
        if (items.size() % 2 != 0) throw pickle::Error("odd number of keys and values");
        auto& dict = items_of(Kind::kDict);
        dict.insert(dict.end(), items.begin(), items.end());
        return nullptr;
      }
      case 'a': {
        Object* value = pop();
        items_of(Kind::kList).push_back(value);
        return nullptr;
      }
      case 'e': {
        const auto items = pop_to_mark();
        auto& list = items_of(Kind::kList);
        list.insert(list.end(), items.begin(), items.end());
        return nullptr;
      }
      case 'q':
        memo_put(read_le(1));
        return nullptr;
      case 'r':
        memo_put(read_le(4));
        return nullptr;
      case 0x94:
        memo_put(memo_.size());
        return nullptr;
      case 'h':
        return memo_get(read_le(1));
      case 'j':
        return memo_get(read_le(4));
      case 't':
        return make_tuple(pop_to_mark());
      case 0x85:
      case 0x86:
      case 0x87: {
        std::vector<Object*> items(op_ - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
        return make_tuple(std::move(items));
      }
      case 'J':
        return make(Kind::kInt, static_cast<int32_t>(read_le(4)));
      case 'K':
        return make(Kind::kInt, static_cast<int64_t>(read_le(1)));
      case 'M':
        return make(Kind::kInt, static_cast<int64_t>(read_le(2)));
      case 0x8a:
        return make(Kind::kInt, read_long1());
      case 'G': {
        Object* o = make(Kind::kFloat);
        o->real = read_float();
        return o;
      }
      case 'X':
        return make_string(read_string(read_le(4)));
      case 0x8c:
      case 'U':
        return make_string(read_string(read_le(1)));
      case 'T': {
        const auto n = static_cast<int32_t>(read_le(4));
        if (n < 0) throw pickle::Error(fmt::format("negative string length {}", n));
        return make_string(read_string(static_cast<uint64_t>(n)));
      }
      case 'N':
        return make(Kind::kNone);
      case 0x88:
        return make(Kind::kBool, 1);
      case 0x89:
        return make(Kind::kBool, 0);
      case 'c': {
        const std::string module = read_line();
        return make_global(module, read_line());
      }
      case 0x93: {
        Object* name = pop();
        Object* module = pop();
        if (module->kind != Kind::kString || name->kind != Kind::kString)
          throw pickle::Error("expected module and name strings");
        return make_global(module->text, name->text);
      }
      case 'R': {
        Object* args = pop();
        Object* callable = pop();
        return pickle::call(arena_, *callable, *args);
      }
      case 'b': {
        Object* state = pop();
        pickle::build(*top(), arena_, state);
        return nullptr;
      }
      case 0x81: {
        Object* args = pop();
        Object* cls = pop();
        return pickle::new_object(arena_, *cls, *args);
      }
      case 'Q':
        return storages_.load(arena_, *pop());
      default:
        throw pickle::Error("unknown opcode (not one torch.save writes)");
    }
  }

  const char* data_;
  size_t size_;
  pickle::Storages storages_;
  const std::string& where_;
  PickleGlobals globals_;
  size_t pos_ = 0, op_start_ = 0;
  uint8_t op_ = 0;
  pickle::Arena arena_;
  std::vector<Object*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Object*> memo_;
};

}  // namespace

c10::IValue unpickle(const char* data, size_t size, const StorageLoader& load_storage,
                     const std::string& where, PickleGlobals globals) {
  return Unpickler(data, size, load_storage, where, globals).run();
}

}  // namespace nt
