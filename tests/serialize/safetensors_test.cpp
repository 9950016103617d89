// safetensors files: every dtype round trips, malformed files are named errors, and a checkpoint
// exported and imported again is bit-identical; tests/reference/check_safetensors.py reads the
// exported files independently and compares them with torch.load's view of the checkpoint.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "checkpoint/model_export.h"
#include "checkpoint/step_dir.h"
#include "serialize/dcp.h"
#include "serialize/safetensors.h"
#include "tests/checkpoint/checkpoint_fixture.h"
#include "tests/support/process_runner.h"
#include "tests/support/tensor_bundle.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Safetensors, EveryDtypeRoundTripsInOrder) {
  testing::ScopedTempDir dir("safetensors");
  const auto base = torch::randn({4, 6});
  const NamedTensors tensors = {
      {"f32", base},
      {"transposed", base.t()},  // written contiguous
      {"f64", torch::randn({3}, torch::kFloat64)},
      {"f16", base.to(torch::kFloat16)},
      {"bf16", base.to(torch::kBFloat16)},
      {"i64", torch::tensor({-(int64_t{1} << 40), int64_t{7}})},
      {"i32", torch::tensor({-5, 9}, torch::kInt32)},
      {"i16", torch::tensor({-300, 300}, torch::kInt16)},
      {"i8", torch::tensor({-128, 127}, torch::kInt8)},
      {"u8", torch::tensor({0, 255}, torch::kUInt8)},
      {"bool", base > 0},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::zeros({0, 3})},
  };
  const std::string path = dir.path() + "/t.safetensors";
  const WrittenFile written = save_safetensors(path, tensors, {{"note", "hello"}});
  const std::string bytes = read_bytes(path);
  EXPECT_EQ(written.bytes, bytes.size());
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ((8 + header_length) % 8, 0u);  // data 8-byte aligned

  const SafetensorsFile file = load_safetensors(path);
  EXPECT_EQ(file.metadata, (SafetensorsMetadata{{"note", "hello"}}));
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(file.tensors[i].first, tensors[i].first);
    EXPECT_EQ(file.tensors[i].second.scalar_type(), tensors[i].second.scalar_type())
        << tensors[i].first;
    EXPECT_TRUE(torch::equal(file.tensors[i].second, tensors[i].second)) << tensors[i].first;
  }
  testing::expect_error<std::invalid_argument>(
      [&] {
        save_safetensors(path, {{"c", torch::zeros({1}, torch::kComplexFloat)}}, {});
      },
      "tensor 'c' is ComplexFloat, expected one of F64, F32");
  testing::expect_error<std::invalid_argument>(
      [&] {
        save_safetensors(path, {{"a", base}, {"a", base}}, {});
      },
      "'a' is repeated");
}

// A file from a header text and data bytes.
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

TEST(Safetensors, MalformedFilesAreNamedErrors) {
  testing::ScopedTempDir dir("safetensors_bad");
  const std::string path = dir.path() + "/bad.safetensors";
  const std::string eight(8, 'x');
  const std::pair<std::string, std::string> cases[] = {
      {"abc", "3 bytes, shorter than a safetensors header length"},
      {std::string("\xff\x00\x00\x00\x00\x00\x00\x00{}", 10),
       "header length 255 reaches past the end of the file (10 bytes)"},
      {raw_file("{\"a\": ", ""), "safetensors header: invalid JSON"},
      {raw_file("[]", ""), "safetensors header: expected a JSON object"},
      {raw_file("{\"a\": 1e888}", ""),  // found by fuzz_safetensors
       "safetensors header: invalid JSON: [json.exception.out_of_range.406] number overflow"},
      {raw_file(R"({"a": {"dtype": "F8", "shape": [2], "data_offsets": [0, 2]}})", "xx"),
       "tensor 'a': unknown dtype \"F8\" (expected one of F64, F32, F16, BF16"},
      {raw_file(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", eight),
       "tensor 'a': F32 [3] needs 12 bytes, data_offsets [0,8] hold 8"},
      {raw_file(
           R"({"a": {"dtype": "F32", "shape": [0, 4611686018427387904, 4], "data_offsets": [0, 0]}})",
           ""),
       "tensor 'a': shape [0,4611686018427387904,4]: expected non-negative integers of a "
       "representable size"},
      {raw_file(R"({"a": {"dtype": "F32", "shape": [[[[1]]]], "data_offsets": [0, 4]}})", "xxxx"),
       "tensor 'a': shape a nested array: expected non-negative integers"},
      {raw_file(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", eight),
       "tensor 'a': shape [-2]: expected non-negative integers"},
      {raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", eight),
       "tensor 'a': data_offsets [8,0]: expected [begin, end] with 0 <= begin <= end"},
      {raw_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", eight),
       "tensor 'a' ends at byte 16, past the 8 bytes of data"},
      {raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                eight),
       "tensor 'b' starts at byte 4, not at byte 8 where tensor 'a' ends (overlap)"},
      {raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", eight),
       "tensor 'a' starts at byte 4, not at byte 0 where the data begins (gap)"},
      {raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", eight),
       "8 bytes of data, but the tensors end at byte 4"},
      {raw_file(R"({"a": {"dtype": "F32", "shape": [1]}})", eight),
       "tensor 'a': expected an object with dtype, shape and data_offsets"},
      {raw_file(R"({"__metadata__": {"n": 3}})", ""), "__metadata__.n: expected a string"},
  };
  for (const auto& [bytes, needle] : cases) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    testing::expect_error<std::runtime_error>([&] { load_safetensors(path); }, path + ": ");
    testing::expect_error<std::runtime_error>([&] { load_safetensors(path); }, needle);
  }
}

class ModelExportTest : public CheckpointTest {
 protected:
  // Runs check_safetensors.py; its exit status.
  static int python_check(const std::string& file, const std::string& dir, int64_t step) {
    const pid_t pid =
        testing::spawn({NANOTRAIN_REFERENCE_PYTHON,
                        std::string(NANOTRAIN_SOURCE_DIR) + "/tests/reference/check_safetensors.py",
                        file, dir, std::to_string(step)},
                       {});
    return testing::wait_all({pid}, 120).at(0);
  }
  void SetUp() override {
    CheckpointTest::SetUp();
    out_ = dir_ + "_export/model.safetensors";  // beside this test's own directory
  }
  std::string out_;
};

TEST_F(ModelExportTest, ExportImportIsBitIdenticalAndBuildsTheSameModel) {
  save_trained_step(7);
  fs::create_directories(fs::path(out_).parent_path());
  const ExportedModel exported = export_safetensors(dir_, -1, out_);
  EXPECT_EQ(exported.step, 7);
  EXPECT_EQ(exported.tensors, static_cast<size_t>(model_state_dict(model_).size()));
  EXPECT_EQ(exported.bytes, fs::file_size(out_));
  std::ifstream config_in(exported.config_path);
  EXPECT_EQ(nlohmann::json::parse(config_in),
            nlohmann::json::parse(config_to_json(model_->config()).dump()));

  const std::string imported_dir = dir_ + "_imported";
  EXPECT_EQ(import_safetensors(out_, imported_dir, -1), 7);
  EXPECT_EQ(find_last_step(imported_dir), 7);
  const auto original = load_checkpoint(dir_, 7, torch::kCPU);
  const auto imported = load_checkpoint(imported_dir, 7, torch::kCPU);
  ASSERT_EQ(imported.model_data.size(), original.model_data.size());
  for (const auto& item : original.model_data) {
    const auto& t = imported.model_data.at(item.key());
    EXPECT_EQ(t.scalar_type(), item.value().scalar_type()) << item.key();
    EXPECT_TRUE(torch::equal(t, item.value())) << item.key();
  }
  auto a = build_model(dir_, 7, torch::kCPU, "eval");
  auto b = build_model(imported_dir, 7, torch::kCPU, "eval");
  const auto idx = torch::randint(0, testing::prepared_vocab_size(), {2, 16}, torch::kInt64);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(a.model->forward(idx), b.model->forward(idx)));
  EXPECT_EQ(import_safetensors(out_, imported_dir, 12), 12);  // --step overrides the file's
  EXPECT_EQ(find_last_step(imported_dir), 12);
  testing::expect_error<std::runtime_error>([&] { import_safetensors(out_, imported_dir, 12); },
                                            imported_dir + ": step 12 exists already");
  fs::remove_all(fs::path(out_).parent_path());
  fs::remove_all(imported_dir);
}

TEST_F(ModelExportTest, PythonReadsTheExportAsTheCheckpoint) {
  save_trained_step(3);
  save_trained_step(4);
  fs::create_directories(fs::path(out_).parent_path());
  export_safetensors(dir_, 4, out_);
  EXPECT_EQ(python_check(out_, dir_, 4), 0);
  EXPECT_EQ(python_check(out_, dir_, 3), 1);  // another step's weights: the checker notices
  // nanochat's checkpoint, with its bfloat16 embedding.
  const std::string nanochat = testing::test_data_dir() + "/torch_files/nanochat/d2";
  export_safetensors(nanochat, 5, out_);
  EXPECT_EQ(python_check(out_, nanochat, 5), 0);
  EXPECT_EQ(load_safetensors(out_).tensors.front().second.scalar_type(), torch::kBFloat16);
  fs::remove_all(fs::path(out_).parent_path());
}

// nanochat saves a compiled model's state dict, whose names carry torch.compile's "_orig_mod.";
// the exports carry the model's own names, as consumers of safetensors and DCP expect.
TEST_F(ModelExportTest, ExportsCarryTheModelsOwnNames) {
  ModelData data;
  for (const auto& item : model_state_dict(model_))
    data.insert("_orig_mod." + item.key(), item.value());
  save_checkpoint(dir_, 1, data, std::nullopt, meta_for(model_));
  std::vector<std::string> expected;
  for (const auto& item : model_state_dict(model_)) expected.push_back(item.key());
  std::sort(expected.begin(), expected.end());
  fs::create_directories(fs::path(out_).parent_path());
  export_safetensors(dir_, 1, out_);
  std::vector<std::string> names;
  for (const auto& [name, tensor] : load_safetensors(out_).tensors) names.push_back(name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, expected);
  const std::string dcp_dir = fs::path(out_).parent_path().string() + "/dcp";
  export_dcp(dir_, 1, dcp_dir);
  names.clear();
  for (const DcpEntry& entry : read_dcp_metadata(dcp_dir).entries) names.push_back(entry.fqn);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, expected);
  fs::remove_all(fs::path(out_).parent_path());
}

TEST_F(ModelExportTest, ImportNamesAMissingOrMalformedConfig) {
  fs::create_directories(fs::path(out_).parent_path());
  save_safetensors(out_, {{"w", torch::zeros({2})}}, {});
  testing::expect_error<std::runtime_error>(
      [&] { import_safetensors(out_, dir_, -1); },
      out_ + ": __metadata__ lacks 'sequence_len' (the model config)");
  SafetensorsMetadata metadata;
  const auto config = config_to_json(model_->config());
  for (const auto& [key, value] : config.items()) metadata[key] = value.dump();
  metadata["n_head"] = "4x";
  save_safetensors(out_, {{"w", torch::zeros({2})}}, metadata);
  testing::expect_error<std::runtime_error>([&] { import_safetensors(out_, dir_, -1); },
                                            "__metadata__.n_head: expected a decimal integer, "
                                            "found '4x'");
  metadata["n_head"] = "3";
  save_safetensors(out_, {{"w", torch::zeros({2})}}, metadata);
  testing::expect_error<std::runtime_error>([&] { import_safetensors(out_, dir_, -1); },
                                            "n_head (3) must divide n_embd");
  EXPECT_FALSE(fs::exists(dir_));  // nothing written
  fs::remove_all(fs::path(out_).parent_path());
}

}  // namespace
}  // namespace nt
