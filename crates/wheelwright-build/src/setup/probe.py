# wheelwright-setup-probe: what `wheelwright setup` needs to know about an
# interpreter before touching it. Standard library only, Python 3.8+; prints ONE
# JSON object on the last line of stdout; never imports the packages it asks about.
import json
import os
import sys
import sysconfig

PACKAGES = ("pip", "setuptools", "wheel", "packaging", "psutil", "ninja")


def main():
    out = {
        "executable": sys.executable,
        "version": "%d.%d.%d" % sys.version_info[:3],
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
        "scripts": sysconfig.get_path("scripts"),
        "purelib": sysconfig.get_path("purelib"),
        "externally_managed": None,
        "purelib_writable": False,
        "packages": {},
    }
    marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
    if os.path.isfile(marker):
        out["externally_managed"] = marker
    purelib = out["purelib"]
    out["purelib_writable"] = bool(purelib) and os.access(
        purelib if os.path.isdir(purelib) else os.path.dirname(purelib), os.W_OK
    )
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        metadata = None
    for name in PACKAGES:
        version = None
        if metadata is not None:
            try:
                version = metadata.version(name)
            except Exception:  # noqa: BLE001 - PackageNotFoundError and broken metadata
                version = None
        out["packages"][name] = version
    sys.stdout.write("\n" + json.dumps(out, sort_keys=True) + "\n")


main()
