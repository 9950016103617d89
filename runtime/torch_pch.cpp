// Anchor translation unit for the precompiled <torch/torch.h> shared by every nanotrain target.
#include <torch/torch.h>
