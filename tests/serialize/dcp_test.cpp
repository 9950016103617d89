// DCP directories in C++ alone: what save_dcp writes reads back bit for bit, chunks written by
// several "ranks" assemble into the whole tensor, and chunks that overlap, leave a gap, reach
// past the tensor or lack storage are named errors, as are refused classes and short files.
// tests/checkpoint/dcp_peer_test.sh checks the same format against Python's DCP.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>

#include "serialize/atomic_file.h"
#include "serialize/dcp.h"
#include "serialize/pickle_reader.h"
#include "serialize/pickle_writer.h"
#include "serialize/torch_file.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace nt {
namespace {

using testing::expect_error;  // with std::runtime_error: file format errors

struct Chunk {
  std::vector<int64_t> offsets, sizes;
  std::string file;
  bool stored = true;  // false: no storage_data record
};

void write_size(PickleWriter& w, const std::vector<int64_t>& values) {
  w.global("torch", "Size");
  w.mark();
  w.mark();
  for (int64_t v : values) w.integer(v);
  w.tuple();
  w.tuple();
  w.reduce();
}

void begin_instance(PickleWriter& w, const std::string& module, const std::string& name) {
  w.global(module, name);
  w.empty_tuple();
  w.new_object();
}

// A DCP directory holding one fp32 tensor "w" of `size`, cut into `chunks` whose data is taken
// from `whole`, as several ranks of Python's DCP would write it (one file per rank).
void write_chunked(const std::string& dir, const at::Tensor& whole,
                   const std::vector<Chunk>& chunks) {
  const std::string meta = "torch.distributed.checkpoint.metadata";
  std::map<std::string, std::string> files;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const Chunk& c : chunks) {
    at::Tensor part = whole;
    for (size_t d = 0; d < c.sizes.size(); ++d)
      part = c.offsets[d] + c.sizes[d] <= whole.size(static_cast<int64_t>(d))
                 ? part.narrow(static_cast<int64_t>(d), c.offsets[d], c.sizes[d])
                 : torch::zeros(c.sizes);  // a chunk reaching past the tensor: any data
    std::string& bytes = files[c.file];
    const uint64_t begin = bytes.size();
    write_torch_archive(
        part.contiguous().clone(),
        [&](const void* data, size_t n) { bytes.append(static_cast<const char*>(data), n); },
        c.file);
    ranges.emplace_back(begin, bytes.size() - begin);
  }
  for (const auto& [name, bytes] : files) write_file_atomically(dir + "/" + name, bytes);

  PickleWriter w;
  begin_instance(w, meta, "Metadata");
  w.empty_dict();
  w.mark();
  w.string("state_dict_metadata");
  w.empty_dict();
  w.mark();
  w.string("w");
  begin_instance(w, meta, "TensorStorageMetadata");
  w.empty_dict();
  w.mark();
  w.string("properties");
  begin_instance(w, meta, "TensorProperties");
  w.mark();
  w.global("torch", "float32");
  w.global("torch", "strided");
  w.boolean(false);
  w.global(meta, "_MEM_FORMAT_ENCODING");
  w.mark();
  w.integer(0);
  w.tuple();
  w.reduce();
  w.boolean(false);
  w.tuple();
  w.build();
  w.string("size");
  write_size(w, whole.sizes().vec());
  w.string("chunks");
  w.empty_list();
  w.mark();
  for (const Chunk& c : chunks) {
    begin_instance(w, meta, "ChunkStorageMetadata");
    w.empty_dict();
    w.mark();
    w.string("offsets");
    write_size(w, c.offsets);
    w.string("sizes");
    write_size(w, c.sizes);
    w.set_items();
    w.build();
  }
  w.appends();
  w.set_items();
  w.build();
  w.set_items();
  w.string("storage_data");
  w.empty_dict();
  w.mark();
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!chunks[i].stored) continue;
    begin_instance(w, meta, "MetadataIndex");
    w.empty_dict();
    w.mark();
    w.string("fqn");
    w.string("w");
    w.string("offset");
    write_size(w, chunks[i].offsets);
    w.set_items();
    w.build();
    begin_instance(w, "torch.distributed.checkpoint.filesystem", "_StorageInfo");
    w.empty_dict();
    w.mark();
    w.string("relative_path");
    w.string(chunks[i].file);
    w.string("offset");
    w.integer(static_cast<int64_t>(ranges[i].first));
    w.string("length");
    w.integer(static_cast<int64_t>(ranges[i].second));
    w.set_items();
    w.build();
  }
  w.set_items();
  w.set_items();
  w.build();
  write_file_atomically(dir + "/.metadata", w.finish());
}

TEST(Dcp, SavedTensorsReadBackBitForBit) {
  testing::ScopedTempDir dir("dcp");
  const NamedTensors tensors = {{"transformer.wte.weight", torch::randn({5, 3})},
                                {"lm_head.weight", torch::randn({5, 3}).to(torch::kBFloat16)},
                                {"transposed", torch::randn({3, 4}).t()},
                                {"count", torch::tensor(int64_t{1} << 40)}};
  save_dcp(dir.path(), tensors);
  const DcpMetadata metadata = read_dcp_metadata(dir.path());
  ASSERT_EQ(metadata.entries.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const DcpEntry& entry = metadata.entries[i];
    EXPECT_EQ(entry.fqn, tensors[i].first);
    EXPECT_EQ(entry.dtype, tensors[i].second.scalar_type());
    ASSERT_EQ(entry.chunks.size(), 1u);
    EXPECT_EQ(entry.chunks[0].file, "__0_0.distcp");
    const at::Tensor loaded = load_dcp_tensor(dir.path(), entry);
    EXPECT_TRUE(torch::equal(loaded, tensors[i].second)) << entry.fqn;
  }
}

TEST(Dcp, ChunksOfSeveralRanksAssemble) {
  testing::ScopedTempDir dir("dcp");
  const at::Tensor whole = torch::arange(24, torch::kFloat32).view({6, 4});
  write_chunked(dir.path(), whole,
                {{{0, 0}, {3, 4}, "__0_0.distcp"},
                 {{3, 0}, {3, 2}, "__1_0.distcp"},
                 {{3, 2}, {3, 2}, "__1_0.distcp"}});
  const DcpMetadata metadata = read_dcp_metadata(dir.path());
  ASSERT_EQ(metadata.entries.size(), 1u);
  EXPECT_EQ(metadata.entries[0].chunks[2].file, "__1_0.distcp");
  EXPECT_GT(metadata.entries[0].chunks[2].offset, 0u);
  EXPECT_TRUE(torch::equal(load_dcp_tensor(dir.path(), metadata.entries[0]), whole));
}

TEST(Dcp, BadChunksAreNamedErrors) {
  const at::Tensor whole = torch::arange(24, torch::kFloat32).view({6, 4});
  auto load = [&](const std::vector<Chunk>& chunks) {
    testing::ScopedTempDir dir("dcp");
    write_chunked(dir.path(), whole, chunks);
    const DcpMetadata metadata = read_dcp_metadata(dir.path());
    load_dcp_tensor(dir.path(), metadata.entries.at(0));
  };
  const std::string a = "__0_0.distcp", b = "__1_0.distcp";
  expect_error<std::runtime_error>(
      [&] {
        load({{{0, 0}, {4, 4}, a}, {{3, 0}, {3, 4}, b}});
      },
      "chunks of 'w' do not cover its size (6, 4) exactly once");
  expect_error<std::runtime_error>(
      [&] {
        load({{{0, 0}, {3, 4}, a}});
      },
      "do not cover its size (6, 4)");
  expect_error<std::runtime_error>(
      [&] {
        load({{{0, 0}, {3, 4}, a}, {{4, 0}, {3, 4}, b}});
      },
      "chunks[1]: reaches past dimension 0 of size 6");
  expect_error<std::runtime_error>(
      [&] {
        load({{{0, 0}, {3, 4}, a}, {{3, 0}, {3, 4}, b, false}});
      },
      "no storage_data entry for the chunk at offsets (3, 0)");
  expect_error<std::runtime_error>(
      [&] {
        load({{{0, 0}, {6, 4}, "../escape.distcp"}});
      },
      "relative_path '../escape.distcp' is not a file of the directory");
}

TEST(Dcp, ShortFilesAndForeignPicklesAreRefused) {
  testing::ScopedTempDir dir("dcp");
  save_dcp(dir.path(), {{"w", torch::randn({64, 64})}});
  const DcpMetadata metadata = read_dcp_metadata(dir.path());
  std::filesystem::resize_file(dir.path() + "/__0_0.distcp", 100);
  expect_error<std::runtime_error>([&] { load_dcp_tensor(dir.path(), metadata.entries[0]); },
                                   "__0_0.distcp: expected bytes [0, ");

  PickleWriter w;  // os.system("true")
  w.global("os", "system");
  w.mark();
  w.string("true");
  w.tuple();
  w.reduce();
  write_file_atomically(dir.path() + "/.metadata", w.finish());
  expect_error<std::runtime_error>([&] { read_dcp_metadata(dir.path()); },
                                   "refuses global 'os.system'");
  std::filesystem::remove(dir.path() + "/.metadata");
  expect_error<std::runtime_error>(
      [&] { read_dcp_metadata(dir.path()); },
      "is not a torch.distributed.checkpoint directory: it has no .metadata");
}

// Python 3.11.0-3.11.4 (Debian 12's python3 is 3.11.2) pickle an enum member as
// getattr(EnumClass, "NAME"); a DCP .metadata written there holds _MEM_FORMAT_ENCODING that way.
TEST(Dcp, EnumMembersPickledByNameReadAsTheirValues) {
  // pickle.dumps(_MEM_FORMAT_ENCODING.TORCH_CONTIGUOUS_FORMAT, protocol=2) on Python 3.11.2.
  static const char kPython3112[] =
      "\x80\x02"
      "c__builtin__\ngetattr\nq\x00"
      "ctorch.distributed.checkpoint.metadata\n"
      "_MEM_FORMAT_ENCODING\nq\x01"
      "X\x17\x00\x00\x00"
      "TORCH_CONTIGUOUS_FORMATq\x02\x86"
      "q\x03"
      "Rq\x04"
      ".";
  const std::string python_3_11_2(kPython3112, sizeof(kPython3112) - 1);
  ASSERT_EQ(python_3_11_2.size(), 124u);
  EXPECT_EQ(unpickle(python_3_11_2.data(), python_3_11_2.size(), nullptr, "m",
                     PickleGlobals::kDcpMetadata)
                .toInt(),
            0);
  auto by_name = [](const std::string& module, const std::string& name, const std::string& member) {
    PickleWriter w;
    w.global("builtins", "getattr");
    w.mark();
    w.global(module, name);
    w.string(member);
    w.tuple();
    w.reduce();
    return w.finish();
  };
  const std::string channels_last = by_name("torch.distributed.checkpoint.metadata",
                                            "_MEM_FORMAT_ENCODING", "TORCH_CHANNELS_LAST");
  EXPECT_EQ(unpickle(channels_last.data(), channels_last.size(), nullptr, "m",
                     PickleGlobals::kDcpMetadata)
                .toInt(),
            1);
  // Nothing but a member of that enum: no other attribute, no other object.
  const std::string dunder =
      by_name("torch.distributed.checkpoint.metadata", "_MEM_FORMAT_ENCODING", "__class__");
  expect_error<std::runtime_error>(
      [&] { unpickle(dunder.data(), dunder.size(), nullptr, "m", PickleGlobals::kDcpMetadata); },
      "'__class__' is not a member of");
  const std::string other = by_name("torch", "Size", "__init__");
  expect_error<std::runtime_error>(
      [&] { unpickle(other.data(), other.size(), nullptr, "m", PickleGlobals::kDcpMetadata); },
      "expected arguments (_MEM_FORMAT_ENCODING, member name)");
  expect_error<std::runtime_error>([&] { unpickle(other.data(), other.size(), nullptr, "m"); },
                                   "refuses global 'builtins.getattr'");
}

TEST(PickleWriter, IntegersStringsAndContainersReadBack) {
  PickleWriter w;
  w.empty_dict();
  w.mark();
  w.string("ints");
  w.empty_list();
  w.mark();
  for (int64_t v :
       {int64_t{0}, int64_t{255}, int64_t{256}, int64_t{-1}, int64_t{1} << 40, -(int64_t{1} << 62)})
    w.integer(v);
  w.appends();
  w.string("text \xc3\xa9");
  w.mark();
  w.none();
  w.boolean(true);
  w.tuple();
  w.set_items();
  const std::string bytes = w.finish();
  const c10::IValue value = unpickle(bytes.data(), bytes.size(), nullptr, "test");
  const auto dict = value.toGenericDict();
  std::vector<int64_t> ints;
  for (const auto& v : dict.at("ints").toListRef()) ints.push_back(v.toInt());
  EXPECT_EQ(ints, (std::vector<int64_t>{0, 255, 256, -1, int64_t{1} << 40, -(int64_t{1} << 62)}));
  const auto& tuple = dict.at("text \xc3\xa9").toTupleRef().elements();
  ASSERT_EQ(tuple.size(), 2u);
  EXPECT_TRUE(tuple[0].isNone());
  EXPECT_TRUE(tuple[1].toBool());
}

}  // namespace
}  // namespace nt
