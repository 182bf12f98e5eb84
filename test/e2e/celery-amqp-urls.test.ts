// RabbitMQ URLs for real: a user with a password full of URL-special characters, a vhost, and amqps:// with a
// private CA and a client certificate (RabbitMQ verify_peer + fail_if_no_peer_cert), passed the kombu way in the
// query (?ssl_ca_certs=&ssl_certfile=&ssl_keyfile=) — and the platform's split form (CELERY_BROKER_BASE_URL +
// CELERY_BROKER_USER + CELERY_BROKER_PASS). Python Celery (broker_use_ssl) and our pool on the same node; the
// password never reaches a log line; an untrusted server certificate is refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { makeCerts } from '../helpers/certs.js';
import { startRabbit } from '../helpers/rabbitmq.js';
import { freePort } from '../helpers/redis.js';
import { FIXTURE_TASKS, PYTHON, ROOT, startWorker } from './celery-harness.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

const PASSWORD = 'Tbw:s3cret@Pa55/word';

async function python(args: string[]): Promise<{ value: unknown; error: [string, string] | null }> {
  const p = spawn(PYTHON, [join(ROOT, 'test', 'e2e', 'py', 'amqp_tls.py'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`amqp_tls.py exited ${code}: ${err.slice(-1500)}`);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as { value: unknown; error: [string, string] | null };
}

void t.test('amqps:// with a private CA, a client certificate, a user, a password and a vhost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-amqps-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = makeCerts(dir);
  const tlsPort = await freePort();
  const rabbit = await startRabbit({
    conf: [
      `listeners.ssl.default = ${tlsPort}`,
      `ssl_options.cacertfile = ${c.ca}`,
      `ssl_options.certfile = ${c.cert}`,
      `ssl_options.keyfile = ${c.key}`,
      'ssl_options.verify = verify_peer',
      'ssl_options.fail_if_no_peer_cert = true',
    ],
  });
  t.teardown(() => rabbit.stop());
  await rabbit.ctl('add_vhost', 'prod');
  await rabbit.ctl('add_user', 'app', PASSWORD);
  await rabbit.ctl('set_permissions', '-p', 'prod', 'app', '.*', '.*', '.*');
  const base = `amqps://localhost:${tlsPort}/prod`;
  const tls = `ssl_ca_certs=${c.ca}&ssl_certfile=${c.clientCert}&ssl_keyfile=${c.clientKey}`;
  const url = `amqps://app:${encodeURIComponent(PASSWORD)}@localhost:${tlsPort}/prod`;

  await t.test('CELERY_BROKER_URL with the TLS parameters: our pool and Python Celery on one vhost', async (t) => {
    const w = startWorker(`${url}?${tls}`, ['-c', '1', '--tasks', FIXTURE_TASKS], { CELERY_RESULT_BACKEND: 'rpc://' });
    t.teardown(async () => void (await w.stop('SIGKILL')));
    await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');
    await w.waitFor((l) => l.msg === 'celery control node ready', 20_000, 'control node (same URL, TLS included)');
    const r = await python([url, c.ca, c.clientCert, c.clientKey]);
    t.equal(r.value, 5, 'task result through rpc:// over TLS');
    t.same(r.error, ['KeyError', "'over tls'"], 'failure re-raised with its type');
    const queues = (await rabbit.ctl('list_queues', '-p', 'prod', '--no-table-headers', 'name')).split('\n');
    t.ok(queues.includes('celery'), 'the task queue lives in the URL’s vhost');
    t.equal(await w.stop(), 0, 'warm shutdown exits 0');
    const out = w.lines.map((l) => JSON.stringify(l)).join('\n');
    t.notOk(
      out.includes(PASSWORD) || out.includes(encodeURIComponent(PASSWORD)),
      'the password appears in no log line',
    );
  });

  await t.test("the platform's split form: CELERY_BROKER_BASE_URL + USER + PASS", async (t) => {
    const w = startWorker('', ['-c', '1', '--tasks', FIXTURE_TASKS], {
      CELERY_BROKER_URL: '',
      CELERY_RESULT_BACKEND: '',
      CELERY_BROKER_BASE_URL: `${base}?${tls}`,
      CELERY_BROKER_USER: 'app',
      CELERY_BROKER_PASS: PASSWORD,
    });
    t.teardown(async () => void (await w.stop('SIGKILL')));
    await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');
    const r = await python([url, c.ca, c.clientCert, c.clientKey]);
    t.equal(r.value, 5, 'the pool built from the split form runs the task (rpc:// by default on RabbitMQ)');
    t.equal(await w.stop(), 0);
    const out = w.lines.map((l) => JSON.stringify(l)).join('\n');
    t.notOk(
      out.includes(PASSWORD) || out.includes(encodeURIComponent(PASSWORD)),
      'the password appears in no log line',
    );
  });

  await t.test('a server certificate signed by an unknown CA is refused, one line per attempt', async (t) => {
    const w = startWorker(`${url}?ssl_certfile=${c.clientCert}&ssl_keyfile=${c.clientKey}`, ['-c', '1'], {
      CELERY_RESULT_BACKEND: 'rpc://',
    });
    t.teardown(async () => void (await w.stop('SIGKILL')));
    // A child's first attempt is its boot: the supervisor's restart is the retry, and its line is the one line.
    const line = await w.waitFor(
      (l) => l.msg === 'child could not reach its backend, retrying',
      30_000,
      'a refused attempt',
    );
    t.match(String(line.code), /CERT|SIGN|VERIFY/i, `refused for its certificate: ${String(line.code)}`);
    t.match(
      String(line.reason),
      /^cannot reach the Celery broker at amqps:\/\/app:\*\*\*@localhost:\d+\/prod\?/,
      'the URL in the line is redacted',
    );
    t.type(line.retryInMs, 'number', 'and says when the next attempt is');
    t.notOk(
      w.lines.some((l) => l.msg === 'pool state changed' && l.to === 'running'),
      'no child got ready on an untrusted broker',
    );
  });

  await t.test(
    'a wrong password (ACCESS_REFUSED) stops the pool at once with exit 3, naming the masked URL',
    async (t) => {
      const wrong = `amqps://app:wrong-secret@localhost:${tlsPort}/prod?${tls}`;
      const w = startWorker(wrong, ['-c', '2'], { CELERY_RESULT_BACKEND: 'rpc://' });
      t.teardown(async () => void (await w.stop('SIGKILL')));
      const t0 = Date.now();
      const code = await new Promise<number | null>((res) => w.proc.once('exit', (c) => res(c)));
      t.equal(code, 3, `exit 3 (BOOT_FAILURE) after ${Date.now() - t0} ms`);
      const fatal = w.lines.find((l) => l.msg === 'pool giving up');
      t.match(fatal?.reason, /ACCESS_REFUSED/, 'the reason names ACCESS_REFUSED');
      t.match(fatal?.reason, /amqps:\/\/app:\*\*\*@localhost/, 'and the URL with its password masked');
      t.notOk(JSON.stringify(w.lines).includes('wrong-secret'), 'the password is never printed');
    },
  );
});
