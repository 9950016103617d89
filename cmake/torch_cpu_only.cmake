# LibTorch's CPU libraries from a pip PyTorch built with CUDA, for machines without nvcc: the
# wheel's own TorchConfig.cmake stops when it cannot find the CUDA toolkit, although libtorch_cpu
# and libc10 need none of it. Sets what find_package(Torch) would: TORCH_INCLUDE_DIRS,
# TORCH_LIBRARIES (an imported target) and TORCH_INSTALL_PREFIX; TORCH_CUDA_LIBRARIES stays empty.
if(NOT NANOTRAIN_TORCH_CONFIG_DIR)
  message(FATAL_ERROR "NANOTRAIN_TORCH_CPU_ONLY: set CMAKE_PREFIX_PATH to torch.utils.cmake_prefix_path")
endif()
get_filename_component(TORCH_INSTALL_PREFIX "${NANOTRAIN_TORCH_CONFIG_DIR}/../../.." ABSOLUTE)
set(TORCH_INCLUDE_DIRS ${TORCH_INSTALL_PREFIX}/include
                       ${TORCH_INSTALL_PREFIX}/include/torch/csrc/api/include)
add_library(nanotrain_torch_cpu INTERFACE IMPORTED)
foreach(lib torch torch_cpu c10)
  find_library(NANOTRAIN_TORCH_${lib} ${lib} PATHS ${TORCH_INSTALL_PREFIX}/lib NO_DEFAULT_PATH
               REQUIRED)
  target_link_libraries(nanotrain_torch_cpu INTERFACE ${NANOTRAIN_TORCH_${lib}})
endforeach()
# What the wheel's own targets define for c10d's headers (its NCCL and NVSHMEM ones excepted).
target_compile_definitions(nanotrain_torch_cpu INTERFACE USE_DISTRIBUTED USE_C10D_GLOO USE_RPC
                                                         USE_TENSORPIPE)
set(TORCH_LIBRARIES nanotrain_torch_cpu)
set(TORCH_CUDA_LIBRARIES "")
message(STATUS "LibTorch ${TORCH_INSTALL_PREFIX}: CPU libraries only (no CUDA toolkit)")
