// The Python binding (like flash_api.cpp): it includes Python's headers, so
// its object differs per Python version and is never shared across cells.
#include <torch/extension.h>

at::Tensor scale(const at::Tensor& x, double s);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("scale", &scale, "x * s on the GPU"); }
