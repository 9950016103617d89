// Reading what Python's torch.save wrote (files of tests/reference/make_torch_fixtures.py,
// compared element by element with the JSON description the script wrote beside each), files
// that must be refused, and the unpickler on malformed, truncated and corrupted bytes.
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>
#include <set>

#include "serialize/pickle_objects.h"
#include "serialize/pickle_reader.h"
#include "serialize/torch_file.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tensor_bundle.h"

namespace nt {
namespace {

std::string fixture(const std::string& name) {
  return testing::test_data_dir() + "/torch_files/" + name;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Compares `value` with the script's description `d` ({"dict": [[k, v], ...]}, {"tensor": ...},
// ...), recursively; `path` names the place in failure messages.
void expect_described(const c10::IValue& value, const nlohmann::json& d, const std::string& path) {
  const std::string kind = d.begin().key();
  const nlohmann::json& body = d.begin().value();
  if (kind == "tensor") {
    ASSERT_TRUE(value.isTensor()) << path << ": " << value.tagKind();
    const at::Tensor t = value.toTensor();
    EXPECT_EQ(c10::toString(t.scalar_type()), body["dtype"].get<std::string>()) << path;
    EXPECT_EQ(t.sizes().vec(), body["shape"].get<std::vector<int64_t>>()) << path;
    EXPECT_EQ(t.strides().vec(), body["stride"].get<std::vector<int64_t>>()) << path;
    EXPECT_EQ(t.storage_offset(), body["offset"].get<int64_t>()) << path;
    const auto& values = body["values"];
    ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size())) << path;
    const at::Tensor flat = t.flatten();
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (t.is_floating_point())
        EXPECT_EQ(flat[i].item<double>(), values[i].get<double>()) << path << "[" << i << "]";
      else if (t.scalar_type() == at::kBool)
        EXPECT_EQ(flat[i].item<bool>(), values[i].get<bool>()) << path << "[" << i << "]";
      else
        EXPECT_EQ(flat[i].item<int64_t>(), values[i].get<int64_t>()) << path << "[" << i << "]";
    }
  } else if (kind == "dict") {
    ASSERT_TRUE(value.isGenericDict()) << path << ": " << value.tagKind();
    const auto dict = value.toGenericDict();
    ASSERT_EQ(dict.size(), body.size()) << path;
    size_t i = 0;
    for (const auto& entry : dict) {  // insertion order, as in Python
      expect_described(entry.key(), body[i][0], path + " key " + std::to_string(i));
      expect_described(entry.value(), body[i][1], path + "[" + body[i][0].dump() + "]");
      ++i;
    }
  } else if (kind == "list" || kind == "tuple") {
    ASSERT_TRUE(kind == "list" ? value.isList() : value.isTuple())
        << path << ": " << value.tagKind();
    const auto items =
        kind == "list" ? value.toListRef().vec() : value.toTupleRef().elements().vec();
    ASSERT_EQ(items.size(), body.size()) << path;
    for (size_t i = 0; i < items.size(); ++i)
      expect_described(items[i], body[i], path + "[" + std::to_string(i) + "]");
  } else if (kind == "none") {
    EXPECT_TRUE(value.isNone()) << path;
  } else if (kind == "bool") {
    ASSERT_TRUE(value.isBool()) << path;
    EXPECT_EQ(value.toBool(), body.get<bool>()) << path;
  } else if (kind == "int") {
    ASSERT_TRUE(value.isInt()) << path;
    EXPECT_EQ(value.toInt(), body.get<int64_t>()) << path;
  } else if (kind == "float") {
    ASSERT_TRUE(value.isDouble()) << path;
    EXPECT_EQ(value.toDouble(), body.get<double>()) << path;
  } else {
    ASSERT_EQ(kind, "str") << path;
    ASSERT_TRUE(value.isString()) << path;
    EXPECT_EQ(value.toStringRef(), body.get<std::string>()) << path;
  }
}

TEST(PythonTorchFile, StateDictMatchesElementByElement) {
  expect_described(load_torch_file(fixture("state_dict.pt"), torch::kCPU),
                   read_json(fixture("state_dict.json")), "state_dict");
}

TEST(PythonTorchFile, OptimizerStateDictListMatches) {
  expect_described(load_torch_file(fixture("optimizers.pt"), torch::kCPU),
                   read_json(fixture("optimizers.json")), "optimizers");
}

TEST(PythonTorchFile, NestedAndSingleKeyStructuresMatch) {
  expect_described(load_torch_file(fixture("nested.pt"), torch::kCPU),
                   read_json(fixture("nested.json")), "nested");
}

TEST(PythonTorchFile, ViewsShareOneStorage) {
  const auto sd = load_torch_file(fixture("state_dict.pt"), torch::kCPU).toGenericDict();
  const at::Tensor base = sd.at("base").toTensor();
  for (const char* view : {"row", "transposed_slice", "strided"})
    EXPECT_EQ(sd.at(view).toTensor().storage().unsafeGetStorageImpl(),
              base.storage().unsafeGetStorageImpl())
        << view;
  base[2][0].fill_(42.0);  // a write through the base shows in the row that views it
  EXPECT_EQ(sd.at("row").toTensor()[0].item<float>(), 42.0f);
  EXPECT_NE(sd.at("fp32").toTensor().storage().unsafeGetStorageImpl(),
            base.storage().unsafeGetStorageImpl());
}

TEST(PythonTorchFile, RefusesGlobalsOutsideTheAllowList) {
  const std::pair<const char*, const char*> cases[] = {
      {"forbidden_global.pt", "refuses global 'posix.system'"},
      {"foreign_class.pt", "refuses global '__main__.Point'"},
      {"os_system.pt", "refuses global 'os.system'"},
  };
  for (const auto& [name, needle] : cases) {
    testing::expect_error<std::runtime_error>([&] { load_torch_file(fixture(name), torch::kCPU); },
                                              fixture(name) + ": " + needle);
  }
}

TEST(PythonTorchFile, DamagedFilesAreErrorsNamingTheFile) {
  const std::pair<const char*, std::string> cases[] = {
      {"tensor_past_storage.pt",
       "size [3], stride [1] at offset 2 reaches element 4 of storage '0', which holds 4"},
      {"missing_record.pt", "storage '7' has no record data/7"},
      {"record_size_mismatch.pt", "record data/0: expected 16 bytes (4 x Float), found 12"},
      {"truncated.pt", "as a torch.save file"},
  };
  for (const auto& [name, needle] : cases)
    testing::expect_error<std::runtime_error>([&] { load_torch_file(fixture(name), torch::kCPU); },
                                              fixture(name));
  for (const auto& [name, needle] : cases)
    testing::expect_error<std::runtime_error>([&] { load_torch_file(fixture(name), torch::kCPU); },
                                              needle);
}

TEST(NanotrainTorchFile, EveryValueKindRoundTrips) {
  testing::ScopedTempDir dir("torch_file");
  const auto base = torch::arange(12, torch::kFloat32).view({3, 4});
  c10::impl::GenericDict inner(c10::StringType::get(), c10::AnyType::get());
  inner.insert("ints", c10::List<int64_t>({1, -2, int64_t{1} << 40}));
  inner.insert("doubles", c10::List<double>({0.5, -1e300}));
  inner.insert("bools", c10::List<bool>({true, false}));
  inner.insert("tensors", c10::List<at::Tensor>({base, base.t()}));
  inner.insert("tuple", c10::ivalue::Tuple::create({c10::IValue(), "text", 2.25, false}));
  c10::impl::GenericDict outer(c10::StringType::get(), c10::AnyType::get());
  outer.insert("inner", inner);
  outer.insert("bf16", base.to(torch::kBFloat16));
  save_torch_file(outer, dir.path() + "/all.pt");

  const auto loaded = load_torch_file(dir.path() + "/all.pt", torch::kCPU).toGenericDict();
  const auto in = loaded.at("inner").toGenericDict();
  EXPECT_EQ(in.at("ints").toIntVector(), (std::vector<int64_t>{1, -2, int64_t{1} << 40}));
  EXPECT_EQ(in.at("doubles").toDoubleVector(), (std::vector<double>{0.5, -1e300}));
  EXPECT_EQ(in.at("bools").toBoolList().vec(), (std::vector<bool>{true, false}));
  const auto tensors = in.at("tensors").toTensorVector();
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_TRUE(torch::equal(tensors[0], base));
  EXPECT_TRUE(torch::equal(tensors[1], base.t()));
  const auto& tuple = in.at("tuple").toTupleRef().elements();
  ASSERT_EQ(tuple.size(), 4u);
  EXPECT_TRUE(tuple[0].isNone());
  EXPECT_EQ(tuple[1].toStringRef(), "text");
  EXPECT_EQ(tuple[2].toDouble(), 2.25);
  EXPECT_FALSE(tuple[3].toBool());
  const auto bf16 = loaded.at("bf16").toTensor();
  EXPECT_EQ(bf16.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(bf16.to(torch::kFloat32), base));
}

// The pickle of a fixture, and a loader of zero-filled storages that counts its calls.
std::string pickle_bytes(const std::string& file) {
  caffe2::serialize::PyTorchStreamReader reader(fixture(file));
  auto [data, size] = reader.getRecord("data.pkl");
  return std::string(static_cast<const char*>(data.get()), size);
}

struct ZeroStorages {
  std::set<std::string> keys;
  int calls = 0;
  StorageLoader loader() {
    return [this](const std::string& key, at::ScalarType dtype, int64_t numel) {
      ++calls;
      keys.insert(key);
      return at::zeros({numel}, at::TensorOptions().dtype(dtype));
    };
  }
};

c10::IValue unpickle_text(const std::string& bytes, const StorageLoader& loader) {
  return unpickle(bytes.data(), bytes.size(), loader, "test.pkl");
}

TEST(Unpickle, LoadsEachStorageOnce) {
  ZeroStorages storages;
  const auto sd = unpickle_text(pickle_bytes("state_dict.pt"), storages.loader());
  EXPECT_EQ(sd.toGenericDict().size(), 16u);
  EXPECT_EQ(storages.calls, static_cast<int>(storages.keys.size()));
  EXPECT_EQ(storages.calls, 13);  // 16 tensors, four of them views of one storage
}

// Pickle bytes spelled out: a little-endian length and a BINUNICODE string.
std::string u32(uint32_t n) {
  return {static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16),
          static_cast<char>(n >> 24)};
}
std::string binunicode(const std::string& text) {
  return "X" + u32(static_cast<uint32_t>(text.size())) + text;
}

TEST(Unpickle, MalformedInputNamesTheProblem) {
  using namespace std::string_literals;  // "..."s keeps the NUL bytes of a literal
  const std::string p = "\x80\x02";      // PROTO 2
  const std::string pid =
      "(" + binunicode("storage") + "ctorch\nFloatStorage\n" + binunicode("0") + binunicode("cpu");
  const std::pair<std::string, std::string> cases[] = {
      {"", "input ends at byte 0 without STOP"},
      {p + "N", "input ends at byte 3 without STOP"},
      {"\x80\x06N.", "unsupported pickle protocol 6 (pickle opcode PROTO at byte 0)"},
      {p + ".", "stack underflow (pickle opcode STOP at byte 2)"},
      {p + "h\x05.", "memo index 5 is not defined (pickle opcode BINGET at byte 2)"},
      {p + "j" + u32(0xffffffff) + ".", "memo index 4294967295 is not defined"},
      {p + "\xff", "unknown opcode (not one torch.save writes) (pickle opcode 0xff at byte 2)"},
      {p + "X" + u32(16) + "ab", "truncated: needs 16 more bytes, 2 left"},
      {p + "T" + u32(0xffffffff), "negative string length -1"},
      {p + "K", "truncated: needs 1 more bytes, 0 left (pickle opcode BININT1 at byte 2)"},
      {p + "cos", "truncated: line without a newline (pickle opcode GLOBAL at byte 2)"},
      {p + "a", "stack underflow (pickle opcode APPEND at byte 2)"},
      {p + "](Na", "stack underflow (pickle opcode APPEND at byte 5)"},
      {p + "]e", "no MARK to pop to (pickle opcode APPENDS at byte 3)"},
      {p + "}(K\x01u", "odd number of keys and values"},
      {p + "NNNs", "expected a dict on the stack, found a None (pickle opcode SETITEM"},
      {p + "\x8a\x09" + std::string(9, '\x01') + ".", "integer of 9 bytes does not fit 64 bits"},
      {p + "cos\nsystem\n" + binunicode("true") + "\x85R.",
       "refuses global 'os.system': only torch.save's containers"},
      {p + binunicode("builtins") + binunicode("eval") + "\x93.", "refuses global 'builtins.eval'"},
      {p + "ctorch._utils\n_rebuild_tensor_v2\n)R.",
       "torch._utils._rebuild_tensor_v2: expected arguments (storage, storage_offset, size"},
      {p + "ccollections\nOrderedDict\nK\x01\x85R.",
       "collections.OrderedDict: expected arguments ()"},
      {p + "ctorch\nFloatStorage\n)R.", "torch.FloatStorage is a storage type"},
      {p + "K\x01)R.", "expected a global to call, found a int"},
      {p + "ctorch\nFloatStorage\n.", "global 'torch.FloatStorage' where a value belongs"},
      {p + "K\x01}b.", "BUILD on a int: only dicts and instances take a state"},
      {p + "ctorch.distributed.checkpoint.metadata\nMetadata\n)\x81.",
       "refuses global 'torch.distributed.checkpoint.metadata.Metadata'"},  // DCP's list only
      {p + "K\x01)\x81.", "NEWOBJ of a int (''): expected an allowed class"},
      {p + "]q\x00h\x00"
           "a."s,
       "a list contains itself (pickle opcode STOP"},
      {p + "}]K\x01s.", "dict key is a list: expected str, int, float or bool"},
      {p + std::string(2000, ']') + std::string(1999, 'a') + ".",
       "structure nested deeper than 1000"},
      {p + pid + "J" + u32(0xffffffff) + "tQ.",
       "storage '0': impossible element count -1 (pickle opcode BINPERSID"},
      {p + "(" + binunicode("other") + "K\x01tQ.",
       "persistent id: expected ('storage', torch.<Type>Storage, key, location, numel)"},
      {p + pid + "K\x04tQ.", "bare storage '0' where a value belongs (expected a tensor)"},
      // 2^32 x 2^32 elements with zero strides on a 4-element storage: in bounds, but a numel
      // beyond what LibTorch can count.
      {p + "ctorch._utils\n_rebuild_tensor_v2\n(" + pid + "K\x04tQK\x00"s +
           "\x8a\x05\x00\x00\x00\x00\x01\x8a\x05\x00\x00\x00\x00\x01\x86K\x00K\x00\x86\x89"s +
           "ccollections\nOrderedDict\n)RtR."s,
       "torch._utils._rebuild_tensor_v2: size [4294967296, 4294967296], stride [0, 0]: expected "
       "non-negative sizes and strides and at most 1099511627776 elements"},
  };
  ZeroStorages storages;
  for (const auto& [bytes, needle] : cases) {
    testing::expect_error<std::runtime_error>([&] { unpickle_text(bytes, storages.loader()); },
                                              "test.pkl: " + needle);
  }
}

// A memoized list of 100,000 ints handed to build_intlist 100,000 times: 6 bytes of pickle per
// call, each call a copy. Without a budget that is 10^10 elements (about 160 GB) from an
// 800 KB file; with it the unpickle stops at the budget for its size (about 13 million units,
// some 200 MB at most) and names the file.
TEST(Unpickle, RepeatedCopiesOfOneListExhaustTheBudgetNotTheMemory) {
  using namespace std::string_literals;  // "..."s keeps the NUL bytes of a literal
  constexpr int kElements = 100000, kCalls = 100000;
  // PROTO 2; a list memoized as 0 and filled (MARK, ints, APPENDS); build_intlist memoized as 1;
  // then a list (MARK) of build_intlist(list) results, each BINGET 1, BINGET 0, TUPLE1, REDUCE.
  std::string p = "\x80\x02]q\x00("s;
  for (int i = 0; i < kElements; ++i) p += "K\x01"s;
  p += "e"s + "ctorch.jit._pickle\nbuild_intlist\nq\x01"s + "]("s;
  const std::string call = "h\x01h\x00\x85R"s;
  const std::string prefix = p;
  for (int i = 0; i < kCalls; ++i) p += call;
  p += "e."s;  // APPENDS, STOP
  ZeroStorages storages;
  testing::expect_error<std::runtime_error>(
      [&] { unpickle_text(p, storages.loader()); },
      fmt::format("test.pkl: more than {} objects and copied list elements (the budget for {} "
                  "bytes of pickle): a crafted or corrupt file",
                  pickle::Arena::kBudgetBase + pickle::Arena::kBudgetPerByte * p.size(), p.size()));
  // The same list built once is well within the budget.
  const auto once = unpickle_text(prefix + call + "e."s, storages.loader()).toList();
  ASSERT_EQ(once.size(), 1u);
  EXPECT_EQ(once.get(0).toIntList().size(), size_t{kElements});
}

// BUILD replaces an instance's state instead of adding to it.
TEST(Unpickle, BuildReplacesTheState) {
  ZeroStorages storages;
  const std::string p =
      "\x80\x02"
      "ctorch.distributed.checkpoint.metadata\nMetadata\n)\x81}" +
      binunicode("a") + "K\x01sb}" + binunicode("b") + "K\x02sb.";
  const auto fields =
      unpickle(p.data(), p.size(), storages.loader(), "test.pkl", PickleGlobals::kDcpMetadata)
          .toGenericDict();
  EXPECT_FALSE(fields.contains("a"));
  EXPECT_EQ(fields.at("b").toInt(), 2);
}

TEST(Unpickle, EveryTruncationIsAnError) {
  const std::string bytes = pickle_bytes("state_dict.pt");
  ZeroStorages storages;
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(unpickle_text(bytes.substr(0, n), storages.loader()), std::runtime_error) << n;
  EXPECT_NO_THROW(unpickle_text(bytes, storages.loader()));
}

TEST(Unpickle, CorruptedBytesGiveAValueOrAnError) {
  std::mt19937 gen(12345);
  int errors = 0;
  for (const char* file : {"state_dict.pt", "nested.pt", "optimizers.pt"}) {
    const std::string good = pickle_bytes(file);
    for (int trial = 0; trial < 300; ++trial) {
      std::string bytes = good;
      const int flips = 1 + static_cast<int>(gen() % 4);
      for (int f = 0; f < flips; ++f) bytes[gen() % bytes.size()] = static_cast<char>(gen());
      ZeroStorages storages;
      try {
        unpickle_text(bytes, storages.loader());
      } catch (const std::runtime_error&) {
        ++errors;  // any other exception type, or a crash, fails the test
      }
    }
  }
  EXPECT_GT(errors, 100);
}

}  // namespace
}  // namespace nt
