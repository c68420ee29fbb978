// Progress for long jobs: a redrawn bar on a terminal, a periodic plain line elsewhere (CI logs,
// pipes), both with the rate, the ETA and the latest scalar values.

export interface ProgressOptions {
  /** Where to draw (default process.stderr). */
  stream?: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean };
  label?: string;
  /** Unit of the rate (default 'it'). */
  unit?: string;
  /** Without a terminal, print a line at most this often (ms, default 10 s). */
  intervalMs?: number;
  /** Clock, for tests (ms). */
  now?: () => number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(2, '0'), ss = String(r).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

export class Progress {
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly t0: number;
  private lastLine = -Infinity;
  private done: number;

  /** `start` counts steps already done before this run (a resumed job); they do not count towards the rate. */
  constructor(readonly total: number, private readonly opts: ProgressOptions = {}, private readonly start = 0) {
    if (!Number.isInteger(total) || total < 0) throw new RangeError(`Progress: argument 'total' is ${total} (expected an integer >= 0)`);
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    this.now = opts.now ?? (() => performance.now());
    this.t0 = this.now();
    this.done = start;
  }

  /** Steps per second since this run started. */
  rate(): number {
    const dt = (this.now() - this.t0) / 1000;
    return dt > 0 ? (this.done - this.start) / dt : 0;
  }

  /** The line for `done` steps with the given values (also what is printed). */
  line(values: Record<string, number> = {}): string {
    const { total, done } = this;
    const rate = this.rate();
    const eta = rate > 0 ? (total - done) / rate : NaN;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const vals = Object.entries(values).map(([k, v]) => `${k} ${formatValue(v)}`).join('  ');
    const label = this.opts.label ? `${this.opts.label} ` : '';
    return `${label}[${bar}] ${done}/${total} ${rate.toFixed(2)} ${this.opts.unit ?? 'it'}/s ETA ${formatDuration(eta)}${vals ? '  ' + vals : ''}`;
  }

  /** Records that `done` steps are complete and redraws (or prints a periodic line). */
  update(done: number, values: Record<string, number> = {}): void {
    this.done = done;
    const t = this.now();
    if (this.tty) {
      this.stream.write(`\r${this.line(values)}\x1b[K`);
    } else if (t - this.lastLine >= (this.opts.intervalMs ?? 10_000) || done >= this.total) {
      this.lastLine = t;
      this.stream.write(`${this.line(values)}\n`);
    }
  }

  /** Ends the bar's line on a terminal. */
  finish(): void {
    if (this.tty) this.stream.write('\n');
  }
}
