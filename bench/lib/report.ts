/** The one table on stdout and the results file of docs/ARCHITECTURE.md, section 12. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type BenchName =
  | 'key-check'
  | 'slash-ack'
  | 'approvals'
  | 'jobs'
  | 'startup'
  | 'slack-drain'
  | 'policy-events'
  | 'key-check-pg'
  | 'approvals-pg'
  | 'revocation-pg';

/** One line of the table: the product's figures or the baseline's. */
export interface Row {
  readonly label: string;
  readonly medianMs: number;
  readonly p99Ms: number | null;
  readonly rps: number | null;
  readonly note?: string;
}

export interface BenchResult {
  readonly name: BenchName;
  /** Product over baseline, as docs/ARCHITECTURE.md, section 12, defines it for this benchmark. */
  readonly ratio: number;
  readonly goal: string;
  /** null where no goal is set. */
  readonly met: boolean | null;
  readonly product: Row;
  readonly baseline: Row;
  /** Everything else worth keeping in the results file: flat numbers. */
  readonly figures: Record<string, number | string | boolean>;
}

const ms = (v: number | null) => (v === null || Number.isNaN(v) ? '-' : `${v.toFixed(v < 10 ? 2 : 1)} ms`);
const num = (v: number | null) => (v === null ? '-' : v.toFixed(0));

export function formatTable(results: readonly BenchResult[]): string {
  const header = ['benchmark', 'median', 'p99', 'req/s', 'ratio', 'goal', 'met?', 'notes'];
  const lines: string[][] = [header];
  for (const r of results) {
    const row = (x: Row, first: boolean) => [
      first ? x.label : `  baseline: ${x.label}`,
      ms(x.medianMs),
      ms(x.p99Ms),
      num(x.rps),
      first ? r.ratio.toFixed(3) : '',
      first ? r.goal : '',
      first ? (r.met === null ? '-' : r.met ? 'yes' : 'NO') : '',
      x.note ?? '',
    ];
    lines.push(row(r.product, true), row(r.baseline, false));
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  const render = (l: string[]) => l.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [render(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.slice(1).map(render)].join('\n');
}

/** Writes `bench/results/<ISO time, ':' as '-'>.json`; returns its path. */
export function writeResults(dir: string, at: Date, results: readonly BenchResult[]): string {
  const file = join(dir, `${at.toISOString().replace(/:/g, '-')}.json`);
  const body = {
    at: at.toISOString(),
    node: process.version,
    benchmarks: results.map((r) => ({ name: r.name, ratio: r.ratio, goal: r.goal, met: r.met, ...r.figures })),
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return file;
}
