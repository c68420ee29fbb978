// Joins the JSON lines of gemm.ts and gemm_torch.py (stdin) into the report table.
'use strict';
const rows = require('fs').readFileSync(0, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
// Best of the repeated runs of each implementation and shape.
const by = (impl, name) => rows.filter((r) => r.impl === impl && r.name === name).sort((a, b) => b.tflops - a.tflops)[0];
console.log('| GEMM (bf16, M = 32*1370) | N x K | ours ms | ours TFLOP/s | torch ms | torch TFLOP/s | ours / torch |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const name of [...new Set(rows.filter((x) => x.impl === 'raddino').map((x) => x.name))]) {
  const r = by('raddino', name), t = by('torch', name);
  console.log(`| ${r.name} | ${r.N} x ${r.K} | ${r.ms.toFixed(3)} | ${r.tflops.toFixed(0)} | ${t ? t.ms.toFixed(3) : '-'} | ${t ? t.tflops.toFixed(0) : '-'} | ${t ? (r.tflops / t.tflops).toFixed(3) : '-'} |`);
}
