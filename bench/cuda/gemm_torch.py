# The yardstick for bench/cuda/gemm.ts: torch.matmul(x, W.t()) in bf16 at the same shapes, timed
# with CUDA events (median of 7 samples of 30 products after 10 warm-ups).
import json
import torch

M = 32 * 1370
SHAPES = [("qkv", 2304, 768), ("fc1", 3072, 768), ("fc2", 768, 3072), ("proj", 768, 768)]
for name, N, K in SHAPES:
    x = torch.randn(M, K, device="cuda").bfloat16()
    w = (torch.randn(N, K, device="cuda") * 0.05).bfloat16()
    for _ in range(10):
        torch.matmul(x, w.t())
    torch.cuda.synchronize()
    samples = []
    for _ in range(7):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(30):
            torch.matmul(x, w.t())
        b.record()
        torch.cuda.synchronize()
        samples.append(a.elapsed_time(b) / 1e3 / 30)
    t = sorted(samples)[3]
    print(json.dumps({"impl": "torch", "name": name, "M": M, "N": N, "K": K, "ms": t * 1e3, "tflops": 2 * M * N * K / t / 1e12}))
