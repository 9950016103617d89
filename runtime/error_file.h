// The error file torchrun's agents read: a worker that fails writes what went wrong to
// $TORCHELASTIC_ERROR_FILE, in the JSON that torch.distributed.elastic's @record writes, so
// that the launcher (torchrun or ntrun) names the cause in its failure summary.
#pragma once

#include <exception>

namespace nt {

// Writes {"message": {"message": "<type>: <what>", "extraInfo": {"py_callstack": ...,
// "timestamp": "<unix seconds>"}}} to $TORCHELASTIC_ERROR_FILE when it is set. Never throws:
// it runs while the process is already failing.
void record_error_file(const std::exception& error);

}  // namespace nt
