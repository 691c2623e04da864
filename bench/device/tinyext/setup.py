# A minimal torch CUDA extension used to capture real build logs on the GPU
# machine (healthy build, ninja hidden, CUDA mismatch, compile error, ...).
import os
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

extra = os.environ.get("TINYEXT_EXTRA_CFLAGS", "").split()
setup(
    name="tinyext",
    version="0.1",
    ext_modules=[
        CUDAExtension(
            "tinyext",
            ["tinyext.cpp", "kernel.cu"],
            extra_compile_args={"cxx": ["-O2"] + extra, "nvcc": ["-O2"] + extra},
        )
    ],
    cmdclass={"build_ext": BuildExtension},
)
