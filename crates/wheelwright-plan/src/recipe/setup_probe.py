"""wheelwright's setup.py probe: what a torch extension's build really compiles.

Runs a package's own ``setup.py`` under this interpreter and its torch, with
``setup()`` intercepted, and prints one JSON document on stdout (everything the
package prints goes to stderr). Nothing is compiled and nothing is downloaded:

- ``setup()`` (setuptools' and distutils') records its arguments and returns;
- the package's ``build_ext`` command (torch's ``BuildExtension``, with the
  options the package gave it) then runs with the compiler's ``spawn`` and
  torch's ``_write_ninja_file_and_compile_objects`` recording each compile
  instead of running it, so every unit's flags are the ones torch computes,
  ``-gencode`` flags from ``_get_cuda_arch_flags()`` included;
- a ``bdist_wheel`` command of the package's own (the Dao-AILab style
  ``CachedWheelsCommand``) runs with the stock command's ``run`` recording that
  it would build, to see whether the package first tries to download a wheel;
- sockets are blocked: resolving a name fails as it does offline
  (``EAI_AGAIN``), connecting fails with ``ENETUNREACH``; each attempt and each
  URL urllib opens is recorded with the package's line that made it. Processes
  the package starts get a dead proxy (``127.0.0.1:9``), ``PIP_NO_INDEX`` and
  ``GIT_ALLOW_PROTOCOL=file``;
- every environment variable the package's own code reads is recorded (name,
  whether set, the default it passed, the literals its value was compared
  with, the line); values are never recorded;
- switches are found by what they do, not by their names: when the package
  tried the network before building, each variable it compared with a
  literal is tried at that literal (in order of reading; at most
  ``--max-switch-runs`` runs in all): the first that makes it build without
  the network and with no fewer CUDA units is its force-build switch
  (``build-offline``). When it then compiles no CUDA unit (torch sees no GPU
  and the package asks torch), the first that makes it compile some is its
  ``cuda`` switch. The units reported are those of the run with the switches
  set.

Usage: ``python setup_probe.py SOURCE_DIR [--setup-py NAME] [--max-switch-runs N]``.
The build's environment (MAX_JOBS, TORCH_CUDA_ARCH_LIST, ...) is this process's.
Exit status 0 whenever the JSON was written (its ``error`` says what failed).
"""

import argparse
import json
import os
import runpy
import shlex
import sys
import tempfile
import traceback

PROBE_VERSION = 1
# The most of each list kept in the output (a setup.py in a loop stays bounded).
MAX_ITEMS = 200
DEAD_PROXY = "http://127.0.0.1:9"


class Probe:
    """State shared by the hooks of one probe: the source root, the records."""

    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.this_file = os.path.realpath(__file__)
        self.reset()

    def reset(self):
        self.env_reads = {}
        self.network = []
        self.commands = []
        self.phase = "setup.py"

    # -- where in the package ------------------------------------------------

    def _in_package(self, frame):
        name = frame.f_code.co_filename
        if not name or name.startswith("<"):
            return None
        path = os.path.realpath(name)
        if path != self.this_file and path.startswith(self.root + os.sep):
            return "%s:%d" % (os.path.relpath(path, self.root).replace(os.sep, "/"), frame.f_lineno)
        return None

    def site(self):
        """`setup.py:42` of the innermost frame in the package's tree, or None
        when the package's code is not on the stack."""
        frame = sys._getframe(1)
        while frame is not None:
            where = self._in_package(frame)
            if where is not None:
                return where
            frame = frame.f_back
        return None

    def caller_site(self):
        """`setup.py:42` when the code that called into `os.environ` (past
        `os` and `collections.abc` themselves) is the package's own, else None:
        torch's reads while the package calls torch are torch's."""
        frame = sys._getframe(1)
        while frame is not None:
            code_file = frame.f_code.co_filename or ""
            name = code_file if code_file.startswith("<") else os.path.realpath(code_file)
            if name == self.this_file or name in STDLIB_ENV_FILES:
                frame = frame.f_back
                continue
            return self._in_package(frame)
        return None

    def rel(self, path):
        full = os.path.realpath(path)
        if full == self.root or full.startswith(self.root + os.sep):
            return os.path.relpath(full, self.root).replace(os.sep, "/")
        return path

    # -- records -------------------------------------------------------------

    def read_env(self, name, present, default, site, how):
        entry = self.env_reads.get(name)
        if entry is None:
            if len(self.env_reads) >= MAX_ITEMS:
                return
            entry = self.env_reads[name] = {
                "name": name,
                "set": present,
                "default": None,
                "compared_to": [],
                "sites": [],
                "how": how,
            }
        if default is not None and entry["default"] is None and isinstance(default, str):
            entry["default"] = default
        if site not in entry["sites"] and len(entry["sites"]) < 10:
            entry["sites"].append(site)

    def compared(self, name, other):
        entry = self.env_reads.get(name)
        if entry is not None and isinstance(other, str) and other not in entry["compared_to"]:
            if len(entry["compared_to"]) < 20:
                entry["compared_to"].append(str(other))

    def net(self, kind, host, port, url=None):
        if len(self.network) < MAX_ITEMS:
            self.network.append(
                {
                    "kind": kind,
                    "host": None if host is None else str(host),
                    "port": port if isinstance(port, int) else None,
                    "url": url,
                    "site": self.site(),
                    "phase": self.phase,
                }
            )


PROBE = None
# The files between the package's code and `os.environ`'s methods.
STDLIB_ENV_FILES = set()


def _plain_env():
    """The environment as a plain dict, without recording any read."""
    return {k: os._Environ.__getitem__(os.environ, k) for k in list(os._Environ.__iter__(os.environ))}


# -- environment ---------------------------------------------------------------


class EnvStr(str):
    """A value the package read: records what it is compared with."""

    def __new__(cls, name, value):
        obj = str.__new__(cls, value)
        obj._env_name = name
        return obj

    def __eq__(self, other):
        PROBE.compared(self._env_name, other)
        return str.__eq__(self, other)

    def __ne__(self, other):
        PROBE.compared(self._env_name, other)
        return str.__ne__(self, other)

    __hash__ = str.__hash__

    def _wrap(self, value):
        return EnvStr(self._env_name, value)

    def lower(self):
        return self._wrap(str.lower(self))

    def upper(self):
        return self._wrap(str.upper(self))

    def casefold(self):
        return self._wrap(str.casefold(self))

    def strip(self, *a):
        return self._wrap(str.strip(self, *a))


def _wrap_value(name, value, site):
    if site is not None and isinstance(value, str) and not isinstance(value, EnvStr):
        return EnvStr(name, value)
    return value


class RecordingEnviron(os._Environ):
    """`os.environ` that records the reads made by the package's own code."""

    def __getitem__(self, key):
        site = PROBE.caller_site()
        try:
            value = os._Environ.__getitem__(self, key)
        except KeyError:
            if site is not None:
                PROBE.read_env(key, False, None, site, "environ[]")
            raise
        if site is not None:
            PROBE.read_env(key, True, None, site, "environ[]")
        return _wrap_value(key, value, site)

    def get(self, key, default=None):
        site = PROBE.caller_site()
        try:
            value = os._Environ.__getitem__(self, key)
            present = True
        except KeyError:
            value = default
            present = False
        if site is not None:
            PROBE.read_env(key, present, default, site, "get")
        return _wrap_value(key, value, site)

    def __contains__(self, key):
        site = PROBE.caller_site()
        try:
            os._Environ.__getitem__(self, key)
            present = True
        except KeyError:
            present = False
        if site is not None:
            PROBE.read_env(key, present, None, site, "in")
        return present


# -- network ---------------------------------------------------------------------


def _is_ip(host):
    import ipaddress

    try:
        ipaddress.ip_address(str(host).strip("[]"))
        return True
    except ValueError:
        return False


def install_network_block():
    import errno
    import socket
    import subprocess

    def getaddrinfo(host, port, *args, **kwargs):
        PROBE.net("resolve", host, port)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    def gethostbyname(host):
        PROBE.net("resolve", host, None)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    def gethostbyname_ex(host):
        PROBE.net("resolve", host, None)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    def create_connection(address, *args, **kwargs):
        # As offline: a name fails to resolve, an address to connect.
        host = address[0]
        if _is_ip(host):
            PROBE.net("connect", host, address[1])
            raise OSError(errno.ENETUNREACH, "Network is unreachable")
        PROBE.net("resolve", host, address[1])
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    inet = {socket.AF_INET, getattr(socket, "AF_INET6", socket.AF_INET)}
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(sock, address):
        if sock.family in inet:
            PROBE.net("connect", address[0], address[1])
            raise OSError(errno.ENETUNREACH, "Network is unreachable")
        return real_connect(sock, address)

    def connect_ex(sock, address):
        if sock.family in inet:
            PROBE.net("connect", address[0], address[1])
            return errno.ENETUNREACH
        return real_connect_ex(sock, address)

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex
    socket.create_connection = create_connection
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex

    import urllib.request

    real_open = urllib.request.OpenerDirector.open

    def opener_open(opener, fullurl, *args, **kwargs):
        url = fullurl if isinstance(fullurl, str) else getattr(fullurl, "full_url", None)
        PROBE.net("url", None, None, url=None if url is None else str(url))
        return real_open(opener, fullurl, *args, **kwargs)

    urllib.request.OpenerDirector.open = opener_open

    # Processes the package starts: no index, no git remote, a dead proxy.
    child_env = {
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "ALL_PROXY": DEAD_PROXY,
        "all_proxy": DEAD_PROXY,
        "no_proxy": "",
        "NO_PROXY": "",
        "PIP_NO_INDEX": "1",
        "GIT_ALLOW_PROTOCOL": "file",
        "GIT_TERMINAL_PROMPT": "0",
    }
    real_popen_init = subprocess.Popen.__init__

    def popen_init(self, args, *rest, **kwargs):
        env = kwargs.get("env")
        env = dict(_plain_env() if env is None else env)
        env.update(child_env)
        kwargs["env"] = env
        argv = [args] if isinstance(args, (str, bytes)) else list(args)
        if PROBE.phase == "build_ext" and "-c" in argv and "-o" in argv:
            # A compile that got past the recorders: never run one.
            raise OSError("wheelwright's setup.py probe runs no compile: %s" % " ".join(map(str, argv[:3])))
        if len(PROBE.commands) < MAX_ITEMS:
            first = str(argv[0]) if argv else ""
            PROBE.commands.append(
                {
                    "argv": [str(a) for a in argv[:8]],
                    "program": os.path.basename(first.split()[0]) if first.split() else "",
                    "site": PROBE.site(),
                    "phase": PROBE.phase,
                }
            )
        return real_popen_init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = popen_init


# -- setup() ---------------------------------------------------------------------


class SetupCalls:
    def __init__(self):
        self.calls = []

    def setup(self, **attrs):
        self.calls.append(attrs)
        return None


def install_setup_hooks(calls):
    import setuptools

    setuptools.setup = calls.setup
    try:
        import distutils.core

        distutils.core.setup = calls.setup
    except ImportError:
        pass
    try:
        import setuptools._distutils.core as sdc

        sdc.setup = calls.setup
    except ImportError:
        pass


# -- build_ext -------------------------------------------------------------------


def _unquote(flags):
    out = []
    for f in flags or []:
        try:
            parts = shlex.split(f)
        except ValueError:
            parts = [f]
        out.extend(parts if parts else [""])
    return out


def _stock_class(module, name):
    try:
        mod = __import__(module, fromlist=[name])
        return getattr(mod, name)
    except Exception:
        return None


def _compiler_run_owners(compiler):
    """(class, name) of the methods through which `compiler` runs a command:
    `spawn` (setuptools < 75 and torch's own code) and `call` (newer
    setuptools, whose `_compile` and `link` use it directly). Taken from the
    compiler build_ext really made: `distutils` may be setuptools' copy under
    a second name, with classes of its own."""
    owners = []
    for name in ("spawn", "call"):
        for klass in type(compiler).__mro__:
            if name in klass.__dict__:
                owners.append((klass, name))
                break
    return owners


class UnitRecorder:
    """Collects the compiles of one build_ext run."""

    def __init__(self, build_temp):
        self.build_temp = build_temp
        self.current = None
        self.units = []
        self.ninja_calls = 0
        self.links = 0
        self.hooked = False

    def object_rel(self, obj):
        full = os.path.abspath(obj)
        if full.startswith(self.build_temp + os.sep):
            return os.path.relpath(full, self.build_temp).replace(os.sep, "/")
        return obj

    def add(self, source, obj, compiler, program, flags, backend):
        if len(self.units) >= 5000:
            return
        self.units.append(
            {
                "extension": self.current,
                "source": PROBE.rel(source),
                "object": self.object_rel(obj),
                "compiler": compiler,
                "program": program,
                "flags": flags,
                "backend": backend,
            }
        )


def run_build_ext(dist, tmp):
    """The package's build_ext with compiles recorded; returns its record."""
    from setuptools.command.build_ext import build_ext as stock_build_ext

    cls = dist.cmdclass.get("build_ext", stock_build_ext)
    out = {
        "class": "%s.%s" % (cls.__module__, cls.__qualname__),
        "torch_build_extension": False,
        "use_ninja": None,
        "parallel": None,
        "units": [],
        "error": None,
    }
    cpp = None
    try:
        import torch.utils.cpp_extension as cpp

        out["torch_build_extension"] = issubclass(cls, cpp.BuildExtension)
    except Exception as e:  # no torch: the setup.py itself would have failed
        out["error"] = "torch.utils.cpp_extension: %s: %s" % (type(e).__name__, e)
    build_temp = os.path.join(tmp, "temp")
    rec = UnitRecorder(build_temp)
    restore = []

    def ninja_recorder(*args, **kwargs):
        import inspect

        bound = inspect.signature(real_ninja).bind(*args, **kwargs).arguments
        rec.ninja_calls += 1
        with_cuda = bound.get("with_cuda")
        sources = list(bound["sources"])
        if with_cuda is None:
            with_cuda = any(cpp._is_cuda_file(s) for s in sources)
        nvcc = os.environ.get("PYTORCH_NVCC") or (
            cpp._join_cuda_home("bin", "nvcc") if with_cuda else None
        )
        cxx = cpp.get_cxx_compiler()
        for src, obj in zip(sources, bound["objects"]):
            if with_cuda and cpp._is_cuda_file(src):
                flags = _unquote(bound.get("cuda_cflags")) + _unquote(bound.get("cuda_post_cflags"))
                rec.add(src, obj, "nvcc", nvcc, flags, "ninja")
            else:
                flags = _unquote(bound.get("cflags")) + _unquote(bound.get("post_cflags"))
                rec.add(src, obj, "cxx", cxx, flags, "ninja")

    def spawn_recorder(compiler, cmd, *args, **kwargs):
        argv = [str(a) for a in cmd]
        if "-c" not in argv or "-o" not in argv:
            rec.links += 1
            return None
        o = argv.index("-o")
        obj = argv[o + 1] if o + 1 < len(argv) else ""
        src = argv[o - 1] if o > 0 else ""
        flags = argv[1 : o - 1] + argv[o + 2 :]
        is_nvcc = os.path.basename(argv[0]).startswith(("nvcc", "hipcc")) or src.endswith(".cu")
        rec.add(src, obj, "nvcc" if is_nvcc else "cxx", argv[0], flags, "distutils")
        return None

    real_ninja = None
    if cpp is not None and hasattr(cpp, "_write_ninja_file_and_compile_objects"):
        real_ninja = cpp._write_ninja_file_and_compile_objects
        cpp._write_ninja_file_and_compile_objects = ninja_recorder
        restore.append((cpp, "_write_ninja_file_and_compile_objects", real_ninja))
    try:
        cmd = cls(dist)
        real_build_extension = cmd.build_extension

        def build_extension(ext):
            rec.current = ext.name
            if not rec.hooked and getattr(cmd, "compiler", None) is not None:
                rec.hooked = True
                for owner, name in _compiler_run_owners(cmd.compiler):
                    restore.append((owner, name, owner.__dict__[name]))
                    setattr(owner, name, spawn_recorder)
            return real_build_extension(ext)

        cmd.build_extension = build_extension
        cmd.build_temp = build_temp
        cmd.build_lib = os.path.join(tmp, "lib")
        cmd.force = True
        cmd.inplace = False
        cmd.ensure_finalized()
        out["use_ninja"] = getattr(cmd, "use_ninja", None)
        out["parallel"] = getattr(cmd, "parallel", None)
        cmd.run()
    except BaseException as e:  # the build would fail here too
        out["error"] = _error(e)
    finally:
        for obj, name, value in reversed(restore):
            setattr(obj, name, value)
    out["units"] = rec.units
    out["ninja_runs"] = rec.ninja_calls
    return out


def extension_record(ext, cpp):
    """What the package itself asked for: sources and its own nvcc flags."""
    args = ext.extra_compile_args
    nvcc = list(args.get("nvcc", [])) if isinstance(args, dict) else list(args or [])
    own_arch = [f for f in nvcc if "arch" in str(f) and "TORCH_EXTENSION_NAME" not in str(f)]
    return {
        "name": ext.name,
        "sources": [PROBE.rel(s) for s in ext.sources],
        "cuda": any(str(s).endswith((".cu", ".cuh")) for s in ext.sources),
        "nvcc_args": [str(f) for f in nvcc],
        "arch_flags_from": "package" if own_arch else "torch",
    }


# -- bdist_wheel -------------------------------------------------------------------


def run_bdist_wheel(dist, tmp):
    """A package's own bdist_wheel with the stock build recorded: does it try
    to download before building?"""
    cls = dist.cmdclass.get("bdist_wheel")
    stock = [
        c
        for c in (
            _stock_class("setuptools.command.bdist_wheel", "bdist_wheel"),
            _stock_class("wheel.bdist_wheel", "bdist_wheel"),
        )
        if c is not None
    ]
    if cls is None or cls in stock:
        return None
    state = {"built": False}
    restore = []

    def stock_run(self):
        state["built"] = True

    for c in stock:
        if "run" in c.__dict__:
            restore.append((c, c.__dict__["run"]))
            c.run = stock_run
    before = len(PROBE.network)
    PROBE.phase = "bdist_wheel"
    error = None
    try:
        cmd = cls(dist)
        cmd.bdist_dir = os.path.join(tmp, "bdist")
        cmd.dist_dir = os.path.join(tmp, "dist")
        cmd.ensure_finalized()
        cmd.run()
    except BaseException as e:
        error = _error(e)
    finally:
        PROBE.phase = "setup.py"
        for c, run in restore:
            c.run = run
    attempts = PROBE.network[before:]
    return {
        "class": "%s.%s" % (cls.__module__, cls.__qualname__),
        "network": attempts,
        "urls": [a["url"] for a in attempts if a["kind"] == "url" and a["url"]],
        "built": state["built"],
        "error": error,
    }


# -- one run ---------------------------------------------------------------------


def _error(e):
    tb = traceback.format_exception(type(e), e, e.__traceback__)
    return {
        "type": type(e).__name__,
        "message": str(e)[:2000],
        "traceback": "".join(tb)[-4000:],
        "site": _site_of(e),
    }


def _site_of(e):
    tb = e.__traceback__
    site = None
    while tb is not None:
        name = os.path.realpath(tb.tb_frame.f_code.co_filename)
        if name.startswith(PROBE.root + os.sep):
            site = "%s:%d" % (os.path.relpath(name, PROBE.root), tb.tb_lineno)
        tb = tb.tb_next
    return site


def run_once(setup_py, setup_args):
    """Run setup.py once; return its record."""
    PROBE.reset()
    calls = SetupCalls()
    install_setup_hooks(calls)
    result = {"error": None, "setup_calls": 0, "extensions": [], "build_ext": None, "prebuilt": None}
    old_argv = sys.argv
    sys.argv = [setup_py] + setup_args
    try:
        runpy.run_path(setup_py, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            result["error"] = _error(e)
    except BaseException as e:
        result["error"] = _error(e)
    finally:
        sys.argv = old_argv
    result["setup_calls"] = len(calls.calls)
    cpp = None
    try:
        import torch.utils.cpp_extension as cpp
    except Exception:
        pass
    if calls.calls:
        attrs = calls.calls[-1]
        result["name"] = attrs.get("name")
        result["version"] = None if attrs.get("version") is None else str(attrs.get("version"))
        import setuptools

        dist = setuptools.Distribution(dict(attrs))
        dist.script_name = os.path.basename(setup_py)
        dist.script_args = setup_args
        exts = list(dist.ext_modules or [])
        result["extensions"] = [extension_record(e, cpp) for e in exts]
        with tempfile.TemporaryDirectory(prefix="wheelwright-probe-") as tmp:
            if exts:
                PROBE.phase = "build_ext"
                result["build_ext"] = run_build_ext(dist, tmp)
                PROBE.phase = "setup.py"
            result["prebuilt"] = run_bdist_wheel(dist, tmp)
    result["env_reads"] = list(PROBE.env_reads.values())
    result["network"] = list(PROBE.network)
    result["commands"] = list(PROBE.commands)
    return result


def cuda_units(run):
    be = run.get("build_ext") or {}
    return sum(1 for u in be.get("units", []) if u["compiler"] == "nvcc")


def tried_network(run):
    pre = run.get("prebuilt")
    return bool(pre and pre["network"])


def switch_candidates(run):
    """(name, value): variables the package compared with a literal that
    they do not hold now, in the order they were read."""
    out = []
    for read in run["env_reads"]:
        current = os.environ.get(read["name"], read["default"])
        for lit in read["compared_to"]:
            if lit != current and lit != "" and (read["name"], lit) not in out:
                out.append((read["name"], lit))
    return out


def _offline_verdict(base, trial):
    """`None` when `trial` builds offline with no fewer CUDA units, else why not."""
    if tried_network(trial):
        return "still tries the network"
    if not (trial.get("prebuilt") or {}).get("built"):
        return "does not build"
    if cuda_units(trial) < cuda_units(base):
        return "builds fewer CUDA units"
    return None


def _cuda_verdict(base, trial):
    """`None` when `trial` compiles CUDA units without the network, else why not."""
    if cuda_units(trial) == 0:
        return "compiles no CUDA unit"
    if tried_network(trial) and not tried_network(base):
        return "tries the network"
    return None


class SwitchSearch:
    """Runs setup.py again with one variable set, to find the package's
    switches by what they do, not by their names."""

    def __init__(self, setup_py, setup_args, budget):
        self.setup_py = setup_py
        self.setup_args = setup_args
        self.budget = max(0, budget)
        self.found = []
        self.runs = []

    def find(self, purpose, base, verdict_of):
        """The first run from `base` with one more variable set for which
        `verdict_of` has no objection; `base` when none is found."""
        for name, value in switch_candidates(base):
            if self.budget == 0:
                break
            if any(f["name"] == name for f in self.found):
                continue
            self.budget -= 1
            old = os.environ.get(name)
            os.environ[name] = value
            try:
                trial = run_once(self.setup_py, self.setup_args)
            finally:
                if old is None:
                    del os.environ[name]
                else:
                    os.environ[name] = old
            why_not = verdict_of(base, trial)
            self.runs.append(
                {"purpose": purpose, "name": name, "value": value, "verdict": why_not or "switch"}
            )
            if why_not is None:
                self.found.append({"purpose": purpose, "name": name, "value": value})
                # Later runs keep it set, as the build will.
                os.environ[name] = value
                return trial
        return base


def torch_facts():
    try:
        import torch
        import torch.utils.cpp_extension as cpp
    except Exception as e:
        return None, "%s: %s" % (type(e).__name__, e)
    facts = {
        "version": str(torch.__version__),
        "cuda": getattr(torch.version, "cuda", None),
        "cuda_home": getattr(cpp, "CUDA_HOME", None),
        "stub": bool(getattr(torch, "WHEELWRIGHT_TEST_STUB", False)),
        "arch_flags": None,
        "arch_flags_error": None,
    }
    try:
        facts["arch_flags"] = list(cpp._get_cuda_arch_flags())
    except Exception as e:
        facts["arch_flags_error"] = "%s: %s" % (type(e).__name__, e)
    return facts, None


def main(argv):
    global PROBE
    parser = argparse.ArgumentParser(prog="setup_probe.py")
    parser.add_argument("source")
    parser.add_argument("--setup-py", default="setup.py")
    parser.add_argument("--max-switch-runs", type=int, default=6)
    args = parser.parse_args(argv)

    # Our JSON goes to the real stdout; whatever the package prints, and its
    # children, to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    root = os.path.realpath(args.source)
    setup_py = os.path.join(root, args.setup_py)
    PROBE = Probe(root)
    doc = {
        "probe_version": PROBE_VERSION,
        "python": sys.executable,
        "source": root,
        "torch": None,
        "torch_error": None,
    }
    try:
        import _collections_abc

        for module in (os, _collections_abc):
            # Frozen in 3.11+: their code says `<frozen os>`.
            STDLIB_ENV_FILES.add("<frozen %s>" % module.__name__)
            if getattr(module, "__file__", None):
                STDLIB_ENV_FILES.add(os.path.realpath(module.__file__))
        install_network_block()
        os.environ.__class__ = RecordingEnviron
        os.chdir(root)
        sys.path.insert(0, root)
        if not os.path.isfile(setup_py):
            raise FileNotFoundError("no %s in %s" % (args.setup_py, root))
        setup_args = ["bdist_wheel"]
        first = run_once(setup_py, setup_args)
        search = SwitchSearch(setup_py, setup_args, args.max_switch_runs)
        chosen = first
        if tried_network(chosen):
            chosen = search.find("build-offline", chosen, _offline_verdict)
        built = chosen.get("build_ext") or {}
        if chosen.get("extensions") and built and built.get("error") is None and cuda_units(chosen) == 0:
            chosen = search.find("cuda", chosen, _cuda_verdict)
        doc.update(chosen)
        doc["first_run"] = None if chosen is first else {
            k: first.get(k) for k in ("error", "prebuilt", "network", "env_reads", "extensions")
        }
        doc["switches"] = search.found
        doc["switch_runs"] = search.runs
    except BaseException as e:
        doc["error"] = _error(e)
    doc["torch"], doc["torch_error"] = torch_facts()
    json.dump(doc, out, indent=1, sort_keys=True, default=str)
    out.write("\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
