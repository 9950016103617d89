// A writer of protocol-2 pickles for files that Python reads with pickle.load: the opcodes of
// plain data (None, bool, int, str, tuples, lists, dicts) and of dataclass instances (GLOBAL,
// NEWOBJ, BUILD, REDUCE). torch.distributed.checkpoint's .metadata is written with it. Nothing is
// memoized: every object is written where it occurs, which pickle.load accepts.
#pragma once

#include <cstdint>
#include <string>

namespace nt {

// Calls append opcodes in the order Python's pickler would; the caller keeps the stack
// balanced (each mark() closed by tuple(), set_items() or appends()). finish() adds STOP.
class PickleWriter {
 public:
  PickleWriter();  // PROTO 2

  void none();
  void boolean(bool value);
  void integer(int64_t value);
  void string(const std::string& text);  // UTF-8

  // GLOBAL: pushes `module`.`name` (a class, function or value of that module).
  void global(const std::string& module, const std::string& name);

  void mark();
  void empty_tuple();
  void tuple();  // the items since the last mark
  void empty_list();
  void appends();  // the items since the last mark, onto the list below the mark
  void empty_dict();
  void set_items();  // key, value, ... since the last mark, into the dict below the mark

  void new_object();  // NEWOBJ: cls args -> cls.__new__(cls, *args)
  void build();       // BUILD: obj state -> obj with state set (its __dict__ or __setstate__)
  void reduce();      // REDUCE: callable args -> callable(*args)

  // The pickle, ended by STOP.
  std::string finish();

 private:
  std::string out_;
};

}  // namespace nt
