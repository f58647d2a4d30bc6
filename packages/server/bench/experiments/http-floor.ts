// Experiment: the least a signed heartbeat can cost a replica in this stack on this machine, with
// none of dc-api's work. A child process serves a heartbeat-sized JSON POST with the same headers,
// answered by bare node:http or by Fastify 5 (body parsing, a body schema and a response schema,
// as our routes have); the parent sends it keep-alive from `CONCURRENCY` connections and reads the
// child's CPU from /proc. Also an Ed25519 verify with a cached key (what auth adds per request).
// Add PostgreSQL's share from agent-auth.ts (a nonce and a status row per beat, batched) to get the
// floor to compare with the 5,000/s target (≤ 0.4 ms of API + PostgreSQL CPU per beat on 2 cores).
// Run:  node packages/server/dist/bench/experiments/http-floor.js [REQUESTS] [CONCURRENCY]
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { generateIdentity, requestMessage, signMessage, verifyMessage, publicKeyFromHex } from '@dc/core/node';
import { keepAliveAgent } from '@dc/testkit';
import { pool, procCpuMs } from '../lib.js';

type Kind = 'http' | 'fastify';
const BODY = JSON.stringify({ version: '1.4.2', provisioner_type: 'proxmox', active_contracts: 3, max_concurrent: 8, capabilities: { actions: ['provision', 'terminate'], host_scope: 'pve-cluster-1', features: ['snapshots', 'cloud-init'] } });
const ANSWER = { acknowledged: true, pool_id: 'bp-1-abcdef', pool_name: 'europe-proxmox', next_heartbeat_seconds: 30, state: 'active', drained: false };

async function serve(kind: Kind): Promise<void> {
  let server: http.Server;
  if (kind === 'http') {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const out = JSON.stringify(ANSWER);
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(out) });
        res.end(out);
      });
    });
  } else {
    const app = Fastify({ logger: false });
    app.post('/beat', {
      schema: {
        body: { type: 'object', properties: { version: { type: 'string' }, provisioner_type: { type: 'string' }, active_contracts: { type: 'integer' }, max_concurrent: { type: 'integer' }, capabilities: { type: 'object', additionalProperties: true } } },
        response: { 200: { type: 'object', properties: { acknowledged: { type: 'boolean' }, pool_id: { type: 'string' }, pool_name: { type: 'string' }, next_heartbeat_seconds: { type: 'integer' }, state: { type: 'string' }, drained: { type: 'boolean' } } } },
      },
    }, async () => ANSWER);
    await app.ready();
    server = app.server;
  }
  server.keepAliveTimeout = 60_000;
  // Ends with its parent, however the parent ends.
  process.on('disconnect', () => {
    server.closeAllConnections();
    server.close();
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as { port: number }).port));
}

async function measure(kind: Kind, requests: number, concurrency: number): Promise<{ serverMs: number; clientMs: number; rps: number }> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['serve', kind]);
  const [port] = (await once(child, 'message')) as [number];
  const agent = keepAliveAgent();
  const id = generateIdentity();
  const send = () =>
    new Promise<void>((resolve, reject) => {
      const headers = { 'content-type': 'application/json', 'x-agent-pubkey': id.publicKey, 'x-timestamp': String(Date.now()), 'x-nonce': randomBytes(18).toString('base64url'), 'x-signature': 'ab'.repeat(64), 'content-length': String(Buffer.byteLength(BODY)) };
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/beat', agent, headers }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(BODY);
    });
  const run = (n: number) => pool(Array.from({ length: n }, (_, i) => i), concurrency, send);
  await run(Math.min(2000, requests)); // warm-up: connections, JIT
  const server0 = procCpuMs(child.pid!)!;
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  await run(requests);
  const wall = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const out = { serverMs: (procCpuMs(child.pid!)! - server0) / requests, clientMs: (self.user + self.system) / 1000 / requests, rps: requests / wall };
  child.kill();
  agent.destroy();
  return out;
}

function verifyCpuMs(n: number): number {
  const id = generateIdentity();
  const key = publicKeyFromHex(id.publicKey);
  const message = requestMessage({ method: 'POST', host: 'api.example', path: `/api/v1/providers/${id.publicKey}/agents/heartbeat`, timestamp: String(Date.now()), nonce: 'n'.repeat(24), body: BODY });
  const signature = signMessage(id.privateKey, message);
  for (let i = 0; i < 500; i++) verifyMessage(key, message, signature);
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) if (!verifyMessage(key, message, signature)) throw new Error('verify failed');
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / 1000 / n;
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3] as Kind);
} else {
  const requests = Number(process.argv[2] ?? 20_000);
  const concurrency = Number(process.argv[3] ?? 64);
  const verify = verifyCpuMs(5000);
  console.log(`Ed25519 verify (node:crypto, key cached): ${verify.toFixed(3)} ms CPU`);
  for (const kind of ['http', 'fastify', 'http', 'fastify'] as const) {
    const r = await measure(kind, requests, concurrency);
    console.log(`${kind.padEnd(7)} ${requests} POSTs, ${concurrency} in flight: server ${r.serverMs.toFixed(3)} ms CPU/request, client ${r.clientMs.toFixed(3)} ms, ${r.rps.toFixed(0)} req/s; with verify: ${(r.serverMs + verify).toFixed(3)} ms`);
  }
}
