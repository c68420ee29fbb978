# The yardstick for bench/cuda/attention.ts: torch.nn.functional.scaled_dot_product_attention
# with the flash backend only (bf16, [B, H, N, D] contiguous), forward and backward
# (torch.autograd.grad of the output with a random grad_out, graph kept), timed with CUDA events
# (median of 7 samples after 3 warm-ups).
import json
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

B, H, D = 32, 12, 64


def timed(fn, reps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(7):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            fn()
        b.record()
        torch.cuda.synchronize()
        samples.append(a.elapsed_time(b) / 1e3 / reps)
    return sorted(samples)[3]


with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
    for N in (1370, 257):
        q, k, v = (torch.randn(B, H, N, D, device="cuda").bfloat16().requires_grad_() for _ in range(3))
        g = torch.randn(B, H, N, D, device="cuda").bfloat16()
        reps = 10 if N > 1000 else 40
        with torch.no_grad():
            tf = timed(lambda: F.scaled_dot_product_attention(q, k, v), reps)
        o = F.scaled_dot_product_attention(q, k, v)
        tb = timed(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True), reps)
        flops = 4 * N * N * D * B * H
        print(json.dumps({"impl": "torch", "name": f"fwd N={N}", "N": N, "ms": tf * 1e3, "tflops": flops / tf / 1e12}))
        print(json.dumps({"impl": "torch", "name": f"bwd N={N}", "N": N, "ms": tb * 1e3, "tflops": 2.5 * flops / tb / 1e12}))
        del q, k, v, g, o
