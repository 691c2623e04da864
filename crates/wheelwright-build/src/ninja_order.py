"""wheelwright's ninja shim: start the longest compiles first, then run the real ninja.

Released ninja (up to 1.13.2) starts ready edges of equal critical-path weight in
manifest order, and torch writes build.ninja in setuptools' sorted source order,
so a long kernel late in the alphabet starts last and ends the build alone. This
shim stands first on PATH while wheelwright builds. When torch runs `ninja` in
its build dir, the shim reorders the compile statements of build.ninja by the
ranking in the file named by WHEELWRIGHT_NINJA_ORDER (one source path per line,
longest first), then replaces itself with the real ninja, unchanged arguments.

Only the order of `build` statements that compile a ranked source changes: their
commands, and so ninja's command hashes and finished objects, stay the same.
When anything looks unusual (a variable, rule or include between the statements,
no ranked source, an unreadable file), build.ninja is left as it is. Whatever
happens here, the real ninja runs.
"""

import os
import sys

SHIM_DIR = os.path.dirname(os.path.realpath(__file__))
ORDER_VAR = "WHEELWRIGHT_NINJA_ORDER"


def log(message):
    sys.stderr.write("wheelwright: ninja order: %s\n" % message)
    sys.stderr.flush()


def real_ninja():
    """The first `ninja` on PATH that is not this shim."""
    me = os.path.realpath(os.path.join(SHIM_DIR, "ninja"))
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d:
            continue
        candidate = os.path.join(d, "ninja")
        try:
            if os.path.realpath(candidate) == me or os.path.realpath(d) == SHIM_DIR:
                continue
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        except OSError:
            continue
    return None


def tokens(line):
    """The tokens of one `build` line after `build `: unescaped `$ `, `$:` and `$$`;
    `:` and `|`/`||` as their own tokens."""
    out, cur, i = [], [], 0
    while i < len(line):
        c = line[i]
        if c == "$" and i + 1 < len(line):
            cur.append(line[i + 1])
            i += 2
            continue
        if c in " \t\r\n":
            if cur:
                out.append("".join(cur))
                cur = []
        elif c == ":":
            if cur:
                out.append("".join(cur))
                cur = []
            out.append(":")
        else:
            cur.append(c)
        i += 1
    if cur:
        out.append("".join(cur))
    return out


def explicit_inputs(first_line):
    """The explicit inputs of a `build` statement's first line, or None."""
    t = tokens(first_line[len("build "):])
    if ":" not in t:
        return None
    after = t[t.index(":") + 1:]
    if not after:
        return None
    inputs = []
    for tok in after[1:]:
        if tok in ("|", "||", "|@"):
            break
        inputs.append(tok)
    return inputs


def rank_of(inputs, ranks):
    for path in inputs:
        norm = path.replace("\\", "/")
        for unit, rank in ranks:
            if norm == unit or norm.endswith("/" + unit):
                return rank
    return None


def blocks_of(text):
    """Top-level statements with their indented or `$`-continued lines."""
    blocks = []
    for line in text.splitlines(True):
        body = line.rstrip("\r\n")
        trailing = len(body) - len(body.rstrip("$"))
        if blocks and (line[:1] in (" ", "\t") or blocks[-1][1]):
            blocks[-1][0].append(line)
            blocks[-1][1] = trailing % 2 == 1
        else:
            blocks.append([[line], trailing % 2 == 1])
    return [b[0] for b in blocks]


def reorder(text, units):
    """(new text, ranked statements) with the ranked compiles longest first."""
    ranks = [(u, i) for i, u in enumerate(units)]
    # Longest unit paths first, so `a/b.cu` is not taken for `b.cu`.
    ranks.sort(key=lambda r: -len(r[0]))
    blocks = blocks_of(text)
    ranked = []
    for i, block in enumerate(blocks):
        if block[0].startswith("build "):
            inputs = explicit_inputs(block[0])
            rank = rank_of(inputs, ranks) if inputs else None
            if rank is not None:
                ranked.append((i, rank))
    if len(ranked) < 2:
        return text, len(ranked)
    first, last = ranked[0][0], ranked[-1][0]
    for block in blocks[first:last + 1]:
        head = block[0].strip()
        if head and not head.startswith("#") and not head.startswith("build "):
            # A binding or rule between the statements: moving them could change
            # what they mean.
            return text, 0
    positions = [i for i, _ in ranked]
    in_order = sorted(ranked, key=lambda r: (r[1], r[0]))
    new_blocks = list(blocks)
    for pos, (old, _) in zip(positions, in_order):
        new_blocks[pos] = blocks[old]
    return "".join("".join(b) for b in new_blocks), len(ranked)


def manifest_path(args):
    """build.ninja as ninja would read it: `-C DIR`, `-f FILE`."""
    directory, name, i = ".", "build.ninja", 0
    while i < len(args):
        a = args[i]
        if a == "-C" and i + 1 < len(args):
            directory = os.path.join(directory, args[i + 1])
            i += 1
        elif a.startswith("-C") and len(a) > 2:
            directory = os.path.join(directory, a[2:])
        elif a == "-f" and i + 1 < len(args):
            name = args[i + 1]
            i += 1
        elif a.startswith("-f") and len(a) > 2:
            name = a[2:]
        elif a in ("--version", "-t", "-h", "--help") or a.startswith("-t"):
            return None
        i += 1
    return os.path.join(directory, name)


def apply(args):
    order_file = os.environ.get(ORDER_VAR)
    if not order_file:
        return
    path = manifest_path(args)
    if path is None or not os.path.isfile(path):
        return
    with open(order_file, encoding="utf-8") as f:
        units = [line.strip() for line in f if line.strip()]
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    new, count = reorder(text, units)
    if new != text:
        tmp = path + ".wheelwright-tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(new)
        os.replace(tmp, path)
    if count:
        log("%d compiles start longest first (%s)" % (count, os.path.abspath(path)))


def main():
    args = sys.argv[1:]
    try:
        apply(args)
    except Exception as e:  # the build must run whatever happens here
        log("left build.ninja as it was: %s" % e)
    ninja = real_ninja()
    if ninja is None:
        sys.stderr.write("ninja: not found on PATH (behind wheelwright's ninja shim)\n")
        sys.exit(127)
    os.execv(ninja, [ninja] + args)


if __name__ == "__main__":
    main()
