#!/usr/bin/env python3
"""The declared rust-version is honest: at least every dependency's.

Reads `cargo metadata` for this host's platform (the packages that are built
here, dev and build dependencies included) and fails, naming them, when a
dependency declares a `rust-version` above the one a workspace member
declares, or when a member declares none. Only one toolchain is installed on
the CI box, so this is how the claim in Cargo.toml is checked without
building on the older compiler. Run from anywhere; `.ci/run` runs it.
"""
import json
import os
import subprocess
import sys


def version(text):
    """`1.88` and `1.88.0` as comparable tuples."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    host = next(
        line.split(":", 1)[1].strip()
        for line in subprocess.check_output(["rustc", "-vV"], text=True).splitlines()
        if line.startswith("host:")
    )
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host],
            cwd=root,
            text=True,
        )
    )
    members = set(meta["workspace_members"])
    packages = {p["id"]: p for p in meta["packages"]}
    # Only what the resolve reaches from the workspace on this platform.
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    reached, todo = set(), list(members)
    while todo:
        pid = todo.pop()
        if pid in reached:
            continue
        reached.add(pid)
        todo.extend(d["pkg"] for d in nodes[pid]["deps"])

    deps = [packages[p] for p in reached - members if packages[p].get("rust_version")]
    if not deps:
        sys.exit("no dependency declares a rust-version: is this the workspace?")
    need = max(deps, key=lambda p: version(p["rust_version"]))
    problems = []
    by_version = {}
    for pid in sorted(members):
        p = packages[pid]
        declared = p.get("rust_version")
        if not declared:
            problems.append(f"{p['name']} declares no rust-version")
        else:
            by_version.setdefault(declared, []).append(p["name"])
    for declared, names in sorted(by_version.items()):
        above = sorted(
            (d for d in deps if version(d["rust_version"]) > version(declared)),
            key=lambda d: version(d["rust_version"]),
            reverse=True,
        )
        if above:
            what = ", ".join(f"{d['name']} {d['version']} ({d['rust_version']})" for d in above[:8])
            more = f" and {len(above) - 8} more" if len(above) > 8 else ""
            who = names[0] if len(names) == 1 else f"{len(names)} workspace members ({', '.join(names)})"
            verb = "declares" if len(names) == 1 else "declare"
            problems.append(f"{who} {verb} rust-version {declared}, below {what}{more}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(
            f"hint: set rust-version = \"{need['rust_version']}\" in the root Cargo.toml's "
            f"[workspace.package] (the highest, from {need['name']} {need['version']})",
            file=sys.stderr,
        )
        sys.exit(1)
    print(
        f"rust-version ok: {len(members)} workspace members declare at least "
        f"{need['rust_version']} ({need['name']}, the highest of {len(deps)} dependencies that declare one)"
    )


if __name__ == "__main__":
    main()
