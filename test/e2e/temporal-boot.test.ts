// Boot outcomes of a real Temporal child (dist/workers/temporal.js forked with IPC, as the supervisor does):
// ready on a live server; unreachable server → retryable exit; bad TLS files or an unknown namespace → BootError
// exit that stops the restart loop. No case may leave a hung process. A server lost while a pool runs: one line per
// check of it (Core's own per-poller retry warnings at debug), "restored" once when it is back.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import type { WorkerConfig } from '../../src/config/types.js';
import { CHILD_EXIT } from '../../src/exit-codes.js';
import type { ChildMessage } from '../../src/ipc/messages.js';
import {
  REPO_ROOT,
  freePort,
  startPool,
  startTemporalDevServer,
  temporalTestConfig,
  waitFor,
} from '../helpers/temporal.js';

const ENTRY = join(REPO_ROOT, 'dist', 'workers', 'temporal.js');

interface Outcome {
  messages: ChildMessage[];
  code: number | null;
  ms: number;
}

/** Forks a child, sends init, and (after `ready`, if any) a warm shutdown; resolves when it exits. */
function runChild(config: WorkerConfig, timeoutMs = 30_000): Promise<Outcome> {
  const started = Date.now();
  const child = fork(ENTRY, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  const messages: ChildMessage[] = [];
  const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.on('message', (m: ChildMessage) => {
    messages.push(m);
    if (m.type === 'ready') child.send({ type: 'shutdown', mode: 'warm', deadlineMs: Date.now() + 5000 });
  });
  child.send({ type: 'init', index: 0, config });
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(guard);
      resolve({ messages, code, ms: Date.now() - started });
    }),
  );
}

void t.test('temporal child boot outcomes', async (t) => {
  const server = await startTemporalDevServer();
  t.teardown(() => server.stop());

  await t.test('live server: ready, then a warm shutdown exits 0', async (t) => {
    const out = await runChild(temporalTestConfig(server.address, { childConcurrency: 3, queues: ['a', 'b'] }));
    t.match(out.messages[0], { type: 'ready', backend: 'temporal', concurrency: 6 });
    t.ok(out.messages.some((m) => m.type === 'drained'));
    t.equal(out.code, CHILD_EXIT.OK);
  });

  await t.test('unreachable server: fatal retryable, exit RETRYABLE_BOOT, quickly', async (t) => {
    const address = `127.0.0.1:${await freePort()}`;
    const out = await runChild(temporalTestConfig(address));
    t.match(out.messages, [{ type: 'fatal', retryable: true }]);
    t.match(
      out.messages[0],
      {
        error: {
          name: 'BackendUnavailableError',
          message: `cannot reach the Temporal server at ${address} (ECONNREFUSED)`,
          code: 'ECONNREFUSED',
        },
      },
      "the supervisor's one line: what, where, why",
    );
    t.equal(out.code, CHILD_EXIT.RETRYABLE_BOOT);
    t.ok(out.ms < 15_000, `exited in ${out.ms} ms`);
  });

  await t.test('missing TLS key file: BootError, exit BOOT_ERROR', async (t) => {
    const cfg = temporalTestConfig(server.address);
    cfg.temporal.tls = {
      ...cfg.temporal.tls,
      enabled: true,
      clientCertPath: '/nonexistent.crt',
      clientKeyPath: '/nonexistent.key',
    };
    const out = await runChild(cfg);
    t.match(out.messages, [
      { type: 'fatal', retryable: false, error: { name: 'BootError', message: /client certificate/ } },
    ]);
    t.equal(out.code, CHILD_EXIT.BOOT_ERROR);
  });

  await t.test('unknown namespace: Worker.create fails, BootError, no hang', async (t) => {
    const cfg = temporalTestConfig(server.address);
    cfg.temporal.namespace = 'no-such-namespace';
    const out = await runChild(cfg);
    t.match(out.messages, [{ type: 'fatal', retryable: false, error: { name: 'BootError', message: /namespace/i } }]);
    t.equal(out.code, CHILD_EXIT.BOOT_ERROR);
  });
});

void t.test('server lost while running: one line per check, "restored" once, Core quiet', async (t) => {
  const server = await startTemporalDevServer();
  t.teardown(() => server.stop());
  const pool = await startPool(server.address, { concurrency: 1, taskQueue: 'tbw-lost' });
  t.teardown(() => pool.kill());
  const from = pool.lines.length;
  await server.stop();
  const conn = (): Record<string, unknown>[] =>
    pool.lines.slice(from).filter((l) => String(l.msg).startsWith('connection ') && l.role === 'temporal');
  await waitFor('four checks of the server', () => conn().filter((l) => l.level === 40).length >= 4, 60_000);
  await server.start();
  await waitFor('restored', () => conn().some((l) => l.msg === 'connection restored'), 60_000);
  const attempts = conn().filter((l) => l.level === 40);
  t.same(
    attempts.map((l) => l.attempt),
    attempts.map((_, i) => i + 1),
    `one line per check (${attempts.length})`,
  );
  t.ok(
    attempts.every((l) => l.url === server.address && l.code === 'ECONNREFUSED'),
    'naming the server and the code',
  );
  t.match(attempts[0], { msg: 'connection lost, reconnecting' });
  t.equal(conn().filter((l) => l.msg === 'connection restored').length, 1, '"restored" once');
  const noisy = pool.lines.slice(from).filter((l) => Number(l.level) >= 40 && !String(l.msg).startsWith('connection '));
  t.same(noisy, [], "nothing else at WARN or above (Core's retries are at debug)");
  t.notOk(
    pool.lines.some((l) => l.msg === 'child exited unexpectedly'),
    'the child rode it out',
  );
});
