/**
 * The run's results: `results/latest.json` (every scenario with its
 * baseline and ratio, the baselines, machine and versions),
 * `results/latest.md` (the same as a table, with the targets) and
 * `results/latest.svg` (throughput against baseline per scenario).
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Figure } from './baselines.js';
import { renderChart } from './chart.js';
import { targets } from './options.js';
import type { ScenarioResult } from './scenarios.js';

export type Row = {
  throughput: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number | null;
  baseline: string;
  baselineThroughput: number | null;
  ratio: number | null;
  target: string | null;
  targetMet: boolean | null;
  status: string;
  statuses?: Record<string, number>;
  notes: string[];
};

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function toRow(result: ScenarioResult, baselines: Record<string, Figure>): Row {
  const target = targets[result.family];
  const base = result.baselineThroughput ?? baselines[result.baseline]?.throughput ?? null;
  const load = result.load;
  const ratio = load !== undefined && base !== null && base > 0 ? round(load.throughput / base, 3) : null;
  let targetMet: boolean | null = null;
  if (target !== undefined && ratio !== null && load !== undefined) {
    targetMet = ratio >= target.ratioMin && (target.p99MsMax === undefined || load.p99Ms < target.p99MsMax);
  }
  return {
    throughput: load === undefined ? null : round(load.throughput, 1),
    p50Ms: load === undefined ? null : round(load.p50Ms),
    p99Ms: load === undefined ? null : round(load.p99Ms),
    errors: load === undefined ? null : load.errors,
    baseline: result.baseline,
    baselineThroughput: base === null ? null : round(base, 1),
    ratio,
    target: target?.text ?? null,
    targetMet,
    status: result.status,
    ...(load === undefined ? {} : { statuses: load.statuses }),
    notes: result.notes,
  };
}

function version(command: string, args: string[], pattern: RegExp): string {
  const out = spawnSync(command, args, { encoding: 'utf8' });
  return pattern.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 'unknown';
}

export async function environment(db: pg.Pool): Promise<Record<string, unknown>> {
  const { rows } = await db.query<{ server_version: string }>('SHOW server_version');
  return {
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: round(totalmem() / 2 ** 30, 1) },
    versions: {
      node: process.version,
      postgres: rows[0]?.server_version ?? 'unknown',
      redis: version('redis-server', ['--version'], /v=([\d.]+)/),
      wrk: version('wrk', ['-v'], /wrk (\S+)/),
    },
  };
}

function cell(value: number | null, suffix = ''): string {
  return value === null ? '—' : `${value}${suffix}`;
}

function markdown(rows: Record<string, Row>, baselines: Record<string, Figure>, env: Record<string, unknown>, quick: boolean): string {
  const lines = [
    `# Bench results${quick ? ' (--quick: reduced sizes, not for comparison)' : ''}`,
    '',
    '| scenario | req/s | p50 ms | p99 ms | errors | baseline | baseline req/s | ratio | target | met | status |',
    '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | --- |',
  ];
  for (const [name, r] of Object.entries(rows)) {
    const met = r.targetMet === null ? '—' : r.targetMet ? 'yes' : 'NO';
    lines.push(`| ${name} | ${cell(r.throughput)} | ${cell(r.p50Ms)} | ${cell(r.p99Ms)} | ${cell(r.errors)} | ${r.baseline} | ${cell(r.baselineThroughput)} | ${cell(r.ratio)} | ${r.target ?? '—'} | ${met} | ${r.status} |`);
  }
  lines.push('', '## Baselines', '', '| baseline | req/s (tps) | p50 ms | p99 ms | errors |', '| --- | ---: | ---: | ---: | ---: |');
  for (const [name, b] of Object.entries(baselines)) {
    lines.push(`| ${name} | ${round(b.throughput, 1)} | ${round(b.p50Ms)} | ${round(b.p99Ms)} | ${b.errors} |`);
  }
  const notes = Object.entries(rows).flatMap(([name, r]) => r.notes.map((n) => `- ${name}: ${n}`));
  if (notes.length > 0) lines.push('', '## Notes', '', ...notes);
  lines.push('', '## Environment', '', '```json', JSON.stringify(env, null, 2), '```', '');
  return lines.join('\n');
}

/** Writes `<name>.json`, `<name>.md` and `<name>.svg` under `dir`. */
export function writeReport(dir: string, name: string, results: readonly ScenarioResult[], baselines: Record<string, Figure>, env: Record<string, unknown>, quick: boolean): Record<string, Row> {
  mkdirSync(dir, { recursive: true });
  const rows: Record<string, Row> = {};
  for (const result of results) rows[result.name] = toRow(result, baselines);
  const json = { generatedAt: new Date().toISOString(), quick, ...env, baselines, scenarios: rows };
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(dir, `${name}.md`), markdown(rows, baselines, env, quick));
  const bars = Object.entries(rows)
    .filter(([, r]) => r.throughput !== null)
    .map(([label, r]) => ({ label, value: r.throughput!, baseline: r.baselineThroughput ?? 0, baselineLabel: r.baseline }));
  writeFileSync(join(dir, `${name}.svg`), renderChart(bars, `npm run bench${quick ? ' --quick' : ''}: throughput vs baseline`));
  return rows;
}
