# wheelwright's Python/torch probe: run once by the selected interpreter, prints
# ONE JSON object on the last line of stdout. Standard library only, Python 3.8+.
# Package versions come from importlib.metadata (no imports of the packages);
# torch is imported only when it is installed, and every exception is reported
# in the JSON instead of escaping.
import json
import sys

PROBE_VERSION = 1
PACKAGES = ("pip", "setuptools", "wheel", "packaging", "psutil", "ninja", "torch")


def _err(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def main():
    errors = []
    out = {"probe_version": PROBE_VERSION, "errors": errors}

    py = {
        "executable": sys.executable,
        "version": "%d.%d.%d" % sys.version_info[:3],
        "implementation": sys.implementation.name,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "scripts": None,
        "platform": sys.platform,
    }
    try:
        import sysconfig

        py["scripts"] = sysconfig.get_path("scripts")
    except Exception as exc:  # noqa: BLE001
        errors.append("sysconfig: " + _err(exc))
    out["python"] = py

    packages = {}
    try:
        from importlib import metadata

        for name in PACKAGES:
            try:
                packages[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                packages[name] = None
            except Exception as exc:  # noqa: BLE001
                packages[name] = None
                errors.append("%s metadata: %s" % (name, _err(exc)))
    except Exception as exc:  # noqa: BLE001
        errors.append("importlib.metadata: " + _err(exc))
    out["packages"] = packages

    torch_info = None
    try:
        import importlib.util

        spec = importlib.util.find_spec("torch")
    except Exception as exc:  # noqa: BLE001
        spec = None
        errors.append("find_spec(torch): " + _err(exc))
    if spec is not None:
        torch_info = {
            "version": packages.get("torch"),
            "cuda": None,
            "cxx11_abi": None,
            "cuda_available": False,
            "error": None,
        }
        try:
            import contextlib

            # Whatever torch prints on import must not mix with our JSON.
            with contextlib.redirect_stdout(sys.stderr):
                import torch

                torch_info["version"] = str(torch.__version__)
                cuda = getattr(torch.version, "cuda", None)
                torch_info["cuda"] = None if cuda is None else str(cuda)
                try:
                    torch_info["cxx11_abi"] = bool(torch._C._GLIBCXX_USE_CXX11_ABI)
                except Exception as exc:  # noqa: BLE001
                    errors.append("torch._C._GLIBCXX_USE_CXX11_ABI: " + _err(exc))
                try:
                    torch_info["cuda_available"] = bool(torch.cuda.is_available())
                except Exception as exc:  # noqa: BLE001
                    errors.append("torch.cuda.is_available(): " + _err(exc))
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a broken install too
            torch_info["error"] = _err(exc)
    out["torch"] = torch_info

    sys.stdout.write("\n" + json.dumps(out, sort_keys=True) + "\n")
    sys.stdout.flush()


try:
    main()
except BaseException as exc:  # noqa: BLE001 - last resort: still one JSON object
    sys.stdout.write(
        "\n" + json.dumps({"probe_version": PROBE_VERSION, "errors": ["probe: " + _err(exc)]}) + "\n"
    )
