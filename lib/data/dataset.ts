// Image datasets: a folder (recursive) or a CSV/JSONL list of paths with optional labels. The
// order is deterministic (folders: sorted by relative path, by code point; lists: file order).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';

export type LabelValue = string | number | boolean | null;

export interface DataItem {
  /** Absolute path of the image. */
  path: string;
  /** Extra columns of a list (CSV columns other than `path`, JSONL fields other than `path`). */
  labels: Record<string, LabelValue>;
}

export interface ImageDataset {
  /** The folder or list file the items come from. */
  readonly source: string;
  readonly items: readonly DataItem[];
  readonly length: number;
}

/** Extensions a folder dataset takes by default (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.dcm', '.dicom'] as const;

export interface FolderOptions {
  /** Descend into sub-folders (default true). */
  recursive?: boolean;
  /** File extensions to take (with the dot, case-insensitive); null takes every file (default IMAGE_EXTENSIONS). */
  extensions?: readonly string[] | null;
}

/** Every image file under `dir`, sorted by relative path; hidden files and folders are left out. */
export class FolderDataset implements ImageDataset {
  readonly source: string;
  readonly items: readonly DataItem[];

  constructor(dir: string, opts: FolderOptions = {}) {
    this.source = resolve(dir);
    let st;
    try {
      st = statSync(this.source);
    } catch (e) {
      throw new Error(`FolderDataset: cannot read folder ${this.source} (${(e as Error).message})`);
    }
    if (!st.isDirectory()) throw new Error(`FolderDataset: ${this.source} is not a folder`);
    const recursive = opts.recursive ?? true;
    const exts = opts.extensions === null ? null : new Set((opts.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
    const found: string[] = [];
    const walk = (d: string): void => {
      for (const entry of readdirSync(d, { withFileTypes: true })) {
        if (entry.name.startsWith('.')) continue;
        const p = join(d, entry.name);
        if (entry.isDirectory()) {
          if (recursive) walk(p);
        } else if ((entry.isFile() || entry.isSymbolicLink()) && (exts === null || exts.has(extname(entry.name).toLowerCase()))) {
          found.push(p);
        }
      }
    };
    walk(this.source);
    if (found.length === 0) {
      const what = exts === null ? 'files' : `files with extension ${[...exts].join(', ')}`;
      throw new Error(`FolderDataset: no ${what} in ${this.source}${recursive ? ' or its sub-folders' : ''} (empty data set)`);
    }
    const rel = found.map((p) => relative(this.source, p)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.items = rel.map((r) => ({ path: join(this.source, r), labels: {} }));
  }

  get length(): number {
    return this.items.length;
  }
}

/**
 * A list of images: CSV with a header row holding a `path` column (RFC 4180 quoting), or JSONL
 * with one `{"path": ...}` object per line. Relative paths are resolved against the list file's
 * folder. The format is detected from the content: a first line starting with `{` is JSONL.
 */
export class ListDataset implements ImageDataset {
  readonly source: string;
  readonly items: readonly DataItem[];

  constructor(path: string) {
    this.source = resolve(path);
    let text: string;
    try {
      text = readFileSync(this.source, 'utf8');
    } catch (e) {
      throw new Error(`ListDataset: cannot read list ${this.source} (${(e as Error).message})`);
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const base = dirname(this.source);
    const parsed = text.trimStart().startsWith('{') ? parseJsonl(text, this.source) : parseCsv(text, this.source);
    if (parsed.length === 0) throw new Error(`ListDataset: ${this.source} lists no images (empty data set)`);
    this.items = parsed.map((it) => ({ ...it, path: isAbsolute(it.path) ? it.path : join(base, it.path) }));
  }

  get length(): number {
    return this.items.length;
  }
}

/** A folder (FolderDataset) or a list file (ListDataset), whichever `path` is. */
export function openDataset(path: string, opts: FolderOptions = {}): ImageDataset {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new Error(`openDataset: cannot read ${resolve(path)} (${(e as Error).message})`);
  }
  return st.isDirectory() ? new FolderDataset(path, opts) : new ListDataset(path);
}

function parseJsonl(text: string, file: string): DataItem[] {
  const items: DataItem[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new Error(`ListDataset: ${file} line ${i + 1} is not valid JSON (${(e as Error).message})`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || typeof (obj as { path?: unknown }).path !== 'string' || (obj as { path: string }).path === '') {
      throw new Error(`ListDataset: ${file} line ${i + 1} has no "path" string (expected {"path": "...", ...})`);
    }
    const { path, ...rest } = obj as Record<string, unknown>;
    const labels: Record<string, LabelValue> = {};
    for (const [k, v] of Object.entries(rest)) {
      if (v !== null && typeof v === 'object') throw new Error(`ListDataset: ${file} line ${i + 1} field "${k}" is an object or array (expected a string, number, boolean or null)`);
      labels[k] = v as LabelValue;
    }
    items.push({ path: path as string, labels });
  });
  return items;
}

/** RFC 4180 records: comma-separated, fields optionally quoted with "" as an escaped quote. */
function csvRecords(text: string, file: string): { fields: string[]; line: number }[] {
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let i = 0;
  const endRecord = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0]!.trim() === '')) records.push({ fields, line: start });
    fields = [];
    field = '';
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      i++;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') { fields.push(field); field = ''; }
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else field += ch;
    i++;
  }
  if (quoted) throw new Error(`ListDataset: ${file} has an unterminated quoted field starting on line ${start}`);
  if (field !== '' || fields.length > 0) endRecord();
  return records;
}

function csvValue(s: string): LabelValue {
  const t = s.trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : s;
}

function parseCsv(text: string, file: string): DataItem[] {
  const records = csvRecords(text, file);
  if (records.length === 0) return [];
  const header = records[0]!.fields.map((h) => h.trim());
  const pathCol = header.indexOf('path');
  if (pathCol < 0) throw new Error(`ListDataset: ${file} has no 'path' column (header: ${header.join(', ')})`);
  return records.slice(1).map(({ fields, line }) => {
    if (fields.length !== header.length) throw new Error(`ListDataset: ${file} line ${line} has ${fields.length} fields (expected ${header.length} like the header)`);
    const path = fields[pathCol]!.trim();
    if (path === '') throw new Error(`ListDataset: ${file} line ${line} has an empty path`);
    const labels: Record<string, LabelValue> = {};
    header.forEach((h, j) => { if (j !== pathCol) labels[h] = csvValue(fields[j]!); });
    return { path, labels };
  });
}
