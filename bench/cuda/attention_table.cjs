// Joins the JSON lines of attention.ts and attention_torch.py (stdin) into the report table.
'use strict';
const rows = require('fs').readFileSync(0, 'utf8').split('\n').filter((l) => l.startsWith('{') && l.includes('"N"')).map((l) => JSON.parse(l));
const by = (impl, name) => rows.filter((r) => r.impl === impl && r.name === name).sort((a, b) => b.tflops - a.tflops)[0];
console.log('| attention (bf16, B*H = 32*12, D = 64) | ours ms | ours TFLOP/s | SDPA flash ms | SDPA TFLOP/s | ours / SDPA |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [impl, name] of [...new Set(rows.filter((x) => x.impl.startsWith('raddino')).map((x) => `${x.impl}\t${x.name}`))].map((k) => k.split('\t'))) {
  const r = by(impl, name), t = by('torch', name);
  console.log(`| ${name}${impl === 'raddino' ? '' : ` (${impl})`} | ${r.ms.toFixed(3)} | ${r.tflops.toFixed(0)} | ${t ? t.ms.toFixed(3) : '-'} | ${t ? t.tflops.toFixed(0) : '-'} | ${t ? (r.tflops / t.tflops).toFixed(3) : '-'} |`);
}
