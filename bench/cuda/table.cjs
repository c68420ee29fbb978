// Joins the JSON lines of gemm.ts and gemm_torch.py (stdin) into the report table.
'use strict';
const rows = require('fs').readFileSync(0, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const by = (impl, name) => rows.find((r) => r.impl === impl && r.name === name);
console.log('| GEMM (bf16, M = 32*1370) | N x K | ours ms | ours TFLOP/s | torch ms | torch TFLOP/s | ours / torch |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows.filter((x) => x.impl === 'raddino')) {
  const t = by('torch', r.name);
  console.log(`| ${r.name} | ${r.N} x ${r.K} | ${r.ms.toFixed(3)} | ${r.tflops.toFixed(0)} | ${t ? t.ms.toFixed(3) : '-'} | ${t ? t.tflops.toFixed(0) : '-'} | ${t ? (r.tflops / t.tflops).toFixed(3) : '-'} |`);
}
