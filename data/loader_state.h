// Where a DistributedTokenLoader stands: the whole state a resume needs, in a header without
// torch so that the checkpoint's meta code can name it.
#pragma once

#include <cstdint>

namespace nt {

struct LoaderState {
  int64_t shard = 0;     // index into this epoch's shard order
  int64_t position = 0;  // token offset of the next window in that shard
  int64_t epoch = 0;     // completed passes over all shards
};

}  // namespace nt
