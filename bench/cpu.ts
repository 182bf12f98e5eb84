// CPU accounting for benchmarks, from /proc (Linux only): per-process CPU time (utime + stime of every thread,
// live or exited, as the kernel sums them in /proc/<pid>/stat) and the whole machine's busy time (/proc/stat).
// A bench takes a snapshot at the start and at the end of a measured window and reports, per role (server,
// client, worker...), CPU ms spent and CPU ms per unit of work, next to how busy the machine was.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

function clockTicks(): number {
  try {
    return (
      Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()) ||
      100
    );
  } catch {
    return 100;
  }
}
const MS_PER_TICK = 1000 / clockTicks();

/** Fields of /proc/<pid>/stat after the command name; index 0 is field 3 (state) of proc(5). */
function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime + stime of a process in ms (all its threads); null when it is gone. Resolution: one clock tick (10 ms). */
export function processCpuMs(pid: number): number | null {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) * MS_PER_TICK : null;
}

/** Direct children of `ppid` (scans /proc; call it outside measured windows). */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if (Number(statFields(Number(d))?.[1]) === ppid) out.push(Number(d));
  }
  return out.sort((a, b) => a - b);
}

export interface MachineCpu {
  /** user + nice + system + irq + softirq over all cores, ms. */
  busy: number;
  /** Time the hypervisor ran something else while we wanted the CPU, ms. */
  steal: number;
}

export function machineCpuMs(): MachineCpu {
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const v = first.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => v[i] ?? 0;
  return { busy: (at(0) + at(1) + at(2) + at(5) + at(6)) * MS_PER_TICK, steal: at(7) * MS_PER_TICK };
}

/** Which pids make up each role, e.g. { server: [123], client: [process.pid], child0: [456] }. */
export type Roles = Record<string, number[]>;

export interface CpuSnapshot {
  at: number;
  machine: MachineCpu;
  roles: Record<string, number>;
}

export function snapshot(roles: Roles): CpuSnapshot {
  const out: Record<string, number> = {};
  for (const [role, pids] of Object.entries(roles)) out[role] = pids.reduce((s, p) => s + (processCpuMs(p) ?? 0), 0);
  return { at: performance.now(), machine: machineCpuMs(), roles: out };
}

export interface CpuWindow {
  wallMs: number;
  /** Machine busy time ÷ wall time, in % of ONE core (a 2-core machine fully busy = 200). */
  machinePct: number;
  stealPct: number;
  /** CPU ms per role over the window. */
  roleMs: Record<string, number>;
  /** Machine busy time not accounted to any role (other processes, kernel threads), ms. */
  otherMs: number;
}

export function cpuWindow(a: CpuSnapshot, b: CpuSnapshot): CpuWindow {
  const wallMs = b.at - a.at;
  const roleMs: Record<string, number> = {};
  for (const role of Object.keys(b.roles)) roleMs[role] = (b.roles[role] ?? 0) - (a.roles[role] ?? 0);
  const busy = b.machine.busy - a.machine.busy;
  const known = Object.values(roleMs).reduce((s, x) => s + x, 0);
  return {
    wallMs,
    machinePct: (busy / wallMs) * 100,
    stealPct: ((b.machine.steal - a.machine.steal) / wallMs) * 100,
    roleMs,
    otherMs: Math.max(0, busy - known),
  };
}
