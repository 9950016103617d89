// Fault injection for tests: named points in the save protocol and the training loop where a
// process can be made to die with SIGKILL, as a crash or a preemption would kill it. The only
// place outside a run's configuration that reads NANOTRAIN_TEST_CRASH_AT. Compiled in only where
// the build asks for test hooks (NANOTRAIN_TEST_HOOKS, on with the test suite); elsewhere every
// point is a no-op and the variable is refused (check_test_hooks).
#pragma once

namespace nt {

// When the environment variable NANOTRAIN_TEST_CRASH_AT equals `point`, the process kills itself
// with SIGKILL here ("point@K": the K-th time it gets there). Points of save_checkpoint:
// "before_first_rename", "between_files", "before_meta", "before_dir_fsync"; of the sharded
// save, on every rank: "after_shard" (its file written, before the ranks report); of the
// training loop: "after_checkpoint"; of a per-step snapshot, on its copying thread:
// "snapshot_before_header" (the payload written, the header not yet); of `nanotrain prepare`:
// "prepare_after_shard" (a shard written into the staging directory), "prepare_before_publish"
// (manifest written, not renamed); of a replica: "replica_before_header" (received, its header not
// yet written). "random:P:SEED" kills at each point with probability P instead
// (chaos runs), drawing from a generator seeded by SEED, the rank (RANK) and the restart count.
void crash_point(const char* point);

// Throws std::runtime_error when NANOTRAIN_TEST_CRASH_AT is set in a build without test hooks,
// where it would silently do nothing. Programs call it before any work.
void check_test_hooks();

}  // namespace nt
