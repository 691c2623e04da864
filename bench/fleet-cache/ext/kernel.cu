// A CUDA unit that includes torch's headers but not Python's, as every
// flash-attn 2 kernel file does (its flash.h includes
// ATen/cuda/CUDAGeneratorImpl.h): its compile depends on torch and CUDA, not
// on the Python version.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDAStream.h>

__global__ void scale_kernel(float* x, float s, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) x[i] *= s;
}

at::Tensor scale(const at::Tensor& x, double s) {
  auto y = x.contiguous().clone();
  int64_t n = y.numel();
  auto stream = c10::cuda::getCurrentCUDAStream();
  scale_kernel<<<(n + 255) / 256, 256, 0, stream>>>(y.data_ptr<float>(), (float)s, n);
  return y;
}
