// Experiment: EXPLAIN (ANALYZE, BUFFERS) of pg-boss 10's fetch with N queued jobs in one queue.
// Run: DATABASE_URL=… node packages/server/dist/bench/experiments/pgboss-plan.js [N]
import pg from 'pg';
import PgBoss from 'pg-boss';

const adminUrl = process.env.DATABASE_URL!;
const n = Number(process.argv[2] ?? 10000);
const name = `dcbench_bossplan_${process.pid}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const u = new URL(adminUrl);
u.pathname = `/${name}`;
const boss = new PgBoss({ connectionString: u.toString(), max: 2, supervise: false, schedule: false });
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
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  for (let k = 0; k < 2; k++) {
    await c.query('BEGIN');
    const r = await c.query(`EXPLAIN (ANALYZE, BUFFERS) ${captured!.text}`, captured!.values);
    await c.query('ROLLBACK');
    if (k === 1) console.log(r.rows.map((x) => x['QUERY PLAN']).join('\n'));
  }
  await c.end();
} finally {
  await boss.stop({ graceful: false, wait: true });
  await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  await admin.end();
}
