// Checkpoint I/O: save and load MB/s of a real training state (a depth-12 GPT over the byte
// vocabulary with both optimizers' state, about 690 MB) against `dd ... conv=fsync` of the same
// size in the same run; build_model's peak resident memory against the model's bytes; async save's
// blocking time against the full save time. Usage: build/bin/checkpoint_bench [DIR]   (default: a
// fresh folder under /tmp). With --layouts DIR, one rank of a job under ntrun (see
// bench/checkpoint_layouts.sh): the gathered and the sharded layout saving the same state,
// synchronously and with async_save.
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "checkpoint/async_saver.h"
#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/checkpointer.h"
#include "checkpoint/meta.h"
#include "checkpoint/step_dir.h"
#include "optim/setup.h"
#include "runtime/config_io.h"

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A field of /proc/self/status in kB (VmRSS, VmHWM).
long status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, std::strlen(field), field) == 0)
      return std::stol(line.substr(line.find(':') + 1));
  return -1;
}

// Child mode: peak RSS of build_model alone, the page high-water mark reset just before.
int child_build_model(const std::string& dir) {
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS
  const long before = status_kb("VmRSS");
  auto built = nt::build_model(dir, 1, torch::kCPU, "eval");
  const long peak = status_kb("VmHWM");
  int64_t bytes = 0;
  for (const auto& p : built.model->parameters()) bytes += p.numel() * p.element_size();
  std::printf("build_model: model %.1f MB, peak RSS growth %.1f MB, ratio %.2f\n", bytes / 1e6,
              (peak - before) / 1e3, (peak - before) * 1e3 / bytes);
  return 0;
}

// One rank: how long a save blocks training (until every rank agrees it is done, as in the
// training loop; with async_save until the writers have started) and how much rank 0's resident
// memory grows meanwhile, for each layout in turn, and when an asynchronous save is committed.
int compare_layouts(const std::string& dir) {
  const nt::DistEnv env = nt::read_dist_env();
  const auto collectives = nt::init_process_group(env, nt::ProcessGroupOptions{});
  nt::GPT model(nt::GPTConfig::from_depth(12, 1024, 257));
  model->init_weights(0);
  nt::Optimizers opt = nt::setup_optimizers(model, nt::OptimizerConfig{});
  opt.set_collectives(collectives.get());
  for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p);
  opt.step();  // populates every optimizer state tensor, each rank its own part
  opt.zero_grad();
  const nlohmann::json meta = {{"model_config", nt::config_to_json(model->config())}};
  // The layouts alternate, so that neither always meets a cold or a warm disk.
  for (int round = 0; round < 4; ++round) {
    const std::string layout = round % 2 == 0 ? "gathered" : "sharded";
    const bool async = round >= 2;
    nt::CheckpointerOptions options;
    options.dir = dir + "/" + layout;
    options.layout = nt::parse_checkpoint_layout(layout);
    options.async = async;
    nt::Checkpointer checkpointer(options, env.rank, env.world_size, collectives.get());
    nt::TrainState state;
    state.step = 1;
    if (collectives) collectives->barrier();
    ::malloc_trim(0);  // freed memory leaves RSS, so that what a save allocates shows in VmHWM
    std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS
    const long before = status_kb("VmRSS");
    const auto t0 = std::chrono::steady_clock::now();
    checkpointer.save(state, model, opt, meta);
    const double blocked_s = seconds_since(t0);
    checkpointer.finish();  // waits for the background writers and commits
    const double saved_s = seconds_since(t0);
    const long peak = status_kb("VmHWM");
    if (env.rank == 0)
      std::printf(
          "%d rank(s), %-8s %-5s: %.1f MB in %zu files, training blocked %.2f s, saved after "
          "%.2f s, rank 0 memory +%.0f MB\n",
          env.world_size, layout.c_str(), async ? "async" : "sync",
          nt::step_bytes(options.dir, 1) / 1e6,
          nt::read_meta(options.dir + "/" + nt::meta_file_name(1)).at("files").size() + 1,
          blocked_s, saved_s, (peak - before) / 1e3);
    if (collectives) collectives->barrier();
    if (env.rank == 0) fs::remove_all(options.dir);
  }
  return 0;
}

}  // namespace

int run(const std::string& dir);

int main(int argc, char** argv) {
  try {
    if (argc == 3 && !std::strcmp(argv[1], "--child-build-model"))
      return child_build_model(argv[2]);
    if (argc == 3 && !std::strcmp(argv[1], "--layouts")) return compare_layouts(argv[2]);
    return run(argc > 1 ? argv[1]
                        : "/tmp/nanotrain_checkpoint_bench_" + std::to_string(::getpid()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_bench: %s\n", e.what());
    return 1;
  }
}

int run(const std::string& dir) {
  fs::remove_all(dir);

  nt::GPT model(nt::GPTConfig::from_depth(12, 1024, 257));
  model->init_weights(0);
  nt::Optimizers opt = nt::setup_optimizers(model, nt::OptimizerConfig{});
  for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p);
  opt.step();  // populates every optimizer state tensor
  const nlohmann::json meta = {{"model_config", nt::config_to_json(model->config())}};

  auto t0 = std::chrono::steady_clock::now();
  nt::save_checkpoint(dir, 1, nt::model_state_dict(model), opt.state_dicts(), meta);
  const double save_s = seconds_since(t0);
  const uint64_t bytes = nt::step_bytes(dir, 1);
  std::printf("state: %.1f MB (model + [AdamW, Muon] + meta)\n", bytes / 1e6);
  std::printf("save_checkpoint: %.2f s, %.0f MB/s\n", save_s, bytes / 1e6 / save_s);

  const std::string dd = "dd if=/dev/zero of=" + dir +
                         "/dd.bin bs=1M count=" + std::to_string(bytes >> 20) +
                         " conv=fsync status=none";
  t0 = std::chrono::steady_clock::now();
  if (std::system(dd.c_str()) != 0) return 1;
  const double dd_s = seconds_since(t0);
  std::printf("dd conv=fsync, same size: %.2f s, %.0f MB/s (save runs at %.2fx dd)\n", dd_s,
              bytes / 1e6 / dd_s, dd_s / save_s);
  fs::remove(dir + "/dd.bin");

  nt::load_checkpoint(dir, 1, torch::kCPU, true, false);  // warm-up: first-touch of fresh memory
  for (bool verify : {true, false}) {
    t0 = std::chrono::steady_clock::now();
    auto data = nt::load_checkpoint(dir, 1, torch::kCPU, /*load_optimizer=*/true, verify);
    const double s = seconds_since(t0);
    std::printf("load_checkpoint (verify=%s, page cache warm): %.2f s, %.0f MB/s\n",
                verify ? "true" : "false", s, bytes / 1e6 / s);
  }

  const std::string child =
      "'" + fs::canonical("/proc/self/exe").string() + "' --child-build-model '" + dir + "'";
  if (std::system(child.c_str()) != 0) return 1;

  nt::AsyncSaver saver;
  t0 = std::chrono::steady_clock::now();
  saver.save(dir, 2, nt::model_state_dict(model), opt.state_dicts(), meta);
  const double blocking_s = seconds_since(t0);
  saver.wait();
  const double total_s = seconds_since(t0);
  std::printf("async save: blocked %.2f s of %.2f s total (%.0f%%)\n", blocking_s, total_s,
              100.0 * blocking_s / total_s);
  fs::remove_all(dir);
  return 0;
}
