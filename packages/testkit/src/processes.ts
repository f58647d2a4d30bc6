// Multi-process set-ups of the tests and benchmarks: API replicas on free ports, the stand-in
// agent worker script, and waiting for a replica to answer /readyz.
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The stand-in dc-agent (agent-worker.ts), to run with `node AGENT_WORKER_JS` (its header lists the environment). */
export const AGENT_WORKER_JS = fileURLToPath(new URL('./agent-worker.js', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** This process's environment without any DC_* setting: children sign for and serve what the caller gives them. */
export function envWithoutDc(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DC_')));
}

/** Polls `${url}/readyz` until it answers 200; `failed` names a reason to stop early (e.g. the replica exited). */
export async function waitReady(url: string, opts: { timeoutMs?: number; failed?: () => string | null } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const why = opts.failed?.();
    if (why) throw new Error(why);
    try {
      const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
      last = `${r.status} ${(await r.text()).slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).name === 'TimeoutError' ? 'no answer within 2000 ms' : 'not listening';
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms (last probe: ${last})`);
    await sleep(100);
  }
}
