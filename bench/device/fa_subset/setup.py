# A torch CUDAExtension made of a subset of flash-attn 2.8.3's kernel files,
# compiled with flash-attn's own nvcc flags. Used on the GPU machine to check the
# planner's predictions and OOM recovery on real kernels in minutes, not 25.
#   FA_ROOT: the extracted flash-attn sdist (for headers and cutlass)
#   the .cu files: every *.cu next to this setup.py (copied in by the driver script)
#   NVCC_THREADS: passed as `nvcc --threads`, as flash-attn does (default 4)
import glob
import os
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

here = os.path.dirname(os.path.abspath(__file__))
root = os.environ["FA_ROOT"]
sources = sorted(os.path.relpath(p, here) for p in glob.glob(os.path.join(here, "*.cu")))
nvcc = [
    "-O3", "-std=c++17",
    "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
    "-U__CUDA_NO_HALF2_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
    "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math",
    "--threads", os.getenv("NVCC_THREADS") or "4",
]
setup(
    name="fa_subset",
    version="0.1",
    ext_modules=[
        CUDAExtension(
            "fa_subset",
            sources,
            extra_compile_args={"cxx": ["-O3", "-std=c++17"], "nvcc": nvcc},
            include_dirs=[
                os.path.join(root, "csrc/flash_attn"),
                os.path.join(root, "csrc/flash_attn/src"),
                os.path.join(root, "csrc/cutlass/include"),
            ],
        )
    ],
    cmdclass={"build_ext": BuildExtension},
)
