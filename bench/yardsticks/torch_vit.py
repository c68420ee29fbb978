"""PyTorch CPU yardstick for `npm run bench -- vit` (run with Debian's python3-torch).

    /usr/bin/python3 bench/yardsticks/torch_vit.py infer  --arch base  --img 224 --batch 8 --threads 2 --reps 5
    /usr/bin/python3 bench/yardsticks/torch_vit.py train  --arch small --img 224 --batch 8 --threads 2 --reps 5
    /usr/bin/python3 bench/yardsticks/torch_vit.py export --arch base  --img 224 --out vit_b14_224.onnx
Prints one JSON line: {"median_s":..., "min_s":..., "peak_rss_mb":...}. The model is the DINOv2 ViT
(pre-norm blocks, LayerScale, MLP, patch 14, eval mode without drop path) written with plain
torch ops as dinov2 runs on CPU (attention as matmul + softmax + matmul). Set OMP_NUM_THREADS
and OMP_WAIT_POLICY=PASSIVE in the environment (the benchmark does): without PASSIVE, 2 threads
are slower than 1 on the 2-core development machine.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCH = {"small": (384, 12, 6), "base": (768, 12, 12), "large": (1024, 24, 16)}


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.ls1, self.ls2 = nn.Parameter(torch.full((d,), 1e-5)), nn.Parameter(torch.full((d,), 1e-5))

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(B, N, 3, self.h, C // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (C // self.h) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        x = x + self.proj((a @ v).transpose(1, 2).reshape(B, N, C)) * self.ls1
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x)))) * self.ls2


class ViT(nn.Module):
    def __init__(self, arch, img):
        super().__init__()
        d, depth, h = ARCH[arch]
        self.patch = nn.Conv2d(3, d, 14, 14)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.randn(1, 1 + (img // 14) ** 2, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, h) for _ in range(depth))
        self.norm = nn.LayerNorm(d, eps=1e-6)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat((self.cls.expand(t.shape[0], -1, -1), t), dim=1) + self.pos
        for b in self.blocks:
            t = b(t)
        return self.norm(t)[:, 0]


def timed(fn, reps):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return {"median_s": ts[len(ts) // 2], "min_s": ts[0], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["infer", "train", "export"])
    ap.add_argument("--arch", default="base")
    ap.add_argument("--img", type=int, default=224)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = ViT(a.arch, a.img)
    x = torch.randn(a.batch, 3, a.img, a.img)
    if a.mode == "export":
        model.eval()
        torch.onnx.export(model, x, a.out, opset_version=14, input_names=["x"], output_names=["cls"],
                          dynamic_axes={"x": {0: "batch"}, "cls": {0: "batch"}})
        print(json.dumps({"onnx": a.out}))
        return
    if a.mode == "infer":
        model.eval()
        with torch.no_grad():
            print(json.dumps(timed(lambda: model(x), a.reps)))
        return
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.04)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(x).square().mean()
        loss.backward()
        opt.step()

    print(json.dumps(timed(step, a.reps)))


if __name__ == "__main__":
    main()
