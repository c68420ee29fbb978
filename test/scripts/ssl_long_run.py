"""Long-run parity of the DINOv2/iBOT trainer in the demo's setting: TypeScript vs PyTorch over many steps.

ssl_reference.py checks two training steps; this script checks whether the two implementations keep
agreeing over a whole (short) run, in the setting of `raddino pretrain --demo` (lib/cli/demo.ts:
DEMO_CONFIG + runDemo's overrides: ViT/14 D 192, depth 6, 3 heads, no LayerScale, 112-px global
crops, no local crops, separate iBOT head, K 256, teacher temperature 0.04, batch 32, centering).

Run from anywhere, with Debian's PyTorch 1.13 and the repository's node_modules (npx tsx):
    /usr/bin/python3 test/scripts/ssl_long_run.py [--steps 100]   (multiple of 10, >= 20; ~5 min for 100 on 2 cores)
It
  1. runs a small TypeScript program (TS_EXPORT below, via npx tsx) that builds the demo's config and
     SSLMetaArch (seed 0), writes the synthetic data set as the demo does, saves the initial
     student/teacher/center weights, then trains with SSLMetaArch.trainStep on DataLoader batches,
     saving every batch (global crops, masks, mask indices, mask weights) and schedule value;
  2. replays the same batches, schedule values and initial weights in PyTorch with the classes of
     ssl_reference.py (its Ref backbone at depth 6 with LayerScale off, DINOHead, Center, losses,
     parameter groups, AdamW, clipping per submodule, EMA teacher; n_local = 0 as dinov2 does);
  3. prints the per-step loss terms side by side and the first step where they differ by more than
     1e-5 ... 1e-1 (relative), plus diagnostics of the teacher's DINO targets on the torch side.
Temporary data (~5 MB per step) goes to a temporary directory that is removed at the end.
Result at 100 steps (code of commit 0569c57): the terms agree to <1e-5 (relative) until step ~23 (KoLeo)
/ 38 (iBOT) / 54 (DINO), to 1e-4 until step 38 (KoLeo) / 54 (total) / 56 (iBOT) and for all 100 steps
for the DINO term, then drift slowly (float32 chaos; <1e-2 at step 100, KoLeo ~1e-2 from step 59);
in both implementations the DINO cls cross-entropy climbs to ln K (teacher targets become uniform:
entropy -> ln K, teacher logit spread -> ~0.01) while iBOT and KoLeo keep learning.
"""
import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import vit_reference  # noqa: E402
import ssl_reference as R  # noqa: E402

DEPTH = 6
vit_reference.DEPTH = DEPTH  # Ref.forward_features reads the module's DEPTH
R.DEPTH = DEPTH  # Side.parts (layer-wise lr decay)
torch.set_num_threads(int(os.environ.get("THREADS", "2")))

TS_EXPORT = r'''import { writeFileSync, mkdirSync } from 'node:fs';
import { DEMO_CONFIG, DEMO_AUGMENTATION } from '@ROOT@/lib/cli/demo.js';
import { mergeConfig, sslPreset } from '@ROOT@/lib/ssl/config.js';
import { SSLMetaArch } from '@ROOT@/lib/ssl/meta_arch.js';
import { buildSchedules } from '@ROOT@/lib/ssl/schedules.js';
import { augmentationFor } from '@ROOT@/lib/ssl/trainer.js';
import { DataLoader } from '@ROOT@/lib/data/loader.js';
import { openDataset } from '@ROOT@/lib/data/dataset.js';
import { disposeBatch } from '@ROOT@/lib/data/collate.js';
import { writeSyntheticDataset } from '@ROOT@/lib/data/synthetic.js';
import { saveSafetensorsSync } from '@ROOT@/lib/io/safetensors.js';
import { Generator } from '@ROOT@/lib/tensor/random.js';

const STEPS = Number(process.env.STEPS);
const OUT = process.env.OUT!;
mkdirSync(OUT, { recursive: true });
const seed = 0;
let cfg = mergeConfig(sslPreset('default'), DEMO_CONFIG);
cfg = mergeConfig(cfg, { train: { seed } });
const epochLen = cfg.train.officialEpochLength;
const epochs = Math.floor(STEPS / epochLen);
cfg = mergeConfig(cfg, { optim: { epochs, warmupEpochs: Math.min(cfg.optim.warmupEpochs, epochs - 1) } });
const ds = await writeSyntheticDataset(`${OUT}/data`, { n: 1024, size: cfg.crops.globalCropsSize, seed: 1000 + seed, nuisance: 2 });
const model = new SSLMetaArch(cfg, { generator: new Generator(seed) });
const init = model.stateDict();
saveSafetensorsSync(`${OUT}/init.safetensors`, init);
for (const t of init.values()) t.dispose();
const opt = model.createOptimizer();
const sched = buildSchedules(cfg, { epochLength: epochLen });
const loader = new DataLoader(openDataset(ds.csv), {
  batchSize: cfg.train.batchSizePerGpu, seed, augmentation: augmentationFor(cfg, DEMO_AUGMENTATION), numWorkers: 1,
  maskRatio: [...cfg.ibot.maskRatioMinMax] as [number, number], maskProbability: cfg.ibot.maskSampleProbability,
});
loader.start({ epoch: 0, step: 0 });
const rec: unknown[] = [];
const scheds: unknown[] = [];
model.train();
for (let i = 0; i < STEPS; i++) {
  const b = await loader.next();
  const m = b.masks.float(), mi = b.maskIndices.float();
  saveSafetensorsSync(`${OUT}/batch_${i}.safetensors`, new Map([['global', b.globalCrops], ['masks', m], ['mask_indices', mi], ['masks_weight', b.masksWeight]]),
    { upperbound: String(b.upperbound), n_masked: String(b.nMaskedPatches) });
  m.dispose(); mi.dispose();
  const v = sched.at(i);
  scheds.push(v);
  const t0 = performance.now();
  const l = model.trainStep(b, opt, v);
  disposeBatch(b);
  rec.push({ step: i + 1, ...l });
  if ((i + 1) % 10 === 0) console.log(`ts step ${i + 1}: dinoGlobal ${l.dinoGlobal.toFixed(6)} ibot ${l.ibot.toFixed(6)} koleo ${l.koleo.toFixed(6)} (${((performance.now() - t0) / 1000).toFixed(2)} s)`);
}
writeFileSync(`${OUT}/ts_losses.json`, JSON.stringify(rec));
writeFileSync(`${OUT}/meta.json`, JSON.stringify({ cfg, schedules: scheds }, null, 1));
await loader.close();
opt.dispose();
model.dispose();
'''


class NoLSRef(vit_reference.Ref):
    """The ViT without LayerScale (cfg layerscale null): the ls gammas are the constant 1."""
    def g(self, name):
        if name.endswith("ls1.gamma") or name.endswith("ls2.gamma"):
            return 1.0
        return super().g(name)


R.Ref = NoLSRef


def side_weights(w, prefix):
    bb = {k[len(prefix + "backbone."):]: v for k, v in w.items() if k.startswith(prefix + "backbone.")}
    heads = {k[len(prefix):]: v for k, v in w.items() if k.startswith(prefix) and ("_head." in k)}
    return bb, heads


def forward_backward(S, T, centers, b, teacher_temp, c, diag):
    """ssl_reference.forward_backward for n_local = 0 (dinov2 skips the local term) and a separate iBOT head."""
    global_crops, masks = b["global"], b["masks"]
    mask_indices_list, masks_weight, upperbound = b["mask_indices"], b["masks_weight"], b["upperbound"]
    n_masked_patches = mask_indices_list.shape[0]
    n_terms = (2 - 1) * 2 + 1
    D = R.D
    with torch.no_grad():
        tout = T.backbone.forward_features(global_crops)
        cls = tout["cls"].chunk(2)
        cls = torch.cat((cls[1], cls[0]))
        patch = tout["patch"]
        buf = patch.new_zeros(upperbound, D)
        buf[:n_masked_patches].copy_(torch.index_select(patch.flatten(0, 1), 0, mask_indices_list))
        cls_after = T.dino_head(cls)
        masked_after = T.ibot_head(buf)[:n_masked_patches]
        K = cls_after.shape[-1]
        dino_t = centers["dino"].softmax_center_teacher(cls_after, teacher_temp).view(2, -1, K)
        centers["dino"].update_center(cls_after)
        masked_after = masked_after.unsqueeze(0)
        ibot_t = centers["ibot"].softmax_center_teacher(masked_after[:, :n_masked_patches], teacher_temp).squeeze(0)
        centers["ibot"].update_center(masked_after[:n_masked_patches])
    g = S.backbone.forward_features(global_crops, masks)
    buf = g["patch"].new_zeros(upperbound, D)
    buf[:n_masked_patches].copy_(torch.index_select(g["patch"].flatten(0, 1), 0, mask_indices_list))
    s_masked = S.ibot_head(buf)[:n_masked_patches]
    global_after = S.dino_head(g["cls"])
    dino_global = R.dino_loss([global_after], [dino_t.flatten(0, 1)]) * 2 / n_terms
    koleo = c["koleo_w"] * sum(R.koleo_loss(p) for p in g["cls"].chunk(2))
    ibot = R.ibot_forward_masked(s_masked, ibot_t, masks, n_masked_patches, masks_weight) * 2 * (1.0 / 2)
    total = c["dino_w"] * dino_global + koleo + c["ibot_w"] * ibot
    total.backward()
    with torch.no_grad():  # diagnostics of the DINO cls targets
        t = dino_t.flatten(0, 1)
        diag["t_entropy"] = float(-(t * t.clamp_min(1e-30).log()).sum(-1).mean())
        diag["t_maxp"] = float(t.max(-1).values.mean())
        diag["t_mean_entropy"] = float(-(t.mean(0) * t.mean(0).clamp_min(1e-30).log()).sum())
        p = F.softmax(global_after / 0.1, -1)
        diag["s_entropy"] = float(-(p * p.clamp_min(1e-30).log()).sum(-1).mean())
        diag["tlogit_std"] = float(cls_after.std(0).mean())
    return {"dinoLocal": 0.0, "dinoGlobal": dino_global.item(), "koleo": koleo.item(), "ibot": ibot.item(), "total": total.item()}



def run_torch(DIR, steps):
    meta = json.load(open(os.path.join(DIR, "meta.json")))
    cfg, scheds = meta["cfg"], meta["schedules"]
    c = dict(koleo_w=cfg["dino"]["koleoLossWeight"], dino_w=cfg["dino"]["lossWeight"], ibot_w=cfg["ibot"]["lossWeight"],
             clip=cfg["optim"]["clipGrad"], layerwise_decay=cfg["optim"]["layerwiseDecay"], patch_embed_lr_mult=cfg["optim"]["patchEmbedLrMult"],
             K=cfg["dino"]["headNPrototypes"], nlayers=cfg["dino"]["headNlayers"], hidden=cfg["dino"]["headHiddenDim"],
             bottleneck=cfg["dino"]["headBottleneckDim"], separate=True, ibot_K=cfg["ibot"]["headNPrototypes"],
             ibot_nlayers=cfg["ibot"]["headNlayers"], ibot_hidden=cfg["ibot"]["headHiddenDim"], ibot_bottleneck=cfg["ibot"]["headBottleneckDim"])
    assert cfg["ibot"]["separateHead"] and cfg["crops"]["localCropsNumber"] == 0 and cfg["train"]["centering"] == "centering"
    assert cfg["student"]["depth"] == DEPTH and cfg["student"]["layerscale"] is None
    w = R.load_safetensors(os.path.join(DIR, "init.safetensors"))
    S = R.Side(*side_weights(w, "student."), c)
    T = R.Side(*side_weights(w, "teacher."), c)
    for p in T.parameters():
        p.requires_grad = False
    centers = {"dino": R.Center((1, c["K"]), False), "ibot": R.Center((1, 1, c["ibot_K"]), True)}
    groups = []
    for _, named, n_blocks in S.parts():
        groups += R.fuse_params_groups(R.get_params_groups_with_decay(named, n_blocks, c["layerwise_decay"], c["patch_embed_lr_mult"]))
    opt = torch.optim.AdamW([{k: v for k, v in g.items() if k != "names"} for g in groups],
                            betas=(cfg["optim"]["adamwBeta1"], cfg["optim"]["adamwBeta2"]), foreach=True)
    out = []
    for i in range(steps):
        t0 = time.time()
        bw = R.load_safetensors(os.path.join(DIR, f"batch_{i}.safetensors"))
        with open(os.path.join(DIR, f"batch_{i}.safetensors"), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            md = json.loads(f.read(n))["__metadata__"]
        masks = bw["masks"] > 0.5
        b = {"global": bw["global"], "masks": masks, "mask_indices": bw["mask_indices"].long(), "masks_weight": bw["masks_weight"],
             "upperbound": int(md["upperbound"])}
        assert torch.equal(b["mask_indices"], masks.flatten().nonzero().flatten())
        v = scheds[i]
        R.apply_optim_scheduler(opt, v["lr"], v["wd"], v["lastLayerLr"])
        opt.zero_grad(set_to_none=True)
        diag = {}
        losses = forward_backward(S, T, centers, b, v["teacherTemp"], c, diag)
        norms = {part: torch.nn.utils.clip_grad_norm_([p for _, p in ps], c["clip"]).item() for part, ps, _ in S.parts()}
        opt.step()
        with torch.no_grad():
            tn = dict(T.named())
            named = S.named()
            tl = [tn[k] for k, _ in named]
            sl = [p for _, p in named]
            torch._foreach_mul_(tl, v["momentum"])
            torch._foreach_add_(tl, sl, alpha=1 - v["momentum"])
        out.append({"step": i + 1, **losses, "gradNorms": norms, **diag})
        if (i + 1) % 10 == 0:
            print("torch step %d: dinoGlobal %.6f ibot %.6f koleo %.6f; DINO targets: entropy %.3f, max p %.3f, teacher logit std %.4f (%.2f s)"
                  % (i + 1, losses["dinoGlobal"], losses["ibot"], losses["koleo"], diag["t_entropy"], diag["t_maxp"], diag["tlogit_std"], time.time() - t0), flush=True)
    return out


def compare(ts, pt):
    n = min(len(ts), len(pt)); K = 256; lnK = math.log(K); dg_lnK = lnK * 2 / 3
    terms = ["dinoGlobal", "ibot", "koleo", "total"]
    rel = lambda a, b: abs(a - b) / max(abs(b), 1e-12)
    print("ln K =", round(lnK, 4), " dinoGlobal at ln K =", round(dg_lnK, 4))
    print("step | " + " | ".join(f"{t} ts / torch" for t in terms) + " | CE(ts) CE(torch) | maxrel")
    for s in sorted({x for x in [1, 2, 3, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, n] if x <= n}):
        a, b = ts[s - 1], pt[s - 1]
        print(s, " | ".join(f"{a[t]:.6f} / {b[t]:.6f}" for t in terms), "|", f"{a['dinoGlobal']*1.5:.4f} {b['dinoGlobal']*1.5:.4f}",
              "|", f"{max(rel(a[t], b[t]) for t in terms):.1e}")
    for thr in [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]:
        first = {t: next((i + 1 for i in range(n) if rel(ts[i][t], pt[i][t]) > thr), None) for t in terms}
        print(f"first step with rel diff > {thr:g}:", first)
    # mean over windows
    for lo, hi in [(1, 10), (11, 20), (21, 40), (41, 60), (61, 80), (81, n)]:
        sl = range(lo - 1, min(hi, n))
        if len(sl) == 0:
            continue
        m = lambda L, t: sum(L[i][t] for i in sl) / len(sl)
        print(f"steps {lo}-{hi} mean:", " ".join(f"{t} {m(ts,t):.4f}/{m(pt,t):.4f}" for t in terms))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=100)
    a = ap.parse_args()
    if a.steps < 20 or a.steps % 10:
        ap.error("--steps must be a multiple of 10 (the demo's epoch length), at least 20")
    d = tempfile.mkdtemp(prefix="ssl-long-run-")
    try:
        with open(os.path.join(d, "export.mts"), "w") as f:
            f.write(TS_EXPORT.replace("@ROOT@", ROOT))
        t0 = time.time()
        subprocess.run(["npx", "tsx", os.path.join(d, "export.mts")], cwd=ROOT, env={**os.environ, "OUT": d, "STEPS": str(a.steps)}, check=True)
        print("TypeScript run: %.0f s" % (time.time() - t0), flush=True)
        t0 = time.time()
        pt = run_torch(d, a.steps)
        print("PyTorch run: %.0f s" % (time.time() - t0), flush=True)
        with open(os.path.join(d, "ts_losses.json")) as f:
            ts = json.load(f)
        compare(ts, pt)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
