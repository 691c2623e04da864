# A small real torch CUDA extension for bench/fleet-cache: built by torch's
# BuildExtension (its ninja path), one CUDA unit and one binding unit.
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

setup(
    name="fleetext",
    version="0.1",
    ext_modules=[CUDAExtension("fleetext", ["binding.cpp", "kernel.cu"],
                               extra_compile_args={"cxx": ["-O2"], "nvcc": ["-O2"]})],
    cmdclass={"build_ext": BuildExtension},
)
