# Forward and backward of the built flash-attn wheel against an fp32 PyTorch
# reference, over the head dims and dtypes the build compiled (fwd, bwd, causal,
# split-kv via flash_attn_with_kvcache). Prints one line per case and a JSON summary.
import json, sys, torch
from flash_attn import flash_attn_func, flash_attn_with_kvcache
import flash_attn
def ref(q, k, v, causal):
    q, k, v = (t.transpose(1, 2).float() for t in (q, k, v))
    s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if causal:
        n, m = s.shape[-2], s.shape[-1]
        s = s.masked_fill(torch.ones(n, m, dtype=torch.bool, device=s.device).triu(m - n + 1), float("-inf"))
    return (s.softmax(-1) @ v).transpose(1, 2)
torch.manual_seed(0)
rows, worst = [], 0.0
for dt in (torch.bfloat16, torch.float16):
    for d in (32, 64, 96, 128, 192, 256):
        for causal in (False, True):
            q, k, v = (torch.randn(2, 256, 4, d, dtype=dt, device="cuda", requires_grad=True) for _ in range(3))
            o = flash_attn_func(q, k, v, causal=causal)
            g = torch.randn_like(o)
            dq, dk, dv = torch.autograd.grad(o, (q, k, v), g)
            qr, kr, vr = (t.detach().float().requires_grad_() for t in (q, k, v))
            orf = ref(qr, kr, vr, causal)
            rq, rk, rv = torch.autograd.grad(orf, (qr, kr, vr), g.float())
            ef = (o.float() - orf).abs().max().item()
            eb = max((a.float() - b).abs().max().item() for a, b in ((dq, rq), (dk, rk), (dv, rv)))
            kc, vc = (torch.randn(2, 1024, 4, d, dtype=dt, device="cuda") for _ in range(2))
            q1 = torch.randn(2, 1, 4, d, dtype=dt, device="cuda")
            os_ = flash_attn_with_kvcache(q1, kc, vc, num_splits=4)
            es = (os_.float() - ref(q1, kc, vc, False)).abs().max().item()
            rows.append(dict(dtype=str(dt).split(".")[1], hdim=d, causal=causal, fwd=ef, bwd=eb, splitkv=es))
            print(rows[-1], flush=True)
print(json.dumps(dict(flash_attn=flash_attn.__version__, file=flash_attn.__file__, device=torch.cuda.get_device_name(0),
                      max_fwd=max(r["fwd"] for r in rows), max_bwd=max(r["bwd"] for r in rows), max_splitkv=max(r["splitkv"] for r in rows), cases=len(rows))))
