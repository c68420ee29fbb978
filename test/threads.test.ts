// The worker pool under more threads than cores and jobs of changing sizes: results equal the
// single-thread ones, every time (a job must run exactly once per worker).
import { afterAll, describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';

describe('thread pool', () => {
  afterAll(() => R.setNumThreads(0));

  it('4 and 7 threads, interleaved jobs of different widths, match 1 thread bit for bit', () => {
    const g = new R.Generator(17);
    const inputs = [8, 40, 96, 160].map((n) => [R.randn([n, 300], { generator: g }), R.randn([300, n], { generator: g })]);
    const big = R.randn([300_001], { generator: g });
    const work = () => {
      const out: Buffer[] = [];
      for (let rep = 0; rep < 20; rep++) {
        for (const [a, b] of inputs) {
          R.tidy(() => {
            out.push(Buffer.from(a.matmul(b).dataSync().buffer));  // the GEMM picks 1..n threads by size
            out.push(Buffer.from(big.gelu().sum().dataSync().buffer));
            out.push(Buffer.from(a.softmax(-1).dataSync().buffer));
          });
        }
      }
      return out;
    };
    R.setNumThreads(1);
    const ref = work();
    for (const n of [4, 7]) {
      R.setNumThreads(n);
      const got = work();
      got.forEach((b, i) => expect(Buffer.compare(b, ref[i]), `threads ${n}, result ${i}`).toBe(0));
    }
    for (const [a, b] of inputs) { a.dispose(); b.dispose(); }
    big.dispose();
  });

  it('column sums of a tall matrix (the bias-gradient shape) are the same bits for 1, 2 and 5 threads and match float64', () => {
    const g = new R.Generator(5);
    const x = R.randn([1031, 613], { generator: g });  // rows split in chunks of 64 when threads > 1
    const view = R.randn([613, 1031], { generator: g }).transpose(0, 1);  // non-contiguous: the other traversal
    const ref64 = x.to('float64').sum(0).dataSync();
    const run = () => [x.sum(0), x.mean(0), view.sum(0)].map((t) => Buffer.from(t.dataSync().buffer));
    R.setNumThreads(1);
    const ref = run();
    const one = x.sum(0).dataSync();
    for (let j = 0; j < 613; j++) expect(Math.abs(Number(one[j]) - Number(ref64[j]))).toBeLessThan(1e-4);
    for (const n of [2, 5]) {
      R.setNumThreads(n);
      run().forEach((b, i) => expect(Buffer.compare(b, ref[i]!), `threads ${n}, result ${i}`).toBe(0));
    }
    x.dispose();
    view.dispose();
  });
});
