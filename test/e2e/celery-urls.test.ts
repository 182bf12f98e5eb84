// Connection URLs for real: a password in the URL, a non-zero db number, and rediss:// (TLS, client certificate
// and a throwaway CA passed the kombu/redis-py way: ?ssl_cert_reqs=&ssl_ca_certs=&ssl_certfile=&ssl_keyfile=).
// The Python Celery client and our binary use the same URL on the same server; the password never reaches a log.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { redisTarget, redisUrlProblem } from '../../src/backends/celery/transports/redis-url.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startRedis, type RedisTlsOptions } from '../helpers/redis.js';
import { FIXTURE_TASKS, runPython, startWorker } from './celery-harness.js';

const PASSWORD = 'Tbw-s3cret-Pa55word';

type UrlRun = { ok: boolean; value?: unknown; error?: [string, string]; exists?: number; keyspace?: string[] };

/** Our pool and the Python client on one URL: the task runs, the failure re-raises typed, results in `db`. */
async function roundTrip(t: Test, url: string, db: number): Promise<void> {
  const w = startWorker(url, ['-c', '1', '--tasks', FIXTURE_TASKS]);
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 20_000, 'pool running');
  const [run] = (await runPython('results_urls.py', [url])) as unknown as UrlRun[];
  t.ok(run?.ok, `python round trip ${JSON.stringify(run)}`);
  t.equal(run?.value, 5, 'task result read by AsyncResult.get()');
  t.same(run?.error, ['KeyError', "'over tls'"], 'failure re-raised with its type');
  t.equal(run?.exists, 1, 'result meta present in the URL db');
  t.same(run?.keyspace, [`db${db}`], `every key (queue bookkeeping and results) is in db ${db} only`);
  // The supervisor's remote-control node (pidbox) connects with the same URL, TLS options included.
  await w.waitFor((l) => l.msg === 'celery control node ready', 10_000, 'control node ready');
  t.notOk(
    w.lines.some((l) => l.msg === 'celery remote control unavailable'),
    'remote control connected',
  );
  t.equal(await w.stop(), 0, 'warm shutdown exits 0');
  const out = w.lines.map((l) => JSON.stringify(l)).join('\n');
  t.ok(w.lines.length > 5, 'log lines were captured');
  t.notOk(out.includes(PASSWORD) || out.includes(encodeURIComponent(PASSWORD)), 'the password appears in no log line');
}

void t.test('URL parsing: kombu/redis-py TLS parameters → ioredis tls options', async (t) => {
  const files: Record<string, Buffer> = {
    '/ca.pem': Buffer.from('CA'),
    '/c.pem': Buffer.from('C'),
    '/k.pem': Buffer.from('K'),
  };
  const read = (p: string): Buffer => {
    const f = files[p];
    if (!f) throw new Error('ENOENT');
    return f;
  };
  const r = redisTarget(
    'rediss://:pw@h:6380/4?ssl_cert_reqs=required&ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem&family=4',
    read,
  );
  t.equal(r.url, 'rediss://:pw@h:6380/4?family=4', 'ssl_* stripped, everything else kept for ioredis');
  t.same(r.tls, { rejectUnauthorized: true, ca: files['/ca.pem'], cert: files['/c.pem'], key: files['/k.pem'] });
  t.equal(
    redisTarget('rediss://h/0', read).tls?.rejectUnauthorized,
    true,
    'verification is on by default (redis-py default)',
  );
  const none = redisTarget('rediss://h/0?ssl_cert_reqs=CERT_NONE', read).tls;
  t.equal(none?.rejectUnauthorized, false, 'CERT_NONE turns verification off');
  t.equal(typeof none?.checkServerIdentity, 'function', 'and the hostname check with it');
  t.equal(
    redisTarget('rediss://h/0?ssl_cert_reqs=optional', read).tls?.rejectUnauthorized,
    true,
    'optional verifies (Python client mode)',
  );
  t.equal(
    typeof redisTarget('rediss://h/0?ssl_check_hostname=False', read).tls?.checkServerIdentity,
    'function',
    'ssl_check_hostname=false',
  );
  t.same(redisTarget('redis://:pw@h/3', read), { url: 'redis://:pw@h/3' }, 'plain URL untouched, no tls');
  t.match(
    redisUrlProblem('redis://h/0?ssl_cert_reqs=required') ?? '',
    /not rediss/,
    'ssl_* on redis:// is refused, not ignored',
  );
  t.match(redisUrlProblem('rediss://h/0?ssl_ciphers=X') ?? '', /unsupported TLS parameter ssl_ciphers/);
  t.match(redisUrlProblem('rediss://h/0?ssl_cert_reqs=maybe') ?? '', /ssl_cert_reqs=maybe/);
  t.match(redisUrlProblem('http://h/0') ?? '', /redis:\/\/ or rediss:\/\//);
  t.equal(redisUrlProblem('rediss://:pw@h/0?ssl_cert_reqs=none'), null);
  t.throws(
    () => redisTarget('rediss://h/0?ssl_ca_certs=/missing.pem', read),
    /cannot read ssl_ca_certs file \/missing\.pem/,
  );
});

void t.test('password in the URL and a non-zero db', async (t) => {
  const redis = await startRedis({ password: PASSWORD });
  t.teardown(() => redis.stop());
  await roundTrip(t, redis.url.replace(/\/0$/, '/3'), 3);
});

void t.test('rediss:// with a private CA and a client certificate, password and db 5', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = makeCerts(dir);
  const certs: RedisTlsOptions & TestCerts = { ...c, authClients: true };
  const redis = await startRedis({ password: PASSWORD, tls: certs });
  t.teardown(() => redis.stop());
  const base = redis.url.replace(/\/0$/, '/5');
  t.match(base, /^rediss:\/\//);
  const url = `${base}?ssl_cert_reqs=required&ssl_ca_certs=${certs.ca}&ssl_certfile=${certs.clientCert}&ssl_keyfile=${certs.clientKey}`;

  // Verification is real: without the CA the self-signed chain is refused; with it, PING works.
  const probe = async (u: string): Promise<string> => {
    const target = redisTarget(u);
    const c = new Redis(target.url, {
      tls: target.tls,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    let first: string | null = null; // ioredis rejects connect() with "Connection is closed"; the cause is emitted
    c.on('error', (e: Error) => (first ??= e.message));
    try {
      await c.connect();
      return await c.ping();
    } catch (err) {
      return first ?? (err as Error).message;
    } finally {
      c.disconnect();
    }
  };
  const noCa = url.replace(/&ssl_ca_certs=[^&]*/, '');
  t.match(await probe(noCa), /self[- ]signed certificate/i, 'an untrusted server certificate is refused');
  t.equal(await probe(url), 'PONG', 'trusted through ssl_ca_certs');

  await roundTrip(t, url, 5);
});

void t.test('ssl_* on a redis:// URL stops the pool at boot, naming the parameter, not the password', async (t) => {
  const w = startWorker(`redis://:${PASSWORD}@127.0.0.1:1/0?ssl_cert_reqs=required`, ['-c', '1']);
  t.teardown(async () => void (await w.stop('SIGKILL')));
  const [code] = (await once(w.proc, 'close')) as [number | null]; // close: stdout fully read
  t.equal(code, 3, 'boot error exit code (the pool gives up instead of restarting forever)');
  t.ok(
    w.lines.some((l) => JSON.stringify(l).includes('has ssl_cert_reqs but is not rediss://')),
    'the reason is logged',
  );
  t.notOk(
    w.lines.some((l) => JSON.stringify(l).includes(PASSWORD)),
    'the password appears in no log line',
  );
});
