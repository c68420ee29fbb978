// DINOv2 training-step benchmark (issue 4): ViT-S/14, 2 global crops at 224, 8 local crops at 98,
// batch 8, one shared head with K = 4096, masks, centering, DINO + iBOT + KoLeo, clipping, AdamW,
// EMA. Ours (bench/dinov2_step.ts) and PyTorch (bench/yardsticks/torch_dinov2.py, at its best
// setting here: OMP_NUM_THREADS = threads, OMP_WAIT_POLICY=PASSIVE) each run in a child process,
// so each peak RSS is the step's own, in float32 and in bf16 mixed precision. Ratio > 1: we are faster.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../lib/tensor/native.js';
import { fmt, report, Row } from './timing.js';
import { bf16Peak, fmaPeak } from './yardsticks.js';
import { vitGflop } from './vit.js';

const PYTHON = '/usr/bin/python3';

interface StepTiming { median_s: number; min_s: number; peak_rss_mb: number; loss: number }

function runJson(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): StepTiming | undefined {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', cwd: packageRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out.trim().split('\n').pop()!) as StepTiming;
  } catch (e) {
    process.stderr.write(`bench dinov2: ${cmd} ${args[0]} failed: ${(e as Error).message.split('\n')[0]}\n`);
    return undefined;
  }
}

/**
 * GFLOP of one step as we compute it: student forward+backward (3x forward) on all crops, teacher
 * forward on the global crops, the head on cls and masked tokens; the last block's FFN runs only
 * on the tokens the losses read (the cls tokens and the masked patches, forwardTokens).
 */
function stepGflop(B: number, gs: number, ls: number, nLocal: number, K: number): number {
  const d = 384, depth = 12, hidden = 2048, bn = 256;
  const N = (gs / 14) ** 2, n = (ls / 14) ** 2;
  const M = B * N * 0.3;  // half of the 2B crops masked, mean ratio 0.3
  const head = 2 * (d * hidden + hidden * hidden + hidden * bn + bn * K) / 1e9;
  const ffn = (2 * 8 * d * d) / 1e9;  // one token through fc1 and fc2
  const unreadGlobal = 2 * B * N - M, unreadLocal = nLocal * B * n;  // tokens that skip the last FFN
  const student = 3 * (2 * B * vitGflop(d, depth, gs) + nLocal * B * vitGflop(d, depth, ls) + (nLocal * B + 2 * B + M) * head
    - (unreadGlobal + unreadLocal) * ffn);
  const teacher = 2 * B * vitGflop(d, depth, gs) + (2 * B + M) * head - unreadGlobal * ffn;
  return student + teacher;
}

/** The median run of several (by median_s), or undefined when none finished. */
function medianRun(runs: (StepTiming | undefined)[]): StepTiming | undefined {
  const ok = runs.filter((r): r is StepTiming => r !== undefined).sort((a, b) => a.median_s - b.median_s);
  return ok.length ? ok[Math.floor(ok.length / 2)] : undefined;
}

export async function benchDinov2(opts: { threads: number[]; json: boolean; quick: boolean; rounds?: number }): Promise<Row[]> {
  const B = 8, gs = 224, ls = 98, nLocal = 8, K = 4096, reps = opts.quick ? 1 : 3;
  const shape = ['--batch', B, '--global-size', gs, '--local-size', ls, '--n-local', nLocal, '--k', K, '--reps', reps].map(String);
  const rows: Row[] = [];
  const gflop = stepGflop(B, gs, ls, nLocal, K);
  // Both precisions on both sides: float32, and bfloat16 products with float32 sums (ours:
  // setMatmulPrecision('bfloat16'), i.e. train.matmulPrecision; PyTorch: torch.autocast('cpu',
  // bfloat16) around the forward and the losses). "vs best" divides PyTorch's faster setting by ours.
  const precisions = [['fp32', 'none'], ['bf16', 'bf16']] as const;
  for (const threads of opts.threads) {
    // Shared machines drift by 10-20% over minutes: with --rounds R the two sides alternate R
    // times and each side reports its median round; the per-round ratios give a median and a range.
    const rounds = opts.rounds ?? 1;
    const oursRuns = precisions.map(() => [] as (StepTiming | undefined)[]), torchRuns = precisions.map(() => [] as (StepTiming | undefined)[]);
    for (let r = 0; r < rounds; r++) {
      precisions.forEach(([p, a], i) => {
        oursRuns[i]!.push(runJson(process.execPath, ['--import', 'tsx', join('bench', 'dinov2_step.ts'), ...shape, '--threads', String(threads), '--precision', p]));
        torchRuns[i]!.push(runJson(PYTHON, [join('bench', 'yardsticks', 'torch_dinov2.py'), '--arch', 'small', ...shape, '--threads', String(threads), '--autocast', a],
          { OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: 'PASSIVE' }));
      });
    }
    const ours = oursRuns.map(medianRun), torch = torchRuns.map(medianRun);
    // Per-round ratios (each round runs the two sides back to back, so drift cancels best within
    // a round): their median and range.
    const roundRatios = precisions.map((_, i) => oursRuns[i]!
      .map((o, r) => (o && torchRuns[i]![r] ? torchRuns[i]![r]!.median_s / o.median_s : NaN)).filter(Number.isFinite)
      .sort((a, b) => a - b));
    const ratioRange = roundRatios.map((rs) => (rs.length > 1 ? `${fmt(rs[0]!, 2)}-${fmt(rs[rs.length - 1]!, 2)}` : undefined));
    const ratioMedian = roundRatios.map((rs) => (rs.length > 1 ? rs[(rs.length - 1) >> 1]! : undefined));
    const torchBest = Math.min(...torch.map((t) => t?.median_s ?? Infinity));
    precisions.forEach(([p], i) => {
      const o = ours[i], t = torch[i];
      const peak = p === 'fp32' ? fmaPeak(threads) : bf16Peak(threads);
      const gflops = o ? gflop / o.median_s : undefined;
      rows.push({
        suite: 'dinov2', median_ms: o ? o.median_s * 1000 : NaN, precision: p,
        name: `DINOv2 step ViT-S/14 B${B} 2x${gs}+${nLocal}x${ls} K${K} ${p}`, threads,
        img_s: o ? B / o.median_s : undefined, gflops, pct_peak: peak && gflops ? (100 * gflops) / peak : undefined,
        rss_mb: o?.peak_rss_mb, torch_ms: t ? t.median_s * 1000 : undefined, torch_img_s: t ? B / t.median_s : undefined,
        torch_rss_mb: t?.peak_rss_mb, vs_torch: o && t ? t.median_s / o.median_s : undefined,
        vs_torch_best: o && Number.isFinite(torchBest) ? torchBest / o.median_s : undefined, rounds, ratio_range: ratioRange[i],
        round_ratio_median: ratioMedian[i],
      });
    });
  }
  report(rows, [
    ['workload', (r) => r.name as string], ['thr', (r) => String(r.threads)], ['ms', (r) => fmt(r.median_ms, 0)],
    ['img/s', (r) => fmt(r.img_s as number, 2)], ['GFLOP/s', (r) => fmt(r.gflops as number)], ['% peak', (r) => fmt(r.pct_peak as number)],
    ['peak RSS MB', (r) => fmt(r.rss_mb as number, 0)], ['PyTorch img/s', (r) => fmt(r.torch_img_s as number, 2)],
    ['PyTorch RSS MB', (r) => fmt(r.torch_rss_mb as number, 0)], ['vs PyTorch', (r) => fmt(r.vs_torch as number, 2)],
    ['vs PyTorch best', (r) => fmt(r.vs_torch_best as number, 2)], ['rounds', (r) => String(r.rounds)],
    ['round ratios: median (range)', (r) => (r.ratio_range ? `${fmt(r.round_ratio_median as number, 2)} (${r.ratio_range as string})` : '-')],
  ], opts.json);
  return rows;
}
