// Element-wise and reduction benchmark on 64 MiB float32 tensors (16 Mi elements): median ms
// and GB/s (bytes read + written, as STREAM counts them) against the STREAM triad bandwidth.
// Memory bandwidth on a shared machine drifts, so each op is timed in rounds interleaved with
// triad runs and compared with the triad medians of the same rounds.
import * as R from '../lib/index.js';
import { fmt, medianMs, report, Row } from './timing.js';
import { streamBandwidth } from './yardsticks.js';

const N = 16 * 1024 * 1024;

export async function benchElementwise(opts: { threads: number[]; json: boolean; quick: boolean }): Promise<Row[]> {
  const rows: Row[] = [];
  const a = R.randn([N]), b = R.randn([N]);
  const bias = R.randn([4096]), mat = a.reshape(N / 4096, 4096);
  const cases: [string, () => R.Tensor, number][] = [
    ['add a+b', () => a.add(b), 12],
    ['mul a*b', () => a.mul(b), 12],
    ['add bias (broadcast row)', () => mat.add(bias), 8],
    ['mul scalar', () => a.mul(1.5), 8],
    ['relu', () => a.relu(), 8],
    ['exp', () => a.exp(), 8],
    ['gelu (erf)', () => a.gelu(), 8],
    ['sigmoid', () => a.sigmoid(), 8],
    ['copy (clone)', () => a.clone(), 8],
    ['cast float32 -> bfloat16', () => a.to('bfloat16'), 6],
    ['sum (all)', () => a.sum(), 4],
    ['sum over rows [4096x4096] -> [4096]', () => mat.sum(0), 4],
    ['softmax rows [4096x4096]', () => mat.softmax(-1), 8],
  ];
  const rounds = opts.quick ? 1 : 3;
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  for (const threads of opts.threads) {
    R.setNumThreads(threads);
    for (const [name, fn, bytesPerElem] of cases) {
      const times: number[] = [], triads: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const bw = streamBandwidth(threads);
        if (bw !== undefined) triads.push(bw);
        times.push(await medianMs(() => fn().dispose(), opts.quick ? 400 : 600));
      }
      const ms = median(times);
      const bw = triads.length ? median(triads) : undefined;
      const gbps = (N * bytesPerElem) / ms / 1e6;
      rows.push({ suite: 'elementwise', name, threads, median_ms: ms, gbps, triad_gbps: bw, pct_bandwidth: bw ? (100 * gbps) / bw : undefined });
    }
  }
  R.setNumThreads(0);
  for (const t of [a, b, bias, mat]) t.dispose();
  report(rows, [
    ['op (16 Mi float32)', (r) => String(r.name)],
    ['thr', (r) => String(r.threads)],
    ['ms', (r) => fmt(r.median_ms, 2)],
    ['GB/s', (r) => fmt(r.gbps as number)],
    ['triad GB/s', (r) => fmt(r.triad_gbps as number)],
    ['% bandwidth', (r) => fmt(r.pct_bandwidth as number)],
  ], opts.json);
  return rows;
}
