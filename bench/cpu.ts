/**
 * CPU time by process group, read from /proc (Linux): what a run cost the
 * service, PostgreSQL, nats-server and the load generator, so that a
 * variant's cost shows per request rather than only through its throughput,
 * which this machine's speed moves by a third from one minute to the next.
 *
 * PostgreSQL counts its live processes and, through the postmaster's
 * children times, the ones that ended meanwhile (autovacuum workers, closed
 * backends). `wrk` counts the load generators that ended, which this
 * bench started and reaped (its children times); `node` is every Node.js
 * process, the services and this bench's own (idle while the load runs).
 */
import { readdirSync, readFileSync } from 'node:fs';

const ticksPerSecond = 100;
const groups = ['node', 'postgres', 'nats-server', 'wrk'] as const;
export type CpuGroup = (typeof groups)[number];
export type CpuTimes = Record<CpuGroup, number>;

type Stat = { pid: number; ppid: number; comm: string; own: number; children: number };

function readStat(pid: string): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    // Fields after the command name: state is field 3; utime, stime, cutime, cstime are 14 to 17.
    const fields = text.slice(close + 2).split(' ');
    const at = (field: number) => Number(fields[field - 3]);
    return { pid: Number(pid), ppid: at(4), comm, own: at(14) + at(15), children: at(16) + at(17) };
  } catch {
    return undefined; // It ended meanwhile.
  }
}

/** Seconds of CPU used so far by each group. */
export function cpuTimes(): CpuTimes {
  const times: CpuTimes = { node: 0, postgres: 0, 'nats-server': 0, wrk: 0 };
  const stats = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(readStat).filter((stat) => stat !== undefined);
  const postgres = new Set(stats.filter((stat) => stat.comm === 'postgres').map((stat) => stat.pid));
  for (const stat of stats) {
    if (stat.comm === 'postgres') {
      // The postmaster, whose parent is not postgres, has reaped every process of the cluster that ended.
      times.postgres += stat.own + (postgres.has(stat.ppid) ? 0 : stat.children);
    } else if (stat.comm === 'node' || stat.comm === 'nats-server') {
      times[stat.comm] += stat.own;
    }
    if (stat.pid === process.pid) times.wrk += stat.children;
  }
  for (const group of groups) times[group] /= ticksPerSecond;
  return times;
}

/** CPU used between two readings, per group, in microseconds per one of `count` (requests, events). */
export function cpuPer(before: CpuTimes, after: CpuTimes, count: number): CpuTimes {
  const per = {} as CpuTimes;
  for (const group of groups) per[group] = ((after[group] - before[group]) * 1e6) / Math.max(1, count);
  return per;
}

/** `a` − `b`, per group. */
export function cpuMinus(a: CpuTimes, b: CpuTimes): CpuTimes {
  const difference = {} as CpuTimes;
  for (const group of groups) difference[group] = a[group] - b[group];
  return difference;
}

export function formatCpu(per: CpuTimes, unit = 'request'): string {
  const total = groups.reduce((sum, group) => sum + per[group], 0);
  return `${groups.map((group) => `${group} ${per[group].toFixed(0)}`).join(', ')}, total ${total.toFixed(0)} µs of CPU per ${unit}`;
}

export function meanCpu(all: readonly CpuTimes[]): CpuTimes {
  const per = {} as CpuTimes;
  for (const group of groups) per[group] = all.reduce((sum, times) => sum + times[group], 0) / Math.max(1, all.length);
  return per;
}
