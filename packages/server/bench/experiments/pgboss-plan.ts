// Experiment: EXPLAIN (ANALYZE, BUFFERS) of pg-boss 10's fetch with N queued jobs in one queue.
// Run: DATABASE_URL=… node packages/server/dist/bench/experiments/pgboss-plan.js [N]
import PgBoss from 'pg-boss';
import { explainAnalyze, scratchDatabases } from '../lib.js';

const adminUrl = process.env.DATABASE_URL!;
const n = Number(process.argv[2] ?? 10000);
const name = `dcbench_bossplan_${process.pid}`;
const scratch = await scratchDatabases(adminUrl);
const url = await scratch.create(name);
const boss = new PgBoss({ connectionString: url, max: 2, supervise: false, schedule: false });
boss.on('error', () => {}); // the scratch database is dropped under its idle connections at the end
try {
  await boss.start();
  await boss.createQueue('q');
  for (let at = 0; at < n; at += 5000) await boss.insert(Array.from({ length: Math.min(5000, n - at) }, () => ({ name: 'q', data: { x: 1 } })));
  await boss.getDb().executeSql('VACUUM ANALYZE', []);
  const db = boss.getDb() as { executeSql(t: string, v: unknown[]): Promise<unknown> };
  const real = db.executeSql.bind(db);
  let captured: { text: string; values: unknown[] } | null = null;
  db.executeSql = async (text: string, values: unknown[]) => {
    captured = { text, values };
    return real(text, values);
  };
  await boss.fetch('q', { batchSize: 1 });
  db.executeSql = real;
  console.log((await explainAnalyze(url, captured!.text, captured!.values)).join('\n'));
} finally {
  await boss.stop({ graceful: false, wait: true });
  await scratch.close();
}
