"""PyTorch reference for the DINOv2/iBOT objective parity tests (test/ssl_parity.test.ts).

Run with Debian's PyTorch 1.13 (apt-get install python3-torch):
    /usr/bin/python3 test/scripts/ssl_reference.py
It writes test/fixtures/ssl/:
  expected.safetensors  float32 outputs of the unit cases (head, teacher targets, losses, gradients)
  cases.json            the unit cases' scalars, schedules, parameter groups, and two full training
                        steps per case (losses, gradient / update / teacher summaries)
Everything below is written from the semantics of the dinov2 repository (no dinov2 package is
installed): dinov2/layers/dino_head.py, dinov2/loss/{dino_clstoken,ibot_patch,koleo}_loss.py,
dinov2/train/ssl_meta_arch.py (forward_backward, update_teacher), dinov2/train/train.py
(build_schedulers, apply_optim_scheduler, the step order), dinov2/utils/{utils,param_groups}.py.
Single process: the torch.distributed reductions are identities.
The backbone is vit_reference.py's Ref (D 192, depth 3, 3 heads, patch 14, trained size 56) on
the weights of test/fixtures/vit/weights_mlp.safetensors (without registers); inputs, masks, head
weights and the teacher's offsets come from the integer LCG that the TypeScript test reproduces.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import weight_norm

sys.path.insert(0, os.path.dirname(__file__))
from vit_reference import D, DEPTH, Ref, lcg, save_safetensors  # noqa: E402

torch.set_num_threads(1)
HERE = os.path.dirname(__file__)
OUT = os.path.join(HERE, "..", "fixtures", "ssl")
VIT_WEIGHTS = os.path.join(HERE, "..", "fixtures", "vit", "weights_mlp.safetensors")


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dt = {"F16": np.float16, "F32": np.float32}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dt[v["dtype"]]).astype(np.float32).reshape(v["shape"]).copy())
    return out


# ---- dinov2/layers/dino_head.py -------------------------------------------------------------
class DINOHead(nn.Module):
    def __init__(self, in_dim, out_dim, nlayers=3, hidden_dim=2048, bottleneck_dim=256):
        super().__init__()
        if nlayers == 1:
            self.mlp = nn.Linear(in_dim, bottleneck_dim)
        else:
            layers = [nn.Linear(in_dim, hidden_dim), nn.GELU()]
            for _ in range(nlayers - 2):
                layers += [nn.Linear(hidden_dim, hidden_dim), nn.GELU()]
            layers.append(nn.Linear(hidden_dim, bottleneck_dim))
            self.mlp = nn.Sequential(*layers)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))

    def forward(self, x):
        x = self.mlp(x)
        x = F.normalize(x, dim=-1, p=2, eps=1e-12)
        return self.last_layer(x)


def head_weights(head, seed):
    """LCG weights for every head parameter (g kept positive), in state-dict order."""
    w = {}
    for i, (k, p) in enumerate(head.state_dict().items()):
        x = lcg(p.numel(), seed + i).reshape(p.shape)
        if k.endswith("weight_g"):
            w[k] = x * 0.5 + 1
        elif k.endswith("bias"):
            w[k] = x * 0.1
        else:
            w[k] = x * (1.7 / math.sqrt(p.shape[1]))
    return w


# ---- dinov2/loss -----------------------------------------------------------------------------
class Center:
    """The lazily applied center EMA of DINOLoss / iBOTPatchLoss (mean_fn: how the batch mean is taken)."""

    def __init__(self, shape, ibot):
        self.center = torch.zeros(shape)
        self.updated, self.ibot = True, ibot
        self.async_batch_center, self.len = None, None

    @torch.no_grad()
    def softmax_center_teacher(self, t, teacher_temp):
        self.apply_center_update()
        return F.softmax((t - self.center) / teacher_temp, dim=-1)

    @torch.no_grad()
    def update_center(self, t):
        self.updated = False
        self.len = len(t)
        self.async_batch_center = torch.sum(t.mean(1), dim=0, keepdim=True) if self.ibot else torch.sum(t, dim=0, keepdim=True)

    @torch.no_grad()
    def apply_center_update(self):
        if self.updated is False:
            _t = self.async_batch_center / self.len
            self.center = self.center * 0.9 + _t * (1 - 0.9)
            self.updated = True


@torch.no_grad()
def sinkhorn_knopp_teacher(teacher_output, teacher_temp, n_iterations=3, B=None, dtype=torch.float32):
    teacher_output = teacher_output.to(dtype)
    Q = torch.exp(teacher_output / teacher_temp).t()
    B = Q.shape[1] if B is None else B
    K = Q.shape[0]
    sum_Q = torch.sum(Q)
    Q /= sum_Q
    for _ in range(n_iterations):
        sum_of_rows = torch.sum(Q, dim=1, keepdim=True)
        Q /= sum_of_rows
        Q /= K
        Q /= torch.sum(Q, dim=0, keepdim=True)
        Q /= B
    Q *= B
    return Q.t()


def dino_loss(student_output_list, teacher_list, student_temp=0.1):
    total_loss = 0
    for s in student_output_list:
        lsm = F.log_softmax(s / student_temp, dim=-1)
        for t in teacher_list:
            total_loss -= torch.sum(t * lsm, dim=-1).mean()
    return total_loss


def ibot_forward_masked(s, t, student_masks_flat, n_masked_patches=None, masks_weight=None, student_temp=0.1):
    loss = torch.sum(t * F.log_softmax(s / student_temp, dim=-1), dim=-1)
    if masks_weight is None:
        masks_weight = (1 / student_masks_flat.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(student_masks_flat)[student_masks_flat]
    if n_masked_patches is not None:
        loss = loss[:n_masked_patches]
    loss = loss * masks_weight
    return -loss.sum() / student_masks_flat.shape[0]


def koleo_loss(student_output, eps=1e-8):
    x = F.normalize(student_output, eps=eps, p=2, dim=-1)
    dots = torch.mm(x, x.t())
    n = x.shape[0]
    dots.view(-1)[:: (n + 1)].fill_(-1)
    _, I = torch.max(dots, dim=1)  # noqa: E741
    distances = nn.PairwiseDistance(2, eps=eps)(x, x[I])
    return -torch.log(distances + eps).mean()


# ---- dinov2/utils -------------------------------------------------------------------------------
class CosineScheduler:
    def __init__(self, base_value, final_value, total_iters, warmup_iters=0, start_warmup_value=0, freeze_iters=0):
        self.final_value, self.total_iters = final_value, total_iters
        freeze_schedule = np.zeros((freeze_iters))
        warmup_schedule = np.linspace(start_warmup_value, base_value, warmup_iters)
        iters = np.arange(total_iters - warmup_iters - freeze_iters)
        schedule = final_value + 0.5 * (base_value - final_value) * (1 + np.cos(np.pi * iters / len(iters)))
        self.schedule = np.concatenate((freeze_schedule, warmup_schedule, schedule))
        assert len(self.schedule) == self.total_iters

    def __getitem__(self, it):
        return self.final_value if it >= self.total_iters else self.schedule[it]


def build_schedulers(c, E):
    lr_value = c["base_lr"] * math.sqrt(c["batch_size"] * 1 / 1024.0)  # apply_scaling_rules_to_cfg
    lr = dict(base_value=lr_value, final_value=c["min_lr"], total_iters=c["epochs"] * E,
              warmup_iters=c["warmup_epochs"] * E, start_warmup_value=0)
    wd = dict(base_value=c["weight_decay"], final_value=c["weight_decay_end"], total_iters=c["epochs"] * E)
    mom = dict(base_value=c["momentum_teacher"], final_value=c["final_momentum_teacher"], total_iters=c["epochs"] * E)
    tt = dict(base_value=c["teacher_temp"], final_value=c["teacher_temp"], total_iters=c["warmup_teacher_temp_epochs"] * E,
              warmup_iters=c["warmup_teacher_temp_epochs"] * E, start_warmup_value=c["warmup_teacher_temp"])
    last = CosineScheduler(**lr)
    last.schedule[: c["freeze_last_layer_epochs"] * E] = 0
    return CosineScheduler(**lr), CosineScheduler(**wd), CosineScheduler(**mom), CosineScheduler(**tt), last


def get_vit_lr_decay_rate(name, lr_decay_rate=1.0, num_layers=12, force_is_backbone=False, chunked_blocks=False):
    layer_id = num_layers + 1
    emb = ["pos_embed", "patch_embed", "mask_token", "cls_token", "register_tokens"]
    if name.startswith("backbone") or force_is_backbone:
        if any("." + e in name for e in emb):
            layer_id = 0
        elif force_is_backbone and any(e in name for e in emb):
            layer_id = 0
        elif ".blocks." in name and ".residual." not in name:
            layer_id = int(name[name.find(".blocks."):].split(".")[2]) + 1
        elif chunked_blocks and "blocks." in name and "residual." not in name:
            layer_id = int(name[name.find("blocks."):].split(".")[2]) + 1
        elif "blocks." in name and "residual." not in name:
            layer_id = int(name[name.find("blocks."):].split(".")[1]) + 1
    return lr_decay_rate ** (num_layers + 1 - layer_id)


def get_params_groups_with_decay(named_params, n_blocks, lr_decay_rate=1.0, patch_embed_lr_mult=1.0):
    groups = []
    for name, param in named_params:
        rate = get_vit_lr_decay_rate(name, lr_decay_rate, num_layers=n_blocks, force_is_backbone=n_blocks > 0)
        d = {"params": param, "is_last_layer": False, "lr_multiplier": rate, "wd_multiplier": 1.0, "name": name}
        if "last_layer" in name:
            d["is_last_layer"] = True
        if name.endswith(".bias") or "norm" in name or "gamma" in name:
            d["wd_multiplier"] = 0.0
        if "patch_embed" in name:
            d["lr_multiplier"] = d["lr_multiplier"] * patch_embed_lr_mult
        groups.append(d)
    return groups


def fuse_params_groups(all_groups, keys=("lr_multiplier", "wd_multiplier", "is_last_layer")):
    fused = {}
    for d in all_groups:
        ident = "".join(k + str(d[k]) + "_" for k in keys)
        g = fused.setdefault(ident, {"params": [], "names": []})
        for k in keys:
            g[k] = d[k]
        g["params"].append(d["params"])
        g["names"].append(d["name"])
    return list(fused.values())


def apply_optim_scheduler(optimizer, lr, wd, last_layer_lr):
    for g in optimizer.param_groups:
        g["weight_decay"] = wd * g["wd_multiplier"]
        g["lr"] = (last_layer_lr if g["is_last_layer"] else lr) * g["lr_multiplier"]


# ---- summaries ------------------------------------------------------------------------------------
def r9(v):
    return float("%.10g" % v)


def without_key_bias(name, t):
    """t with the key third of a qkv bias zeroed: its exact gradient is 0 (softmax ignores a shift of
    the keys), so Adam turns float32 rounding noise there into full-size updates of either sign."""
    if name.endswith("attn.qkv.bias"):
        t = t.clone()
        t[t.shape[0] // 3: 2 * t.shape[0] // 3] = 0
    return t


def summary(t, seed, k=8):
    """Norm, sum and dot with an LCG probe of a tensor, plus k LCG-chosen entries (k = 0: none)."""
    flat = t.detach().double().flatten()
    n = flat.numel()
    out = {"n": r9(flat.norm().item()), "s": r9(flat.sum().item()), "d": r9((flat * lcg(n, seed).double()).sum().item())}
    if k:
        idx = [int((v + 1) / 2 * n) % n for v in lcg(k, seed + 1).tolist()]
        out["i"], out["v"] = idx, [r9(flat[i].item()) for i in idx]
    return out


# ---- the meta-architecture -------------------------------------------------------------------------
class Side(nn.Module):
    def __init__(self, backbone_w, head_w, c):
        super().__init__()
        self.backbone = Ref(backbone_w, "mlp", 0)
        self.dino_head = DINOHead(D, c["K"], c["nlayers"], c["hidden"], c["bottleneck"])
        self.dino_head.load_state_dict({k[len("dino_head."):]: v for k, v in head_w.items() if k.startswith("dino_head.")})
        if c["separate"]:
            self.ibot_head = DINOHead(D, c["ibot_K"], c["ibot_nlayers"], c["ibot_hidden"], c["ibot_bottleneck"])
            self.ibot_head.load_state_dict({k[len("ibot_head."):]: v for k, v in head_w.items() if k.startswith("ibot_head.")})

    def named(self):
        """(name, parameter) in the TypeScript module's names."""
        out = [("backbone." + k.replace("__", "."), p) for k, p in self.backbone.p.items()]
        for part in ["dino_head", "ibot_head"]:
            if hasattr(self, part):
                out += [(f"{part}.{k}", p) for k, p in getattr(self, part).named_parameters()]
        return out

    def parts(self):
        parts = [("backbone", [(k.replace("__", "."), p) for k, p in self.backbone.p.items()], DEPTH)]
        for part in ["dino_head", "ibot_head"]:
            if hasattr(self, part):
                parts.append((part, list(getattr(self, part).named_parameters()), 0))
        return parts


def forward_backward(S, T, centers, b, teacher_temp, c):
    """SSLMetaArch.forward_backward (single process, no xformers: the heads see a plain concatenation)."""
    n_local = c["n_local"]
    global_crops, local_crops, masks = b["global"], b["local"], b["masks"]
    mask_indices_list, masks_weight, upperbound = b["mask_indices"], b["masks_weight"], b["upperbound"]
    n_masked_patches = mask_indices_list.shape[0]
    n_terms = (2 - 1) * 2 + max(n_local * 2, 1)
    separate = c["separate"]

    with torch.no_grad():
        tout = T.backbone.forward_features(global_crops)
        cls = tout["cls"].chunk(2)
        cls = torch.cat((cls[1], cls[0]))
        patch = tout["patch"]
        n_cls = cls.shape[0]
        if not separate:
            buf = patch.new_zeros(upperbound + n_cls, D)
            buf[:n_cls].copy_(cls)
            buf[n_cls:n_cls + n_masked_patches].copy_(torch.index_select(patch.flatten(0, 1), 0, mask_indices_list))
            after = T.dino_head(buf)
            cls_after, masked_after = after[:n_cls], after[n_cls:n_cls + n_masked_patches]
        else:
            buf = patch.new_zeros(upperbound, D)
            buf[:n_masked_patches].copy_(torch.index_select(patch.flatten(0, 1), 0, mask_indices_list))
            cls_after = T.dino_head(cls)
            masked_after = T.ibot_head(buf)[:n_masked_patches]
        K = cls_after.shape[-1]
        if c["centering"] == "centering":
            dino_t = centers["dino"].softmax_center_teacher(cls_after, teacher_temp).view(2, -1, K)
            centers["dino"].update_center(cls_after)
            masked_after = masked_after.unsqueeze(0)
            ibot_t = centers["ibot"].softmax_center_teacher(masked_after[:, :n_masked_patches], teacher_temp).squeeze(0)
            centers["ibot"].update_center(masked_after[:n_masked_patches])
        else:
            dino_t = sinkhorn_knopp_teacher(cls_after, teacher_temp).view(2, -1, K)
            ibot_t = sinkhorn_knopp_teacher(masked_after, teacher_temp, B=torch.tensor(n_masked_patches))

    g = S.backbone.forward_features(global_crops, masks)
    l = S.backbone.forward_features(local_crops, None)
    inputs = [l["cls"], g["cls"]]
    buf = g["patch"].new_zeros(upperbound, D)
    buf[:n_masked_patches].copy_(torch.index_select(g["patch"].flatten(0, 1), 0, mask_indices_list))
    if not separate:
        inputs.append(buf)
    else:
        s_masked = S.ibot_head(buf)[:n_masked_patches]
    outs = S.dino_head(torch.cat(inputs)).split([x.shape[0] for x in inputs])
    local_after, global_after = outs[0], outs[1]
    if not separate:
        s_masked = outs[2][:n_masked_patches]

    loss_acc = 0
    dino_local = dino_loss(local_after.chunk(n_local), dino_t) / n_terms
    loss_acc += c["dino_w"] * dino_local
    dino_global = dino_loss([global_after], [dino_t.flatten(0, 1)]) * 2 / n_terms
    loss_acc += c["dino_w"] * dino_global
    koleo = c["koleo_w"] * sum(koleo_loss(p) for p in g["cls"].chunk(2))
    loss_acc += koleo
    ibot = ibot_forward_masked(s_masked, ibot_t, masks, n_masked_patches, masks_weight) * 2 * (1.0 / 2)
    loss_acc += c["ibot_w"] * ibot
    loss_acc.backward()
    return {"dinoLocal": dino_local.item(), "dinoGlobal": dino_global.item(), "koleo": koleo.item(), "ibot": ibot.item(),
            "total": loss_acc.item()}


def make_batch(c, seed, masked_images):
    """2B global crops (crop-major) of c['size'], n_local B local crops, masks on the listed images."""
    B, G = c["B"], c["size"] // 14
    N = G * G
    masks = torch.zeros(2 * B, N, dtype=torch.bool)
    for j, i in enumerate(masked_images):
        masks[i] = lcg(N, seed + 10 + j) > (0.0 if j % 2 else 0.3)
    masks_weight = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
    return {
        "global": lcg(2 * B * 3 * c["size"] ** 2, seed).reshape(2 * B, 3, c["size"], c["size"]),
        "local": lcg(c["n_local"] * B * 3 * c["local_size"] ** 2, seed + 1).reshape(c["n_local"] * B, 3, c["local_size"], c["local_size"]),
        "masks": masks, "mask_indices": masks.flatten().nonzero().flatten(), "masks_weight": masks_weight,
        "upperbound": int(masks.sum()) + 3,
    }


def train_case(c):
    """Two DINOv2 iterations (it and it + 1) from LCG-made weights; records what the TS test checks."""
    vit = {k: v for k, v in load_safetensors(VIT_WEIGHTS).items() if k != "register_tokens"}
    heads = {}
    heads.update({"dino_head." + k: v for k, v in head_weights(DINOHead(D, c["K"], c["nlayers"], c["hidden"], c["bottleneck"]), 300).items()})
    if c["separate"]:
        heads.update({"ibot_head." + k: v for k, v in
                      head_weights(DINOHead(D, c["ibot_K"], c["ibot_nlayers"], c["ibot_hidden"], c["ibot_bottleneck"]), 400).items()})
    S = Side(vit, heads, c)
    # the teacher starts as the student plus an LCG offset, so that the EMA and the teacher path are visible
    names = sorted(k for k, _ in S.named())
    offset = {k: lcg(p.numel(), 5000 + names.index(k)).reshape(p.shape) * 0.01 for k, p in S.named()}
    Tw = {k: v + offset["backbone." + k] for k, v in vit.items()}
    Th = {k: v + offset[k] for k, v in heads.items()}
    T = Side(Tw, Th, c)
    for p in T.parameters():
        p.requires_grad = False
    centers = {"dino": Center((1, c["K"]), False), "ibot": Center((1, 1, c["ibot_K"] if c["separate"] else c["K"]), True)}

    groups = []
    for _, named, n_blocks in S.parts():
        groups += fuse_params_groups(get_params_groups_with_decay(named, n_blocks, c["layerwise_decay"], c["patch_embed_lr_mult"]))
    opt = torch.optim.AdamW([{k: v for k, v in g.items() if k != "names"} for g in groups], betas=(0.9, 0.999), foreach=True)
    lr_s, wd_s, mom_s, tt_s, last_s = build_schedulers(c, c["epoch_length"])

    record = {"steps": []}
    for step, (it, seed, masked) in enumerate([(c["it"], 11, [1, 2]), (c["it"] + 1, 21, [0, 3])]):
        b = make_batch(c, seed, masked)
        lr, wd, mom, tt, last = lr_s[it], wd_s[it], mom_s[it], tt_s[it], last_s[it]
        apply_optim_scheduler(opt, lr, wd, last)
        opt.zero_grad(set_to_none=True)
        losses = forward_backward(S, T, centers, b, tt, c)
        named = S.named()
        rec = {"it": it, "imageSeed": seed, "maskedImages": masked, "upperbound": b["upperbound"], "losses": losses,
               "schedule": {"lr": lr, "wd": wd, "momentum": mom, "teacherTemp": tt, "lastLayerLr": last},
               "grads": {k: summary(p.grad if p.grad is not None else torch.zeros_like(p), 700, 8 if step == 0 else 0) for k, p in named}}
        before = {k: p.detach().clone() for k, p in named}
        rec["gradNorms"] = {part: torch.nn.utils.clip_grad_norm_([p for _, p in ps], c["clip"]).item() for part, ps, _ in S.parts()}
        if step == 0:
            rec["clipped"] = {k: summary(p.grad, 710, 0) for k, p in named}
        opt.step()
        rec["delta"] = {k: summary(without_key_bias(k, p.detach().double() - before[k].double()), 720, 8 if step == 0 else 0) for k, p in named}
        with torch.no_grad():  # update_teacher
            tl = [dict(T.named())[k] for k, _ in named]
            sl = [p for _, p in named]
            torch._foreach_mul_(tl, mom)
            torch._foreach_add_(tl, sl, alpha=1 - mom)
        rec["teacher"] = {k: summary(without_key_bias(k, p.detach()), 730, 8 if step == 0 else 0) for k, p in T.named()}
        record["steps"].append(rec)
    record["centers"] = {k: centers[k].center.flatten().tolist() for k in ["dino", "ibot"]} if c["centering"] == "centering" else None
    record["pending"] = {k: (centers[k].async_batch_center / centers[k].len).flatten().tolist() for k in ["dino", "ibot"]} \
        if c["centering"] == "centering" else None
    return record


def main():
    os.makedirs(OUT, exist_ok=True)
    expected, cases = {}, {}

    # DINO head: nlayers 3 and 1, output and parameter gradients
    for nl in [3, 1]:
        torch.manual_seed(0)
        h = DINOHead(24, 40, nl, 32, 16)
        hw = head_weights(h, 100 + nl)
        h.load_state_dict(hw)
        x = lcg(5 * 24, 90 + nl).reshape(5, 24) * 2
        y = h(x)
        (y * lcg(y.numel(), 95).reshape(y.shape)).sum().backward()
        expected[f"head{nl}.out"] = y.detach()
        cases[f"head{nl}"] = {"grads": {k: summary(p.grad, 96, 8) for k, p in h.named_parameters()}, "names": list(hw.keys()),
                              "shapes": {k: list(v.shape) for k, v in hw.items()}}

    # teacher targets: centering with the lazy update, Sinkhorn-Knopp
    l1, l2 = lcg(6 * 40, 11).reshape(6, 40) * 3, lcg(6 * 40, 12).reshape(6, 40) * 3
    cen = Center((1, 40), False)
    expected["center.t1"] = cen.softmax_center_teacher(l1, 0.04)
    cen.update_center(l1)
    expected["center.t2"] = cen.softmax_center_teacher(l2, 0.04)
    expected["center.center"] = cen.center
    cen.update_center(l2)
    expected["center.pending"] = cen.async_batch_center / cen.len
    sk = {}
    for name, scale, temp, iters in [("normal", 2.0, 0.05, 3), ("large", 4.0, 0.05, 3), ("overflow", 10.0, 0.05, 3), ("iter1", 2.0, 0.07, 1)]:
        x = lcg(6 * 40, 20 + len(sk)).reshape(6, 40) * scale
        q32 = sinkhorn_knopp_teacher(x, temp, iters)
        q64 = sinkhorn_knopp_teacher(x, temp, iters, dtype=torch.float64)
        expected[f"sinkhorn.{name}.in"] = x
        expected[f"sinkhorn.{name}"] = q32 if torch.isfinite(q32).all() else q64.float()
        sk[name] = {"scale": scale, "temp": temp, "iterations": iters, "torchFloat32Finite": bool(torch.isfinite(q32).all()),
                    "maxLogitOverTemp": (x / temp).max().item()}
    cases["sinkhorn"] = sk

    # DINO loss over 3 student crops x 2 teacher crops
    ss = [(lcg(4 * 40, 30 + i).reshape(4, 40) * 2).requires_grad_() for i in range(3)]
    ts = [F.softmax(lcg(4 * 40, 40 + i).reshape(4, 40) / 0.05, dim=-1) for i in range(2)]
    loss = dino_loss(ss, ts)
    loss.backward()
    expected["dino.loss"] = loss.detach().reshape(1)
    for i, s in enumerate(ss):
        expected[f"dino.s{i}"], expected[f"dino.grad{i}"] = s.detach(), s.grad
    for i, t in enumerate(ts):
        expected[f"dino.t{i}"] = t

    # iBOT loss: 4 images x 9 patches with 3, 0, 4, 1 masked; padded student rows; with and without masks_weight
    masks = torch.zeros(4, 9, dtype=torch.bool)
    masks[0, [1, 4, 8]] = True
    masks[2, [0, 2, 3, 7]] = True
    masks[3, [5]] = True
    M = int(masks.sum())
    s = (lcg((M + 2) * 40, 50).reshape(M + 2, 40) * 2).requires_grad_()
    t = F.softmax(lcg((M + 2) * 40, 51).reshape(M + 2, 40) / 0.05, dim=-1)
    mw = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
    loss = ibot_forward_masked(s, t, masks, M, mw)
    loss.backward()
    s2 = s.detach()[:M].clone().requires_grad_()
    loss2 = ibot_forward_masked(s2, t[:M], masks, None, None)
    loss2.backward()
    expected.update({"ibot.s": s.detach(), "ibot.t": t, "ibot.masks": masks.float(), "ibot.loss": loss.detach().reshape(1),
                     "ibot.grad": s.grad, "ibot.loss_noweight": loss2.detach().reshape(1), "ibot.grad_noweight": s2.grad})

    # KoLeo
    for name, shape, seed in [("koleo6", (6, 24), 60), ("koleo2", (2, 5), 61)]:
        x = (lcg(shape[0] * shape[1], seed).reshape(shape) * 2).requires_grad_()
        loss = koleo_loss(x)
        loss.backward()
        expected.update({f"{name}.x": x.detach(), f"{name}.loss": loss.detach().reshape(1), f"{name}.grad": x.grad})

    # schedules: the test config and the DINOv2 defaults
    sched = {}
    small = dict(base_lr=0.05, batch_size=2, min_lr=1e-6, epochs=5, warmup_epochs=1, weight_decay=0.04, weight_decay_end=0.4,
                 momentum_teacher=0.9, final_momentum_teacher=1.0, teacher_temp=0.07, warmup_teacher_temp=0.04,
                 warmup_teacher_temp_epochs=2, freeze_last_layer_epochs=1)
    default = dict(base_lr=0.004, batch_size=64, min_lr=1e-6, epochs=100, warmup_epochs=10, weight_decay=0.04, weight_decay_end=0.4,
                   momentum_teacher=0.992, final_momentum_teacher=1.0, teacher_temp=0.07, warmup_teacher_temp=0.04,
                   warmup_teacher_temp_epochs=30, freeze_last_layer_epochs=1)
    for name, c, E, its in [("small", small, 4, list(range(0, 22))),
                            ("default", default, 1250, [0, 1, 1249, 1250, 1251, 6000, 12499, 12500, 12501, 37499, 37500, 60000, 124999, 125000, 130000])]:
        s5 = build_schedulers(c, E)
        sched[name] = {"config": c, "epochLength": E, "its": its,
                       "values": [[float(s[i]) for s in s5] for i in its]}
    cases["schedules"] = sched
    opts = dict(base_value=0.5, final_value=0.1, total_iters=13, warmup_iters=3, start_warmup_value=0.2, freeze_iters=4)
    cs = CosineScheduler(**opts)
    cases["cosine"] = {"options": opts, "values": [float(cs[i]) for i in range(16)]}

    # parameter groups: a depth-3 backbone with registers and a DINO head
    bb = ["cls_token", "pos_embed", "register_tokens", "mask_token", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    for i in range(3):
        bb += [f"blocks.{i}.{n}" for n in ["norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight",
                                            "attn.proj.bias", "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
                                            "mlp.fc2.weight", "mlp.fc2.bias", "ls2.gamma"]]
    bb += ["norm.weight", "norm.bias"]
    hd = ["mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias", "mlp.4.weight", "mlp.4.bias", "last_layer.weight_g", "last_layer.weight_v"]
    pg = {}
    for part, names, n_blocks in [("backbone", bb, 3), ("head", hd, 0)]:
        per = get_params_groups_with_decay([(n, None) for n in names], n_blocks, 0.9, 0.2)
        pg[part] = {"params": [{k: d[k] for k in ["name", "lr_multiplier", "wd_multiplier", "is_last_layer"]} for d in per],
                    "fused": [{k: g[k] for k in ["names", "lr_multiplier", "wd_multiplier", "is_last_layer"]} for g in fuse_params_groups(per)]}
    cases["paramGroups"] = pg

    # full training steps: centering + shared head; Sinkhorn-Knopp + separate iBOT head
    base = dict(B=2, size=56, local_size=28, n_local=3, K=64, hidden=128, bottleneck=32, nlayers=3, dino_w=1.0, koleo_w=0.1,
                ibot_w=1.0, clip=3.0, layerwise_decay=0.9, patch_embed_lr_mult=0.2, epoch_length=4, it=3, **small)
    train = {}
    for name, extra in [("centering", dict(centering="centering", separate=False)),
                        ("sinkhorn", dict(centering="sinkhorn_knopp", separate=True, ibot_K=48, ibot_hidden=96, ibot_bottleneck=24,
                                          ibot_nlayers=2, clip=0.5))]:
        c = {**base, **extra}
        train[name] = {"config": c, **train_case(c)}
    cases["train"] = train

    save_safetensors(os.path.join(OUT, "expected.safetensors"), expected)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, separators=(",", ":"))
    print("wrote", OUT, {k: os.path.getsize(os.path.join(OUT, k)) for k in os.listdir(OUT)})


if __name__ == "__main__":
    main()
