#!/usr/bin/env bash
# Issue 13 on the real wheel: `wheelwright publish --wheelhouse` (which runs wheel
# check first), the wheelhouse served over HTTP on localhost, and a fresh venv
# that installs flash-attn from the wheel's per-variant index with pip, imports
# it from that venv and runs one forward pass on the GPU.
# The venv sees the machine's torch through a .pth file (a venv made from a
# venv's python with --system-site-packages does not see that venv's packages).
set -u
[ -n "${WHEEL:-}" ] || { echo "no wheel (outcome ${OUTCOME:-none}): nothing to publish"; exit 1; }
PY=/opt/torch/.venv/bin/python
H=$W/wheelhouse V=$W/venv-wheelhouse port=18767
rm -rf "$H" "$V"
set -x
"$BIN" publish "$WHEEL" --wheelhouse "$H" || exit 1
"$BIN" publish "$WHEEL" --wheelhouse "$H" --json   # a second run skips: identical
find "$H" -maxdepth 3 | sort
(cd "$H" && setsid python3 -m http.server $port --bind 127.0.0.1 >"$W/http.log" 2>&1 &)
sleep 1
"$PY" -m venv "$V" || exit 1
"$PY" -c 'import site; print(site.getsitepackages()[0])' >"$V/lib/python3.12/site-packages/machine-torch.pth"
label=$(basename "$WHEEL" | sed -n 's/^[^-]*-[^-+]*+\([^-]*\)-.*/\1/p')
root=http://127.0.0.1:$port/$label/simple/
curl -fsS "$root" | head -5
"$V/bin/python" -m pip install --no-deps --index-url "$root" flash-attn || exit 1
cd / && "$V/bin/python" - <<'PY'
import torch, flash_attn, flash_attn_2_cuda
from flash_attn import flash_attn_func
print("flash_attn", flash_attn.__version__, "from", flash_attn.__file__)
print("extension", flash_attn_2_cuda.__file__)
assert "/venv-wheelhouse/" in flash_attn_2_cuda.__file__, "not the wheelhouse install"
q, k, v = (torch.randn(2, 256, 8, 64, device="cuda", dtype=torch.bfloat16) for _ in range(3))
o = flash_attn_func(q, k, v, causal=True)
ref = torch.nn.functional.scaled_dot_product_attention(
    q.transpose(1, 2).float(), k.transpose(1, 2).float(), v.transpose(1, 2).float(), is_causal=True
).transpose(1, 2)
err = (o.float() - ref).abs().max().item()
print("forward max abs error vs SDPA:", err)
assert err < 2e-2, err
print("WHEELHOUSE INSTALL OK")
PY
rc=$?
pkill -f "http.server $port" || true
exit $rc
