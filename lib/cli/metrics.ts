// Metrics as JSON lines, one object per step. A resumed run first drops the lines written after
// the checkpoint it resumes from, so the file always reads as one uninterrupted run.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../io/checkpoint.js';

export class MetricsLog {
  constructor(readonly path: string) {}

  /** Appends one record (written and flushed before returning). */
  write(record: Record<string, unknown>): void {
    appendFileSync(this.path, JSON.stringify(record) + '\n');
  }

  /** Keeps only the records with `step` <= `step` (and drops a torn last line). */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept: string[] = [];
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let rec: { step?: unknown };
      try {
        rec = JSON.parse(line) as { step?: unknown };
      } catch {
        continue;  // a line torn by a kill
      }
      if (typeof rec.step === 'number' && rec.step <= step) kept.push(line);
    }
    writeFileAtomicSync(this.path, kept.length ? kept.join('\n') + '\n' : '');
  }

  /** Every record in the file. */
  read(): Record<string, unknown>[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
