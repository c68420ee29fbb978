// npm run bench [-- <suite...>] [--threads 1,2] [--rounds R] [--json] [--quick]
//   suites: gemm, elementwise, vit, dinov2 (default: all). --json prints one JSON object per row.
//   --rounds (dinov2): R alternating rounds of ours and PyTorch, medians over rounds (default 1).
import { benchDinov2 } from './dinov2.js';
import { benchElementwise } from './elementwise.js';
import { benchGemm } from './gemm.js';
import { benchVit } from './vit.js';

const SUITES = { gemm: benchGemm, elementwise: benchElementwise, vit: benchVit, dinov2: benchDinov2 } as const;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const quick = args.includes('--quick');
  const ti = args.indexOf('--threads');
  const threads = ti >= 0 ? args[ti + 1].split(',').map(Number) : [1, 2];
  if (threads.some((t) => !Number.isInteger(t) || t < 1)) throw new Error('bench: --threads takes a list like 1,2');
  const ri = args.indexOf('--rounds');
  const rounds = ri >= 0 ? Number(args[ri + 1]) : 1;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('bench: --rounds takes a positive integer');
  const names = args.filter((a, i) => !a.startsWith('--') && (ti < 0 || i !== ti + 1) && (ri < 0 || i !== ri + 1));
  for (const n of names) {
    if (!(n in SUITES)) throw new Error(`bench: unknown suite '${n}' (expected ${Object.keys(SUITES).join(', ')})`);
  }
  for (const name of names.length ? names : Object.keys(SUITES)) {
    if (!json) console.log(`\n## ${name}\n`);
    await SUITES[name as keyof typeof SUITES]({ threads, json, quick, rounds });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
