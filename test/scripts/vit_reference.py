"""PyTorch reference for the DINOv2 ViT parity tests (test/vit_parity.test.ts).

Run with Debian's PyTorch 1.13 (apt-get install python3-torch):
    /usr/bin/python3 test/scripts/vit_reference.py
It writes test/fixtures/vit/:
  weights_mlp.safetensors     D 192, depth 3, heads 3, MLP FFN, 4 register tokens (the no-register
                              variant ignores register_tokens; "mlp_reg_aa" resizes the position
                              embedding like the register hub models: by size, antialiased);
                              float16 values, dinov2 names
  weights_swiglu.safetensors  the same with the fused SwiGLU FFN, no registers
  expected.safetensors        float32 outputs of every case
  cases.json                  the cases, and per-parameter gradient summaries
The model below is written from the dinov2 repository's semantics (vision_transformer.py,
layers/*.py): pre-norm blocks with LayerScale, patch embed as a stride-p conv, cls token,
position-embedding interpolation with scale_factor (offset 0.1), registers after cls, mask token.
Inputs, masks and loss weights come from an integer LCG that the TypeScript test reproduces
exactly (lcg() below and in the test), so only the model weights travel as a file.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "vit")
D, DEPTH, HEADS, P, IMG = 192, 3, 3, 14, 56
EPS = 1e-6


def lcg(n, seed):
    """Floats in [-1, 1) with 24-bit resolution from x <- (1664525 x + 1013904223) mod 2^32.

    Vectorised by blocks: x[i + K] = A x[i] + C (mod 2^32) with A = a^K, C = c (a^(K-1) + ... + 1).
    """
    import numpy as np
    a, c, m, K = 1664525, 1013904223, 1 << 32, 1024
    first, x = [], seed % m
    for _ in range(min(n, K)):
        x = (a * x + c) % m
        first.append(x)
    A, C = 1, 0
    for _ in range(K):
        A, C = (A * a) % m, (C * a + c) % m
    vals = [np.array(first, dtype=np.uint64)]
    while sum(len(v) for v in vals) < n:
        vals.append((vals[-1] * np.uint64(A) + np.uint64(C)) % np.uint64(m))
    xs = np.concatenate(vals)[:n]
    return torch.from_numpy(((xs >> np.uint64(8)).astype(np.float64) / 16777216.0 * 2 - 1)).float()


def swiglu_hidden(hidden):
    return (int(hidden * 2 / 3) + 7) // 8 * 8


def make_weights(ffn, registers, seed):
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape, std=0.02: (torch.randn(*shape, generator=g) * std).half().float()
    w = {}
    n0 = (IMG // P) ** 2
    w["cls_token"] = r(1, 1, D, std=0.5)
    w["pos_embed"] = r(1, 1 + n0, D, std=0.5)
    w["mask_token"] = r(1, D, std=0.5)
    if registers:
        w["register_tokens"] = r(1, registers, D, std=0.5)
    w["patch_embed.proj.weight"] = r(D, 3, P, P, std=0.05)
    w["patch_embed.proj.bias"] = r(D, std=0.1)
    for i in range(DEPTH):
        b = f"blocks.{i}."
        w[b + "norm1.weight"] = 1 + r(D, std=0.1)
        w[b + "norm1.bias"] = r(D, std=0.1)
        w[b + "attn.qkv.weight"] = r(3 * D, D, std=0.08)
        w[b + "attn.qkv.bias"] = r(3 * D, std=0.05)
        w[b + "attn.proj.weight"] = r(D, D, std=0.08)
        w[b + "attn.proj.bias"] = r(D, std=0.05)
        w[b + "ls1.gamma"] = r(D, std=0.3)
        w[b + "norm2.weight"] = 1 + r(D, std=0.1)
        w[b + "norm2.bias"] = r(D, std=0.1)
        if ffn == "mlp":
            w[b + "mlp.fc1.weight"] = r(4 * D, D, std=0.08)
            w[b + "mlp.fc1.bias"] = r(4 * D, std=0.05)
            w[b + "mlp.fc2.weight"] = r(D, 4 * D, std=0.04)
            w[b + "mlp.fc2.bias"] = r(D, std=0.05)
        else:
            h = swiglu_hidden(4 * D)
            w[b + "mlp.w12.weight"] = r(2 * h, D, std=0.08)
            w[b + "mlp.w12.bias"] = r(2 * h, std=0.05)
            w[b + "mlp.w3.weight"] = r(D, h, std=0.05)
            w[b + "mlp.w3.bias"] = r(D, std=0.05)
        w[b + "ls2.gamma"] = r(D, std=0.3)
    w["norm.weight"] = 1 + r(D, std=0.1)
    w["norm.bias"] = r(D, std=0.1)
    # every value must be exactly representable in the float16 file (1 + r is not, until rounded)
    return {k: v.half().float() for k, v in w.items()}


def save_safetensors(path, tensors, dtype="F32"):
    """A plain safetensors writer: sorted keys, 8-byte aligned data, little-endian."""
    header, offset, blobs = {}, 0, []
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        if dtype == "F16":
            data = t.half().numpy().tobytes()
        else:
            data = t.float().numpy().tobytes()
        header[k] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class Ref(torch.nn.Module):
    def __init__(self, w, ffn, registers, antialias=False):
        super().__init__()
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v.clone()) for k, v in w.items()})
        self.ffn, self.R, self.antialias = ffn, registers, antialias

    def g(self, name):
        return self.p[name.replace(".", "__")]

    def interpolate_pos_encoding(self, npatch, h, w):
        pos = self.g("pos_embed").float()
        N = pos.shape[1] - 1
        if npatch == N and w == h:
            return pos
        cls, grid = pos[:, 0], pos[:, 1:]
        h0, w0 = h // P, w // P
        M = int(math.sqrt(N))
        grid = grid.reshape(1, M, M, D).permute(0, 3, 1, 2)
        if self.antialias:  # the register hub models: offset 0, resize by size, antialiased
            grid = F.interpolate(grid, mode="bicubic", size=(h0, w0), antialias=True)
        else:
            grid = F.interpolate(grid, mode="bicubic", scale_factor=((h0 + 0.1) / M, (w0 + 0.1) / M))
        assert grid.shape[-2:] == (h0, w0)
        return torch.cat((cls.unsqueeze(0), grid.permute(0, 2, 3, 1).reshape(1, -1, D)), dim=1)

    def prepare(self, x, masks):
        B, _, h, w = x.shape
        t = F.conv2d(x, self.g("patch_embed.proj.weight"), self.g("patch_embed.proj.bias"), stride=P)
        t = t.flatten(2).transpose(1, 2)
        if masks is not None:
            t = torch.where(masks.unsqueeze(-1), self.g("mask_token").unsqueeze(0), t)
        t = torch.cat((self.g("cls_token").expand(B, -1, -1), t), dim=1)
        t = t + self.interpolate_pos_encoding(t.shape[1] - 1, h, w)
        if self.R:
            t = torch.cat((t[:, :1], self.g("register_tokens").expand(B, -1, -1), t[:, 1:]), dim=1)
        return t

    def block(self, i, x):
        b = f"blocks.{i}."
        B, N, C = x.shape
        y = F.layer_norm(x, (C,), self.g(b + "norm1.weight"), self.g(b + "norm1.bias"), EPS)
        qkv = F.linear(y, self.g(b + "attn.qkv.weight"), self.g(b + "attn.qkv.bias"))
        qkv = qkv.reshape(B, N, 3, HEADS, C // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (C // HEADS) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        y = (a @ v).transpose(1, 2).reshape(B, N, C)
        y = F.linear(y, self.g(b + "attn.proj.weight"), self.g(b + "attn.proj.bias"))
        x = x + y * self.g(b + "ls1.gamma")
        y = F.layer_norm(x, (C,), self.g(b + "norm2.weight"), self.g(b + "norm2.bias"), EPS)
        if self.ffn == "mlp":
            y = F.linear(F.gelu(F.linear(y, self.g(b + "mlp.fc1.weight"), self.g(b + "mlp.fc1.bias"))),
                         self.g(b + "mlp.fc2.weight"), self.g(b + "mlp.fc2.bias"))
        else:
            x12 = F.linear(y, self.g(b + "mlp.w12.weight"), self.g(b + "mlp.w12.bias"))
            x1, x2 = x12.chunk(2, dim=-1)
            y = F.linear(F.silu(x1) * x2, self.g(b + "mlp.w3.weight"), self.g(b + "mlp.w3.bias"))
        return x + y * self.g(b + "ls2.gamma")

    def norm(self, x):
        return F.layer_norm(x, (D,), self.g("norm.weight"), self.g("norm.bias"), EPS)

    def forward_features(self, x, masks=None):
        t = self.prepare(x, masks)
        for i in range(DEPTH):
            t = self.block(i, t)
        n = self.norm(t)
        return {"cls": n[:, 0], "reg": n[:, 1:self.R + 1], "patch": n[:, self.R + 1:], "prenorm": t}

    def intermediate(self, x, n, reshape, norm):
        t = self.prepare(x, None)
        take = range(DEPTH - n, DEPTH) if isinstance(n, int) else n
        outs = []
        for i in range(DEPTH):
            t = self.block(i, t)
            if i in take:
                outs.append(t)
        if norm:
            outs = [self.norm(o) for o in outs]
        cls = [o[:, 0] for o in outs]
        outs = [o[:, 1 + self.R:] for o in outs]
        if reshape:
            B, _, h, w = x.shape
            outs = [o.reshape(B, h // P, w // P, -1).permute(0, 3, 1, 2).contiguous() for o in outs]
        return outs, cls


def image(B, h, w, seed):
    return lcg(B * 3 * h * w, seed).reshape(B, 3, h, w)


def mask(B, n, seed):
    return (lcg(B * n, seed) > 0.2).reshape(B, n)


def grad_summary(t, seed):
    """Norm, sum, dot with an LCG vector and 32 LCG-chosen entries of a gradient."""
    flat = t.detach().double().flatten()  # (a parameter without a path to the loss has t = 0)
    n = flat.numel()
    probe = lcg(n, seed).double()
    idx = [int((v + 1) / 2 * n) % n for v in lcg(32, seed + 1).tolist()]
    return {"norm": flat.norm().item(), "sum": flat.sum().item(), "dot": (flat * probe).sum().item(),
            "idx": idx, "values": [flat[i].item() for i in idx]}


def main():
    os.makedirs(OUT, exist_ok=True)
    weights = {"mlp": make_weights("mlp", 4, 1), "swiglu": make_weights("swiglu", 0, 2)}
    save_safetensors(os.path.join(OUT, "weights_mlp.safetensors"), weights["mlp"], "F16")
    save_safetensors(os.path.join(OUT, "weights_swiglu.safetensors"), weights["swiglu"], "F16")
    models = {
        "mlp": Ref({k: v for k, v in weights["mlp"].items() if k != "register_tokens"}, "mlp", 0),
        "mlp_reg": Ref(weights["mlp"], "mlp", 4),
        "swiglu": Ref(weights["swiglu"], "swiglu", 0),
        "mlp_reg_aa": Ref(weights["mlp"], "mlp", 4, antialias=True),
    }
    expected, cases = {}, []
    features = [
        ("mlp", 2, 56, 56, False), ("mlp", 2, 70, 98, False), ("mlp", 1, 42, 42, False), ("mlp", 2, 56, 56, True),
        ("mlp_reg", 2, 56, 56, False), ("mlp_reg", 2, 70, 98, True), ("swiglu", 2, 56, 56, False),
        ("swiglu", 1, 42, 70, True), ("mlp_reg_aa", 2, 70, 98, False), ("mlp_reg_aa", 1, 42, 28, True),
    ]
    for ci, (name, B, h, w, masked) in enumerate(features):
        x = image(B, h, w, 100 + ci)
        m = mask(B, (h // P) * (w // P), 200 + ci) if masked else None
        with torch.no_grad():
            out = models[name].forward_features(x, m)
        key = f"features{ci}"
        for part, t in out.items():
            expected[f"{key}.{part}"] = t
        cases.append({"kind": "features", "id": key, "model": name, "B": B, "h": h, "w": w,
                      "imageSeed": 100 + ci, "maskSeed": 200 + ci if masked else None})
    inter = [("mlp_reg", 2, 70, 98, 2, True, True), ("mlp", 1, 56, 42, [0, 2], False, False)]
    for ci, (name, B, h, w, n, reshape, norm) in enumerate(inter):
        x = image(B, h, w, 300 + ci)
        with torch.no_grad():
            outs, cls = models[name].intermediate(x, n, reshape, norm)
        key = f"inter{ci}"
        for j, (o, c) in enumerate(zip(outs, cls)):
            expected[f"{key}.{j}.patch"] = o
            expected[f"{key}.{j}.cls"] = c
        cases.append({"kind": "intermediate", "id": key, "model": name, "B": B, "h": h, "w": w, "imageSeed": 300 + ci,
                      "n": n, "reshape": reshape, "norm": norm, "count": len(outs)})
    for ci, (name, B, h, w, masked) in enumerate([("mlp_reg", 2, 70, 98, True), ("swiglu", 2, 42, 56, False)]):
        model = models[name]
        model.zero_grad()
        x = image(B, h, w, 400 + ci)
        m = mask(B, (h // P) * (w // P), 500 + ci) if masked else None
        out = model.forward_features(x, m)
        loss = sum((out[part] * lcg(out[part].numel(), 600 + ci * 10 + j).reshape(out[part].shape)).sum()
                   for j, part in enumerate(["cls", "reg", "patch"]) if out[part].numel())
        loss.backward()
        grads = {k.replace("__", "."): grad_summary(p.grad if p.grad is not None else torch.zeros_like(p), 700 + ci)
                 for k, p in model.p.items()}
        cases.append({"kind": "grad", "id": f"grad{ci}", "model": name, "B": B, "h": h, "w": w, "imageSeed": 400 + ci,
                      "maskSeed": 500 + ci if masked else None, "lossSeed": 600 + ci * 10, "probeSeed": 700 + ci,
                      "loss": loss.item(), "grads": grads})
    save_safetensors(os.path.join(OUT, "expected.safetensors"), expected)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"config": {"embedDim": D, "depth": DEPTH, "numHeads": HEADS, "patchSize": P, "imgSize": IMG},
                   "cases": cases}, f, indent=1)
    print("wrote", OUT, {k: os.path.getsize(os.path.join(OUT, k)) for k in os.listdir(OUT)})


if __name__ == "__main__":
    main()
