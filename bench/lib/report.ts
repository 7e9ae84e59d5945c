/** The one table on stdout and the results file of docs/ARCHITECTURE.md, section 12. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { round } from './stats.ts';

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

/** What a load run measured, as `runLoad` (or `combined`) in lib/load.ts reports it. */
export interface MeasuredLoad {
  readonly seconds: number;
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  /** 2xx answers per second. */
  readonly rps: number;
  readonly medianMs: number;
  readonly p99Ms: number;
}

/** The parts of an offered-load benchmark's result that are its own. */
export interface OfferedLoad {
  readonly name: BenchName;
  readonly goal: string;
  /** Requests per second offered, all keys and replicas together. */
  readonly targetRps: number;
  /** Accepted per second over the baseline's at the least. */
  readonly keepingUp: number;
  readonly product: LoadRow;
  readonly baseline: LoadRow;
  /** The benchmark's other goals (cards, p99, decisions): all met. */
  readonly alsoMet: boolean;
  /** The product row's note, told how many requests were refused (not 2xx, or failed). */
  readonly note: (refused: number) => string;
  /** Figures that stand before the common ones in the results file (such as `replicas`, `keys`). */
  readonly lead?: Record<string, number | string | boolean>;
  /** The benchmark's own figures, after the common ones and before the baseline's. */
  readonly figures?: Record<string, number | string | boolean>;
}

interface LoadRow {
  readonly label: string;
  readonly load: MeasuredLoad;
}

/**
 * The result of a benchmark that offers a fixed rate to the product and to a
 * bare baseline (approvals, approvals-pg, policy-events): ratio is accepted
 * per second over the baseline's (docs/ARCHITECTURE.md, section 12); refused
 * is every request not answered 2xx plus every failed one; the goal is met
 * when the ratio reaches `keepingUp`, none is refused and `alsoMet` holds.
 * Figures: the common ones (`target_rps`, `seconds`, `accepted`,
 * `accepted_rps`, `refused`, `median_ms`, `p99_ms`, `baseline_rps`,
 * `baseline_median_ms`, `baseline_p99_ms`; milliseconds, per second) around
 * the benchmark's own.
 */
export function offeredLoadResult(spec: OfferedLoad): BenchResult {
  const measured = spec.product.load;
  const baseline = spec.baseline.load;
  const ratio = round(measured.rps / baseline.rps);
  const refused = measured.requests - measured.ok + measured.errors;
  return {
    name: spec.name,
    ratio,
    goal: spec.goal,
    met: ratio >= spec.keepingUp && refused === 0 && spec.alsoMet,
    product: { label: spec.product.label, medianMs: measured.medianMs, p99Ms: measured.p99Ms, rps: measured.rps, note: spec.note(refused) },
    baseline: { label: spec.baseline.label, medianMs: baseline.medianMs, p99Ms: baseline.p99Ms, rps: baseline.rps },
    figures: {
      ...spec.lead,
      target_rps: spec.targetRps,
      seconds: measured.seconds,
      accepted: measured.ok,
      accepted_rps: measured.rps,
      refused,
      median_ms: measured.medianMs,
      p99_ms: measured.p99Ms,
      ...spec.figures,
      baseline_rps: baseline.rps,
      baseline_median_ms: baseline.medianMs,
      baseline_p99_ms: baseline.p99Ms,
    },
  };
}
