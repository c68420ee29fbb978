"""PyTorch CPU yardstick for `npm run bench -- dinov2`: one DINOv2/iBOT training step as
dinov2's SSLMetaArch runs it (run with Debian's python3-torch).

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/yardsticks/torch_dinov2.py \
        --arch small --batch 8 --global-size 224 --local-size 98 --n-local 8 --k 4096 --threads 2 --reps 3

Prints one JSON line: {"median_s":..., "min_s":..., "peak_rss_mb":..., "loss":...}.
The step: student backbone on the 2B global crops (half of them masked: mask token, ratios in
[0.1, 0.5]) and the n_local·B local crops (position embedding interpolated bicubically with the
0.1 offset), the teacher backbone on the global crops without gradients, one shared DINO head
(3-layer MLP 2048, bottleneck 256, weight-normalised last layer with K prototypes) on the cls
tokens and the masked patch tokens, softmax centering, DINO (swapped teacher crops), iBOT and
KoLeo losses, backward, gradient clipping per submodule (3.0), AdamW, EMA teacher update.
Drop path is 0 on both sides (the same work as our bench). Plain torch ops as dinov2 runs on
CPU (attention as matmul + softmax + matmul; xFormers is CUDA-only).
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_vit import Block  # the same pre-norm block as the ViT yardstick (run from this folder)

ARCH = {"small": (384, 12, 6), "base": (768, 12, 12)}


class ViT(nn.Module):
    def __init__(self, arch, img):
        super().__init__()
        d, depth, h = ARCH[arch]
        self.g0 = img // 14
        self.patch_embed = nn.Conv2d(3, d, 14, 14)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.g0 ** 2, d) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.blocks = nn.ModuleList(Block(d, h) for _ in range(depth))
        self.norm = nn.LayerNorm(d, eps=1e-6)

    def pos(self, g):
        if g == self.g0:
            return self.pos_embed
        d = self.pos_embed.shape[-1]
        grid = self.pos_embed[:, 1:].reshape(1, self.g0, self.g0, d).permute(0, 3, 1, 2)
        s = (g + 0.1) / self.g0
        grid = F.interpolate(grid, scale_factor=(s, s), mode="bicubic", antialias=False)
        return torch.cat((self.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, g * g, d)), dim=1)

    def forward(self, x, masks=None):
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        if masks is not None:
            t = torch.where(masks.unsqueeze(-1), self.mask_token.to(t.dtype).unsqueeze(0), t)
        t = torch.cat((self.cls_token.expand(t.shape[0], -1, -1), t), dim=1) + self.pos(x.shape[-1] // 14)
        for b in self.blocks:
            t = b(t)
        t = self.norm(t)
        return t[:, 0], t[:, 1:]


class DINOHead(nn.Module):
    def __init__(self, d, k, hidden=2048, bottleneck=256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, bottleneck))
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck, k, bias=False))
        self.last_layer.weight_g.data.fill_(1)

    def forward(self, x):
        return self.last_layer(F.normalize(self.mlp(x), dim=-1, p=2, eps=1e-12))


def block_masks(n_img, g, rng):
    """Half of the crops masked with ratios spread over [0.1, 0.5] (random patches: the timing does
    not depend on the block shape, only on the count)."""
    n = g * g
    masks = torch.zeros(n_img, n, dtype=torch.bool)
    n_masked = n_img // 2
    probs = torch.linspace(0.1, 0.5, n_masked + 1)
    for i in range(n_masked):
        r = float(probs[i] + (probs[i + 1] - probs[i]) * torch.rand(1, generator=rng))
        masks[i, torch.randperm(n, generator=rng)[: int(n * r)]] = True
    return masks[torch.randperm(n_img, generator=rng)]


def koleo(x):
    x = F.normalize(x, eps=1e-8, p=2, dim=-1)
    dots = x @ x.t()
    dots.view(-1)[:: x.shape[0] + 1].fill_(-1)
    idx = dots.max(dim=1).indices
    d = F.pairwise_distance(x, x[idx], p=2, eps=1e-8)
    return -torch.log(d + 1e-8).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="small")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--global-size", type=int, default=224)
    ap.add_argument("--local-size", type=int, default=98)
    ap.add_argument("--n-local", type=int, default=8)
    ap.add_argument("--k", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--autocast", choices=["none", "bf16"], default="none",
                    help="bf16: the forward and the loss under torch.autocast('cpu', bfloat16), float32 master weights")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    rng = torch.Generator().manual_seed(0)
    B, gs, ls = a.batch, a.global_size, a.local_size
    d = ARCH[a.arch][0]
    def build():
        return nn.ModuleDict({"backbone": ViT(a.arch, gs), "dino_head": DINOHead(d, a.k)})

    student, teacher = build(), build()
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad_(False)
    student.train()
    teacher.eval()
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4, weight_decay=0.04)
    center_cls = torch.zeros(1, a.k)
    center_patch = torch.zeros(1, 1, a.k)
    glob = torch.randn(2 * B, 3, gs, gs, generator=rng)
    loc = torch.randn(a.n_local * B, 3, ls, ls, generator=rng)
    g = gs // 14
    masks = block_masks(2 * B, g, rng)
    mask_idx = masks.flatten().nonzero().flatten()
    weights = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
    n_terms = 2 + 2 * a.n_local
    s_t, t_t = 0.1, 0.07

    def step():
        nonlocal center_cls, center_patch
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast == "bf16"):
            loss, new_cls, new_patch = forward()
        loss.backward()
        for m in student.values():
            nn.utils.clip_grad_norm_(m.parameters(), 3.0)
        opt.step()
        with torch.no_grad():
            center_cls = center_cls * 0.9 + new_cls.float() * 0.1
            center_patch = center_patch * 0.9 + new_patch.float() * 0.1
            sp = list(student.parameters())
            tp = list(teacher.parameters())
            torch._foreach_mul_(tp, 0.996)
            torch._foreach_add_(tp, sp, alpha=0.004)
        return float(loss)

    def forward():
        with torch.no_grad():
            t_cls, t_patch = teacher["backbone"](glob)
            t_cls = torch.cat(t_cls.chunk(2)[::-1])
            t_masked = t_patch.flatten(0, 1).index_select(0, mask_idx)
            t_out = teacher["dino_head"](torch.cat((t_cls, t_masked)))
            t_cls_out, t_patch_out = t_out[: 2 * B], t_out[2 * B:]
            tgt_cls = F.softmax((t_cls_out - center_cls) / t_t, dim=-1)
            tgt_patch = F.softmax((t_patch_out - center_patch[0]) / t_t, dim=-1)
            new_cls = t_cls_out.mean(0, keepdim=True)
            new_patch = t_patch_out.mean(0, keepdim=True).unsqueeze(0)
        s_gcls, s_gpatch = student["backbone"](glob, masks)
        s_lcls, _ = student["backbone"](loc)
        s_masked = s_gpatch.flatten(0, 1).index_select(0, mask_idx)
        s_out = student["dino_head"](torch.cat((s_lcls, s_gcls, s_masked)))
        s_lout, s_gout, s_pout = s_out[: a.n_local * B], s_out[a.n_local * B: a.n_local * B + 2 * B], s_out[a.n_local * B + 2 * B:]
        local = 0
        for s in s_lout.chunk(a.n_local):
            lsm = F.log_softmax(s / s_t, dim=-1)
            for t in tgt_cls.chunk(2):
                local = local - (t * lsm).sum(-1).mean()
        glob_loss = -(tgt_cls * F.log_softmax(s_gout / s_t, dim=-1)).sum(-1).mean()
        ibot = -((tgt_patch * F.log_softmax(s_pout / s_t, dim=-1)).sum(-1) * weights).sum() / masks.shape[0]
        kol = 0.1 * sum(koleo(p) for p in s_gcls.chunk(2))
        loss = local / n_terms + 2 * glob_loss / n_terms + kol + ibot
        return loss, new_cls, new_patch

    step()  # warm-up
    ts, loss = [], 0.0
    for _ in range(a.reps):
        t0 = time.perf_counter()
        loss = step()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    print(json.dumps({"median_s": ts[len(ts) // 2], "min_s": ts[0], "loss": loss,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
