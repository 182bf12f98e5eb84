// The pure Hatchet mapping: token checks, task options, queue labels, workflow → DAG plans, failure wire format.
import t from 'tap';
import { clientSettings, normalizeNamespace, parseToken } from '../../src/backends/hatchet/connection.js';
import { pythonFailureText } from '../../src/backends/hatchet/failures.js';
import { workerName } from '../../src/backends/hatchet/index.js';
import { runFailure, runResult } from '../../src/backends/hatchet/client.js';
import {
  DEFAULT_QUEUE,
  ENGINE_TIMEOUT_GRACE_S,
  NO_LIMIT_TIMEOUT,
  RESULT_NODE,
  decodeInput,
  encodeOutput,
  gatherInput,
  parseFailure,
  planWorkflow,
  registryQueues,
  retryExtension,
  taskOptions,
  workerLabels,
} from '../../src/backends/hatchet/plan.js';
import { defineTask, defineWorkflow } from '../../src/tasks/define.js';

function jwt(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'ES256' }): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc(header)}.${enc(claims)}.c2ln`;
}
const NOW = Date.UTC(2026, 0, 1);
const GOOD = jwt({
  sub: 'tenant-1',
  exp: NOW / 1000 + 3600,
  server_url: 'http://127.0.0.1:8080',
  grpc_broadcast_address: '127.0.0.1:7077',
});
const cfg = { token: GOOD, hostPort: null, apiUrl: null, tlsStrategy: null, namespace: null } as const;

void t.test('token checks name the problem and never echo the token', async (t) => {
  const cases: [string | null, RegExp][] = [
    [null, /not set/],
    ['   ', /not set/],
    ['abc', /three base64url parts/],
    ['a.b', /three base64url parts/],
    ['a!.b.c', /three base64url parts/],
    ['aaaa.bbbb.cccc', /header is not base64url JSON/],
    [jwt({ sub: 'x' }, { typ: 'JWT' }), /no "alg"/],
    [jwt({ exp: NOW / 1000 + 10 }), /no tenant id/],
    [jwt({ sub: 'x', exp: NOW / 1000 - 10 }), /expired at 2025-12-31T23:59:50/],
  ];
  for (const [token, re] of cases) {
    t.throws(() => parseToken(token, NOW), { name: 'HatchetConfigError', message: re }, String(token));
    try {
      parseToken(token, NOW);
    } catch (e) {
      if (token && token.trim()) t.notOk((e as Error).message.includes(token), 'message does not contain the token');
    }
  }
  t.match(parseToken(GOOD, NOW), { sub: 'tenant-1', grpcBroadcastAddress: '127.0.0.1:7077' });
});

void t.test('client settings: explicit beats the token; addresses validated', async (t) => {
  t.match(clientSettings(cfg, NOW), {
    host_port: '127.0.0.1:7077',
    api_url: 'http://127.0.0.1:8080',
    tls_config: { tls_strategy: 'tls' },
    namespace: '',
    tenant_id: 'tenant-1',
  });
  t.match(
    clientSettings({ ...cfg, hostPort: 'h:1', apiUrl: 'https://x/', tlsStrategy: 'none', namespace: 'Ab' }, NOW),
    { host_port: 'h:1', api_url: 'https://x', tls_config: { tls_strategy: 'none' }, namespace: 'ab_' },
  );
  t.throws(() => clientSettings({ ...cfg, hostPort: 'nohost' }, NOW), /host:port/);
  t.throws(() => clientSettings({ ...cfg, apiUrl: 'ftp://x' }, NOW), /http\(s\) URL/);
  t.throws(() => clientSettings({ ...cfg, token: jwt({ sub: 's' }) }, NOW), /names no grpc_broadcast_address/);
  t.equal(normalizeNamespace('x_'), 'x_');
});

void t.test('task options: no Hatchet retries, an engine timeout well past the task limit, queue labels', async (t) => {
  const noop = () => null;
  const plain = defineTask({ name: 'a', run: noop });
  t.same(taskOptions(plain), {
    retries: 0,
    executionTimeout: NO_LIMIT_TIMEOUT,
    scheduleTimeout: '86400s',
    desiredWorkerLabels: { [`queue:${DEFAULT_QUEUE}`]: { value: 1, required: true } },
  });
  t.equal(retryExtension(plain, 5000), null, 'no limit, nothing to move');
  const rich = defineTask({
    name: 'b',
    run: noop,
    retries: 3,
    timeout: 1500,
    queue: 'files',
    retryBackoff: { initialMs: 500, factor: 3, maxMs: 30_500 },
  });
  t.same(taskOptions(rich), {
    retries: 0,
    executionTimeout: `${2 + ENGINE_TIMEOUT_GRACE_S}s`,
    scheduleTimeout: '86400s',
    desiredWorkerLabels: { 'queue:files': { value: 1, required: true } },
  });
  t.ok(ENGINE_TIMEOUT_GRACE_S > 30, "past the engine's 30 s lost-worker detection");
  t.equal(retryExtension(rich, 600), '3s', 'a retry moves the engine timeout by its wait plus one attempt');
  t.same(taskOptions(rich, 'wfq').desiredWorkerLabels, { 'queue:wfq': { value: 1, required: true } });
});

void t.test('worker labels: -Q queues, or everything the registry names', async (t) => {
  t.same(workerLabels(['a', 'b']), { 'queue:a': 1, 'queue:b': 1 });
  t.same(workerLabels(null, ['files']), { 'queue:default': 1, 'queue:files': 1 });
  t.same(registryQueues([{ queue: 'x' }, { queue: undefined }, { queue: 'x' }]), ['x']);
  t.equal(workerName('hatchet@host.example', 3), 'hatchet_host.example-3');
});

void t.test('sequential and parallel steps become a DAG with list/one inputs', async (t) => {
  const wf = defineWorkflow({
    name: 'w',
    steps: [{ task: 'add_numbers', args: [1] }, { parallel: [{ task: 'echo' }, { task: 'echo' }] }, { task: 'f' }],
  });
  const plan = planWorkflow(wf);
  t.same(
    plan.nodes.map((n) => [n.name, n.parents, n.input]),
    [
      ['step0_add_numbers', [], { kind: 'root' }],
      ['step1_0_echo', ['step0_add_numbers'], { kind: 'one', parent: 'step0_add_numbers' }],
      ['step1_1_echo', ['step0_add_numbers'], { kind: 'one', parent: 'step0_add_numbers' }],
      ['step2_f', ['step1_0_echo', 'step1_1_echo'], { kind: 'list', parents: ['step1_0_echo', 'step1_1_echo'] }],
    ],
  );
  t.same(plan.result, { kind: 'one', parent: 'step2_f' });
  const outputs = new Map<string, unknown>([
    ['a', 1],
    ['b', 2],
  ]);
  t.same(gatherInput({ kind: 'list', parents: ['b', 'a'] }, outputs), [2, 1]);
  t.same(gatherInput({ kind: 'map', parents: ['a', 'b'] }, outputs), { a: 1, b: 2 });
});

void t.test('a DAG keeps its node names; several sinks give a map result', async (t) => {
  const wf = defineWorkflow({
    name: 'd',
    steps: {
      dag: {
        x: { task: 't' },
        y: { task: 't', parents: ['x'] },
        z: { task: 't', parents: ['x', 'y'] },
        s: { task: 't', parents: ['x'] },
      },
    },
  });
  const plan = planWorkflow(wf);
  t.same(plan.nodes[0]?.name, 'x');
  t.same(plan.nodes.find((n) => n.name === 'z')?.input, { kind: 'map', parents: ['x', 'y'] });
  t.same(plan.result, { kind: 'map', parents: ['z', 's'] });
});

void t.test('wire format: inputs, outputs, failures', async (t) => {
  t.same(decodeInput({ args: [1], kwargs: { a: 2 } }), { args: [1], kwargs: { a: 2 } });
  t.same(decodeInput(null), { args: [], kwargs: {} });
  t.same(decodeInput({ args: 'x', kwargs: [1] }), { args: [], kwargs: {} });
  t.same(encodeOutput(undefined), { result: null });
  t.same(runResult({ add: { result: 5 } }), 5);
  t.same(runResult({ [RESULT_NODE]: { result: [1] }, step0_x: { result: 0 } }), [1]);
  t.same(runResult({ result: 'direct' }), 'direct');
  const text = pythonFailureText('ValueError: bad\nline', 'ValueError: bad\n    at f (x.js:1:1)');
  t.equal(text, 'ValueError: bad\\\nline\n    at f (x.js:1:1)');
  t.equal(pythonFailureText('E: m', undefined), 'E: m\n    (no trace)', 'python needs a second line');
  t.same(parseFailure(text), { type: 'ValueError', message: 'bad\\' });
  t.same(parseFailure('{"message":"TypeError: x","stack":"..."}'), { type: 'TypeError', message: 'x' });
  t.same(parseFailure('something odd'), { type: 'Exception', message: 'something odd' });
  const err = runFailure(['RuntimeError: always fails (attempt 2)\n    at x']);
  t.equal(err.name, 'RuntimeError');
  t.equal(err.message, 'always fails (attempt 2)');
});
