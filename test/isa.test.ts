// Every ISA path (AVX-512, AVX2/FMA, portable) gives float32-accurate results: the same checks
// run in child processes with RADDINO_ISA capping what the CPU reports.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as R from '../lib/index.js';

const f = R.cpuInfo().features;
const paths: [string, boolean][] = [
  ['generic', true],
  ['avx2', f.avx2 && f.fma],
  ['avx512', f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq],
];

describe('ISA paths', () => {
  for (const [isa, available] of paths) {
    it.runIf(available)(`${isa}: vectorised math, softmax, GEMM, attention and bf16 GEMM kernels are accurate`, () => {
      const stdout = execFileSync(process.execPath, ['--import', 'tsx', 'test/scripts/isa_child.ts'], {
        env: { ...process.env, RADDINO_ISA: isa },
        encoding: 'utf8',
      });
      const res = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number | string>;
      expect(res.kernel).toBe(isa);
      for (const [name, err] of Object.entries(res)) {
        if (name === 'kernel') continue;
        expect(err, `${isa} ${name}`).toBeLessThan(name.startsWith('matmul') || name.startsWith('attention') ? 1e-5 : 3e-6);
      }
    });
  }
});
