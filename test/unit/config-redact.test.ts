// Secrets never leave the process: redact()/redactUrl() for printed config, pino redaction for logs, and the
// child-line tagging the supervisor uses to relay child logs.
import { Writable } from 'node:stream';
import t from 'tap';
import { compileConfig } from '../../src/config/compile.js';
import { redact, redactUrl, REDACTED, secretsOf } from '../../src/config/redact.js';
import type { HostInfo } from '../../src/config/table-types.js';
import { createChildLogger, createLogger, tagChildLine } from '../../src/log/logger.js';

const host: HostInfo = {
  hostname: 'h',
  cpuCount: 2,
  stdoutIsTTY: false,
  cwd: '/',
  tmpdir: '/tmp',
  runtimeDir: null,
  uid: 0,
};

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

void t.test('redactUrl', async (t) => {
  t.equal(redactUrl('redis://:s3cret@redis:6379/0'), 'redis://:***@redis:6379/0');
  t.equal(redactUrl('rediss://default:s3cret@redis:6380/1'), 'rediss://default:***@redis:6380/1');
  t.equal(redactUrl('redis://s3cret@redis'), 'redis://***@redis', 'a lone userinfo is a Redis password');
  t.equal(redactUrl('redis://redis:6379/0'), 'redis://redis:6379/0', 'nothing to hide');
  t.equal(redactUrl('https://api/x?token=abc&x=1'), 'https://api/x?token=***&x=1');
  t.equal(redactUrl('redis://u:p@ss@h'), 'redis://u:***@h', 'an @ inside the password');
});

const secretConfig = () =>
  compileConfig({
    host,
    env: {
      CELERY_BROKER_URL: 'redis://:brokerpw@r:6379/0',
      CELERY_RESULT_BACKEND: 'redis://u:resultpw@r:6379/1',
      HATCHET_CLIENT_TOKEN: 'hatchet-token-value',
      TEMPORAL_API_KEY: 'temporal-key-value',
      HATCHET_CLIENT_API_URL: 'https://admin:apipw@hatchet:8080',
    },
  });

void t.test('redact(config) and secretsOf(config)', async (t) => {
  const c = secretConfig();
  const r = redact(c);
  t.equal(r.hatchet.token, REDACTED);
  t.equal(r.temporal.apiKey, REDACTED);
  t.equal(r.celery.brokerUrl, 'redis://:***@r:6379/0');
  t.equal(r.celery.resultBackend, 'redis://u:***@r:6379/1');
  t.equal(r.hatchet.apiUrl, 'https://admin:***@hatchet:8080');
  t.equal(c.hatchet.token, 'hatchet-token-value', 'the original is untouched');
  t.equal(r.concurrency, c.concurrency);
  const secrets = secretsOf(c);
  t.same([...secrets].sort(), ['apipw', 'brokerpw', 'hatchet-token-value', 'resultpw', 'temporal-key-value']);
  const text = JSON.stringify(r);
  for (const s of secrets) t.notOk(text.includes(s), `${s} not in redacted config`);
  t.same(redact(compileConfig({ host })).hatchet.token, null, 'unset secrets stay null');
});

void t.test('loggers redact secret fields, also inside a logged config', async (t) => {
  const c = secretConfig();
  const json = sink();
  const log = createLogger({ level: 'info', format: 'json', destination: json.stream, base: {} });
  log.info({ config: c }, 'config');
  log.info(
    { token: 'tok-1', nested: { apiKey: 'key-1', brokerUrl: 'redis://:pw-1@h' }, url: 'http://u:pw-2@h/x' },
    'conn',
  );
  const child = sink();
  const clog = createChildLogger({ level: 'info', destination: child.stream });
  clog.info({ password: 'pw-3', options: { headers: { authorization: 'Bearer pw-4' } } }, 'x');
  const out = json.text() + child.text();
  for (const s of [...secretsOf(c), 'tok-1', 'key-1', 'pw-1', 'pw-2', 'pw-3'])
    t.notOk(out.includes(s), `${s} redacted`);
  const lines = json
    .text()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.length, 2);
  t.match(lines[1], {
    msg: 'conn',
    token: REDACTED,
    nested: { apiKey: REDACTED, brokerUrl: 'redis://:***@h' },
    url: 'http://u:***@h/x',
  });
  t.match(
    (lines[0]?.config as { celery: unknown }).celery,
    { brokerUrl: 'redis://:***@r:6379/0' },
    'URLs keep host, lose password',
  );
  const childLine = JSON.parse(child.text().trim()) as Record<string, unknown>;
  t.equal(childLine.level, 30, 'numeric pino level');
  t.equal(childLine.pid, undefined, 'children leave pid to the supervisor');
  t.equal(childLine.msg, 'x');
});

void t.test('pretty format writes human-readable lines, one per record', async (t) => {
  const out = sink();
  const log = createLogger({ level: 'debug', format: 'pretty', destination: out.stream, colorize: false });
  log.debug({ child: 1 }, 'child ready');
  await new Promise((r) => setImmediate(r));
  t.match(out.text(), /^\[[\d:.]+\] DEBUG \(\d+\): child ready \{"child":1\}\n$/);
});

void t.test('tagChildLine: tags JSON lines, wraps anything else, never drops', async (t) => {
  const tag = { child: 2, pid: 4242, backend: 'celery' };
  const now = () => 1700000000000;
  const a = JSON.parse(tagChildLine('{"level":30,"time":1,"msg":"hi","pid":1}', tag, 'stdout', now)) as Record<
    string,
    unknown
  >;
  t.match(a, { level: 30, time: 1, msg: 'hi', child: 2, pid: 4242, backend: 'celery' }, 'the supervisor tag wins');
  t.same(JSON.parse(tagChildLine('{}', tag, 'stdout', now)), { child: 2, pid: 4242, backend: 'celery' });
  t.same(JSON.parse(tagChildLine('plain "text" {', tag, 'stdout', now)), {
    level: 30,
    time: 1700000000000,
    child: 2,
    pid: 4242,
    backend: 'celery',
    stream: 'stdout',
    msg: 'plain "text" {',
  });
  t.match(JSON.parse(tagChildLine('{not json}', tag, 'stderr', now)), {
    level: 40,
    stream: 'stderr',
    msg: '{not json}',
  });
  t.match(JSON.parse(tagChildLine('', tag, 'stdout', now)), { msg: '' }, 'empty lines too');
  const huge = 'x'.repeat(1_000_000);
  t.equal((JSON.parse(tagChildLine(huge, tag, 'stdout', now)) as { msg: string }).msg.length, 1_000_000);
});

void t.test("a child's error that crossed IPC keeps its class name in the supervisor's log", async (t) => {
  const out = sink();
  const log = createLogger({ level: 'info', format: 'json', destination: out.stream, base: {} });
  log.error(
    { err: { name: 'BootError', message: 'no such queue', stack: 'BootError: no such queue\n    at x' } },
    'child boot failed',
  );
  log.error({ err: new TypeError('bad') }, 'local');
  const [ipc, local] = out
    .text()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { err: Record<string, unknown> });
  t.match(ipc?.err, { type: 'BootError', message: 'no such queue', stack: /^BootError/ });
  t.match(local?.err, { type: 'TypeError', message: 'bad' });
  const child = sink();
  createChildLogger({ level: 'info', destination: child.stream }).error(
    { err: { name: 'ConnectionError', message: 'refused' } },
    'x',
  );
  t.match(
    (JSON.parse(child.text().trim()) as { err: unknown }).err,
    { type: 'ConnectionError', message: 'refused' },
    'children too',
  );
});

void t.test('a URL password given as a flag is masked in the process title and named in a warning', async (t) => {
  const { redactArgv, secretFlagWarning, hideSecretArgs } = await import('../../src/cli/secret-args.js');
  const r = redactArgv(['-c', '2', '-b', 'redis://:pw@h/0', '--result-backend=redis://u:pw2@h/1', '-Q', 'q']);
  t.same(r.argv, ['-c', '2', '-b', 'redis://:***@h/0', '--result-backend=redis://u:***@h/1', '-Q', 'q']);
  t.same(r.flags, ['-b', '--result-backend']);
  t.match(
    secretFlagWarning('tbw', r.flags),
    /^tbw: warning: -b, --result-backend carries a password.*CELERY_BROKER_URL/,
  );
  t.equal(secretFlagWarning('tbw', redactArgv(['-b', 'redis://h/0']).flags), null, 'no password, no warning');
  const proc = { argv: ['/usr/bin/node', '/x/main.js'], execArgv: ['--no-opt'], title: '' };
  hideSecretArgs(proc, r.argv);
  t.notMatch(proc.title, /pw/);
  t.match(proc.title, /^node --no-opt \/x\/main\.js -c 2 -b redis:\/\/:\*\*\*@h\/0/);
});
