# wheelwright's `wheel verify --import`: import the modules of an installed
# wheel in this interpreter and say what happened, as one JSON line.
# argv: DIST VERSION MODULE... (names checked by wheelwright: dotted identifiers).
import importlib
import json
import sys

dist, modules = sys.argv[1], sys.argv[3:]
out = {"python": sys.executable, "installed_version": None, "torch": None, "modules": []}
try:
    import importlib.metadata as md

    out["installed_version"] = md.version(dist)
except Exception:
    pass
try:
    import torch

    t = {"version": str(torch.__version__), "cuda": getattr(torch.version, "cuda", None)}
    try:
        t["cuda_available"] = bool(torch.cuda.is_available())
        t["device_count"] = int(torch.cuda.device_count()) if t["cuda_available"] else 0
    except Exception as e:
        t["error"] = "%s: %s" % (type(e).__name__, e)
    out["torch"] = t
except ImportError:
    pass
for name in modules:
    try:
        m = importlib.import_module(name)
        out["modules"].append({"name": name, "ok": True, "file": getattr(m, "__file__", None)})
    except BaseException as e:
        out["modules"].append({"name": name, "ok": False, "error": ("%s: %s" % (type(e).__name__, e))[:2000]})
sys.stdout.write("\n" + json.dumps(out) + "\n")
