// bench/pg-clients: which PostgreSQL client the database result store uses, by measurement. On one throwaway
// cluster, the result store's two hot statements — the upsert of a result row (INSERT … ON CONFLICT, pickled
// bytes) and the read of one row by task_id — timed with `pg` (node-postgres) and `postgres` (postgres.js): one
// at a time (latency p50/p99) and 4 in flight over a pool of 4 (throughput, statements/s).
// Run: node dist/bench/pg-clients.js  (prints JSON; docs/celery-results.md records the figures and the choice).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import postgres from 'postgres';
import { startPostgres } from '../test/helpers/postgres.js';

const N = Number(process.env.BENCH_PG_N ?? 3000);
const DDL = `CREATE TABLE IF NOT EXISTS b (id serial primary key, task_id varchar(155) unique, status varchar(50),
  result bytea, date_done timestamp)`;
const UPSERT = `INSERT INTO b (task_id, status, result, date_done) VALUES ($1, $2, $3, $4)
  ON CONFLICT (task_id) DO UPDATE SET status = EXCLUDED.status, result = EXCLUDED.result, date_done = EXCLUDED.date_done`;
const SELECT = 'SELECT task_id, status, result, date_done FROM b WHERE task_id = $1';

interface Client {
  upsert(id: string, body: Buffer): Promise<void>;
  select(id: string): Promise<unknown>;
  close(): Promise<void>;
}

function pgClient(url: string): Client {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  return {
    // Named statements: parsed once per connection (postgres.js prepares by default too).
    upsert: async (id, body) =>
      void (await pool.query({ name: 'up', text: UPSERT, values: [id, 'SUCCESS', body, '2025-01-01 00:00:00'] })),
    select: async (id) => (await pool.query({ name: 'sel', text: SELECT, values: [id] })).rows[0],
    close: () => pool.end(),
  };
}

function postgresClient(url: string): Client {
  const sql = postgres(url, { max: 4, onnotice: () => undefined });
  return {
    upsert: async (id, body) =>
      void (await sql.unsafe(UPSERT, [id, 'SUCCESS', body, '2025-01-01 00:00:00'], { prepare: true })),
    select: async (id) => (await sql.unsafe(SELECT, [id], { prepare: true }))[0],
    close: () => sql.end(),
  };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 1000) / 1000;
};

async function measure(c: Client): Promise<Record<string, number>> {
  const body = Buffer.alloc(60, 7);
  const ids = Array.from({ length: N }, () => randomUUID());
  for (const id of ids.slice(0, 200)) await c.upsert(id, body); // warm-up: connections, plans
  const up: number[] = [];
  const sel: number[] = [];
  for (const id of ids) {
    let t = performance.now();
    await c.upsert(id, body);
    up.push(performance.now() - t);
    t = performance.now();
    await c.select(id);
    sel.push(performance.now() - t);
  }
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        await c.upsert(id, body);
        await c.select(id);
      }
    }),
  );
  const perS = Math.round((2 * ids.length) / ((performance.now() - t0) / 1000));
  return {
    upsert_p50_ms: pct(up, 50),
    upsert_p99_ms: pct(up, 99),
    select_p50_ms: pct(sel, 50),
    select_p99_ms: pct(sel, 99),
    concurrent_statements_per_s: perS,
  };
}

const server = await startPostgres();
try {
  const setup = new pg.Client({ connectionString: server.url });
  await setup.connect();
  await setup.query(DDL);
  await setup.end();
  const out: Record<string, Record<string, number>> = {};
  // Two rounds in alternating order, so neither library always runs on a warmer server.
  for (const round of [0, 1]) {
    for (const [name, make] of round === 0
      ? ([
          ['pg', pgClient],
          ['postgres', postgresClient],
        ] as const)
      : ([
          ['postgres', postgresClient],
          ['pg', pgClient],
        ] as const)) {
      const c = make(server.url);
      out[`${name}#${round}`] = await measure(c);
      await c.close();
    }
  }
  console.log(JSON.stringify({ n: N, results: out }, null, 2));
} finally {
  await server.stop();
}
