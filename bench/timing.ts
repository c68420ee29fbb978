// Median timing of a synchronous function with tinybench (warm-up, then samples for a time budget).
import { Bench } from 'tinybench';

/** Median ms of fn after two warm-up calls, sampling for timeMs and at least minIterations times. */
export async function medianMs(fn: () => void, timeMs = 1500, minIterations = 5): Promise<number> {
  const bench = new Bench({ time: timeMs, iterations: minIterations, warmupTime: 200, warmupIterations: 2, throws: true });
  bench.add('task', fn);
  await bench.run();
  const p50 = bench.tasks[0].result?.latency.p50;
  if (p50 === undefined) throw new Error('bench: no samples were taken');
  return p50;
}

export interface Row {
  suite: string;
  name: string;
  threads: number;
  median_ms: number;
  [key: string]: unknown;
}

/** Prints rows as an aligned table, or as JSON lines with --json. */
export function report(rows: Row[], columns: [string, (r: Row) => string][], json: boolean): void {
  if (json) {
    for (const r of rows) console.log(JSON.stringify(r));
    return;
  }
  const cells = rows.map((r) => columns.map(([, f]) => f(r)));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (xs: string[]) => xs.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  console.log(line(columns.map(([h]) => h)));
  for (const c of cells) console.log(line(c));
}

export const fmt = (x: number | undefined, digits = 1): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
