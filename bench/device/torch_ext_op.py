"""One op of a freshly built torch extension against a PyTorch reference on the
GPU (bench/device/torch-ext.sh). PKG names the package (its sdist's stem).
Prints what it compared and the largest |error|; exits 1 when it is over the
tolerance, 2 when the op could not run."""

import os
import sys

import torch

PKG = os.environ.get("PKG", "causal_conv1d-1.7.0")


def causal_conv1d():
    import causal_conv1d
    from causal_conv1d import causal_conv1d_fn
    from causal_conv1d.causal_conv1d_interface import causal_conv1d_ref

    print("module:", causal_conv1d.__file__)
    torch.manual_seed(0)
    # The reference is the package's own pure-PyTorch one (F.conv1d + silu).
    x = torch.randn(2, 64, 1024, device="cuda", dtype=torch.float32)
    w = torch.randn(64, 4, device="cuda", dtype=torch.float32)
    b = torch.randn(64, device="cuda", dtype=torch.float32)
    out = causal_conv1d_fn(x, w, b, activation="silu")
    ref = causal_conv1d_ref(x, w, b, activation="silu")
    return "causal_conv1d_fn vs causal_conv1d_ref (F.conv1d), fp32", out, ref, 1e-4


def spatial_correlation_sampler():
    import spatial_correlation_sampler
    from spatial_correlation_sampler import spatial_correlation_sample

    print("module:", spatial_correlation_sampler.__file__)
    torch.manual_seed(0)
    a = torch.randn(1, 8, 12, 12, device="cuda", dtype=torch.float64)
    b = torch.randn(1, 8, 12, 12, device="cuda", dtype=torch.float64)
    out = spatial_correlation_sample(a, b, kernel_size=1, patch_size=3, stride=1, padding=0)
    # PyTorch reference: the channel dot product of a with b shifted by (dy, dx).
    ref = torch.zeros(1, 3, 3, 12, 12, device="cuda", dtype=torch.float64)
    bp = torch.nn.functional.pad(b, (1, 1, 1, 1))
    for dy in range(3):
        for dx in range(3):
            ref[:, dy, dx] = (a * bp[:, :, dy : dy + 12, dx : dx + 12]).sum(1)
    return "spatial_correlation_sample vs a shifted channel dot product, fp64", out, ref, 1e-9


def torch_scatter():
    import torch_scatter

    print("module:", torch_scatter.__file__)
    torch.manual_seed(0)
    src = torch.randn(10000, 16, device="cuda")
    index = torch.randint(0, 100, (10000,), device="cuda")
    out = torch_scatter.scatter(src, index, dim=0, dim_size=100, reduce="sum")
    ref = torch.zeros(100, 16, device="cuda").index_add_(0, index, src)
    return "torch_scatter.scatter(sum) vs Tensor.index_add_, fp32", out, ref, 1e-3


CHECKS = {
    "causal_conv1d": causal_conv1d,
    "spatial_correlation_sampler": spatial_correlation_sampler,
    "torch_scatter": torch_scatter,
}


def main():
    name = PKG.rsplit("-", 1)[0]
    print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu:",
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    if not torch.cuda.is_available():
        print("SKIPPED: no GPU (import only)")
        __import__(name)
        print("imported", name)
        return 0
    try:
        what, out, ref, tol = CHECKS[name]()
    except Exception as e:  # the op itself failed: no kernel image, bad symbol ...
        print("FAILED to run: %s: %s" % (type(e).__name__, e))
        return 2
    err = (out.double() - ref.double()).abs().max().item()
    print("%s: max |err| %.3g (tolerance %.0e) %s" % (what, err, tol, "OK" if err <= tol else "OVER"))
    return 0 if err <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
