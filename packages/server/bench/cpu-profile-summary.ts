// Summarises V8 CPU profiles written by the replicas under BENCH_CPU_PROF=<dir>:
//
//   BENCH_CPU_PROF=/tmp/prof BENCH_ONLY=heartbeats DATABASE_URL=… node packages/server/dist/bench/run.js
//   node packages/server/dist/bench/cpu-profile-summary.js /tmp/prof [top]
//
// Prints, over all profiles in the directory, the share of sampled time (idle excluded) by
// category (where the code lives: our source, fastify, pg, node internals, GC, native) and the
// functions with the most self time.
//
// Caveat: V8 samples on a wall-clock timer. A thread that is descheduled inside a system call
// (on an oversubscribed machine, a write that wakes PostgreSQL often hands it the CPU) keeps
// being sampled "in" that call, so `writev` can look far bigger than the CPU it costs. Compare
// with utime/stime from /proc/PID/stat; the second column below leaves writev out.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function category(n: Node): string {
  const { functionName: f, url } = n.callFrame;
  if (f === '(idle)') return 'idle';
  if (f === '(garbage collector)') return 'GC';
  if (f === '(program)') return 'native (program)';
  if (url.includes('/packages/server/')) return 'dc-api source';
  if (url.includes('/packages/core/')) return '@dc/core (signing)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1] === 'fastify' || m[1]!.startsWith('@fastify') || m[1] === 'find-my-way' || m[1] === 'light-my-request' || m[1] === 'avvio' ? 'fastify' : m[1]!.startsWith('pg') ? 'pg' : m[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  if (!url) return f ? `native: ${f}` : 'native';
  return url;
}

const dir = process.argv[2];
const top = Number(process.argv[3] ?? 25);
if (!dir) {
  console.error('usage: cpu-profile-summary <dir> [top]');
  process.exit(2);
}
const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
const byCat = new Map<string, number>();
const byFn = new Map<string, number>();
let total = 0;
let writev = 0;
for (const f of files) {
  const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile;
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  // Self time per node from samples and their time deltas (µs).
  for (let i = 0; i < p.samples.length; i++) {
    const n = nodes.get(p.samples[i]!);
    if (!n) continue;
    const dt = p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0;
    const cat = category(n);
    if (cat === 'idle') continue;
    total += dt;
    if (n.callFrame.functionName === 'writev' && !n.callFrame.url) writev += dt;
    byCat.set(cat, (byCat.get(cat) ?? 0) + dt);
    const { functionName, url, lineNumber } = n.callFrame;
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/(node_modules|packages)\//, '$1/')}:${lineNumber + 1}` : ''}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + dt);
  }
}
const pctOf = (v: number) => ((100 * v) / (total || 1)).toFixed(1).padStart(5);
const pctNoW = (v: number, k: string) => (k.startsWith('writev') || k === 'native: writev' ? '    -' : ((100 * v) / (total - writev || 1)).toFixed(1).padStart(5));
console.log(`${files.length} profile(s), ${(total / 1e6).toFixed(2)} s of non-idle samples (${((100 * writev) / (total || 1)).toFixed(1)}% in writev)\n\nby category (share of samples / share without writev):`);
for (const [k, v] of [...byCat].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pctOf(v)}%  ${pctNoW(v, k)}%  ${k}`);
console.log(`\ntop ${top} functions by self time (share of samples / share without writev):`);
for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pctOf(v)}%  ${pctNoW(v, k)}%  ${k}`);
