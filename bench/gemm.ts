// GEMM benchmark: our float32 matmul on square sizes and the ViT-B Linear shapes (x W^T), with
// 1 and 2 threads: median ms, GFLOP/s, % of the measured FMA peak, and OpenBLAS on the same
// problem in the same run with our speed ratio (> 1: we are faster).
import * as R from '../lib/index.js';
import { fmt, medianMs, report, Row } from './timing.js';
import { fmaPeak, openblasGemm } from './yardsticks.js';

interface Shape {
  name: string;
  M: number;
  K: number;
  N: number;
  transB: boolean;
}

export const GEMM_SHAPES: Shape[] = [
  ...[256, 512, 1024, 2048].map((n) => ({ name: `square ${n}`, M: n, K: n, N: n, transB: false })),
  { name: 'ViT-B qkv   x[2056x768]  W[2304x768]', M: 2056, K: 768, N: 2304, transB: true },
  { name: 'ViT-B fc1   x[2056x768]  W[3072x768]', M: 2056, K: 768, N: 3072, transB: true },
  { name: 'ViT-B fc2   x[2056x3072] W[768x3072]', M: 2056, K: 3072, N: 768, transB: true },
  { name: 'ViT-B qkv   x[257x768]   W[2304x768]', M: 257, K: 768, N: 2304, transB: true },
];

export async function benchGemm(opts: { threads: number[]; json: boolean; quick: boolean }): Promise<Row[]> {
  const rows: Row[] = [];
  const peaks = new Map(opts.threads.map((t) => [t, fmaPeak(t)]));
  const shapes = opts.quick ? GEMM_SHAPES.filter((s) => s.M * s.N * s.K < 2e9) : GEMM_SHAPES;
  for (const s of shapes) {
    for (const threads of opts.threads) {
      R.setNumThreads(threads);
      const x = R.randn([s.M, s.K]);
      const w = s.transB ? R.randn([s.N, s.K]) : R.randn([s.K, s.N]);
      const flop = 2 * s.M * s.N * s.K;
      const ms = await medianMs(() => x.matmul(w, { transB: s.transB }).dispose(), opts.quick ? 500 : 2000);
      x.dispose();
      w.dispose();
      const reps = Math.max(5, Math.min(200, Math.round(2000 / ms)));
      const blas = openblasGemm(s.M, s.N, s.K, false, s.transB, threads, reps);
      const gflops = flop / ms / 1e6;
      const peak = peaks.get(threads);
      rows.push({
        suite: 'gemm', name: s.name, threads, M: s.M, N: s.N, K: s.K, median_ms: ms, gflops,
        pct_peak: peak ? (100 * gflops) / peak : undefined, peak_gflops: peak,
        openblas_ms: blas?.median_ms, openblas_gflops: blas?.gflops,
        ratio: blas ? blas.median_ms / ms : undefined,
      });
    }
  }
  R.setNumThreads(0);
  report(rows, [
    ['shape', (r) => String(r.name)],
    ['thr', (r) => String(r.threads)],
    ['ms', (r) => fmt(r.median_ms, 2)],
    ['GFLOP/s', (r) => fmt(r.gflops as number)],
    ['% peak', (r) => fmt(r.pct_peak as number)],
    ['OpenBLAS ms', (r) => fmt(r.openblas_ms as number, 2)],
    ['OpenBLAS GFLOP/s', (r) => fmt(r.openblas_gflops as number)],
    ['ratio', (r) => fmt(r.ratio as number, 2)],
  ], opts.json);
  if (!opts.json) {
    console.log(`kernel: ${R.cpuInfo().sgemmKernel}; FMA peak ${[...peaks].map(([t, p]) => `${t} thr ${fmt(p)} GFLOP/s`).join(', ')}; ` +
      'ratio = OpenBLAS time / our time (> 1: faster than OpenBLAS)' + (rows.some((r) => r.ratio === undefined) ? '; OpenBLAS: apt-get install libopenblas-dev' : ''));
  }
  return rows;
}
