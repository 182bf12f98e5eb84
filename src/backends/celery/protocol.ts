// Celery's wire format on kombu's Redis transport, pure: parse an envelope (protocol v1 and v2) into a
// TaskMessage or a precise rejection, and build protocol v2 envelopes exactly as Python's send_task does.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { isObj } from '../../util/json.js';

/** kombu.transport.redis: priority sub-queues are `queue`, `queue\x06\x163`, `…6`, `…9`; 0 is consumed first. */
export const PRIORITY_SEP = '\x06\x16';
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

/** A canvas signature as it travels in a message (celery.canvas.Signature as a dict). */
export interface Sig {
  task: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: Record<string, unknown>;
  subtask_type?: string | null;
  immutable?: boolean;
  chord_size?: number | null;
}

export interface TaskMessage {
  protocol: 1 | 2;
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  retries: number;
  etaMs: number | null;
  expiresMs: number | null;
  /** Celery's timelimit header, seconds: [hard (time_limit), soft (soft_time_limit)]. */
  softLimitS: number | null;
  hardLimitS: number | null;
  group: string | null;
  groupIndex: number | null;
  rootId: string | null;
  parentId: string | null;
  callbacks: Sig[] | null;
  errbacks: Sig[] | null;
  chain: Sig[] | null;
  chord: Sig | null;
  ignoreResult: boolean;
  deliveryTag: string;
  exchange: string;
  routingKey: string;
  priority: number;
  /** The decoded envelope, kept to republish (retry) or restore. */
  envelope: Envelope;
}

export interface Envelope {
  body: unknown;
  'content-encoding'?: unknown;
  'content-type'?: unknown;
  headers?: Record<string, unknown>;
  properties?: Record<string, unknown>;
}

/** Why a message cannot be run; `type` is the exception type stored as its FAILURE. */
export interface Rejection {
  ok: false;
  type: 'DecodeError' | 'ContentDisallowed' | 'InvalidTaskError' | 'MessageTooLarge';
  reason: string;
  id: string | null;
  task: string | null;
}
export type ParseResult = { ok: true; msg: TaskMessage } | Rejection;

const SUPPORTED_CONTENT_TYPES = new Set(['application/json', 'application/x-json']);

export function priorityStep(priority: number): number {
  let step = 0;
  for (const s of PRIORITY_STEPS) if (priority >= s) step = s;
  return step;
}

/** The Redis list a message of this priority lives in (kombu's _q_for_pri). */
export function queueKey(queue: string, priority = 0): string {
  const step = priorityStep(priority);
  return step === 0 ? queue : `${queue}${PRIORITY_SEP}${step}`;
}

/** Every list of these queues in BRPOP order: all queues' priority 0 first, then 3, 6, 9 (as kombu does). */
export function consumeKeys(queues: readonly string[]): string[] {
  return PRIORITY_STEPS.flatMap((p) => queues.map((q) => queueKey(q, p)));
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const sigs = (v: unknown): Sig[] | null => (Array.isArray(v) ? (v.filter(isSig) as Sig[]) : null);
function isSig(v: unknown): v is Sig {
  return isObj(v) && typeof v.task === 'string';
}

/** Celery sends ISO-8601 (tz-aware when enable_utc); a naive timestamp is taken as UTC. */
export function parseTime(v: unknown): number | null | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const hasZone = /(Z|[+-]\d\d:?\d\d)$/.test(v);
  const ms = Date.parse(hasZone ? v : `${v}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

function reject(
  type: Rejection['type'],
  reason: string,
  id: string | null = null,
  task: string | null = null,
): Rejection {
  return { ok: false, type, reason, id, task };
}

function decodeBody(env: Envelope, props: Record<string, unknown>): unknown {
  const body = env.body;
  let text: string;
  if (props.body_encoding === 'base64') {
    if (typeof body !== 'string' || !/^[A-Za-z0-9+/\s]*=*\s*$/.test(body)) throw new Error('body is not valid base64');
    text = Buffer.from(body, 'base64').toString('utf8');
  } else if (typeof body === 'string') {
    text = body;
  } else {
    return body; // already structured (some clients embed JSON directly)
  }
  return JSON.parse(text);
}

/** Parse one raw queue entry. `maxBytes` bounds the raw size (oversized → rejection, never parsed). */
export function parseMessage(raw: string, maxBytes = Infinity): ParseResult {
  let env: unknown;
  try {
    env = JSON.parse(raw);
  } catch (e) {
    return reject('DecodeError', `envelope is not JSON: ${(e as Error).message}`);
  }
  if (!isObj(env)) return reject('DecodeError', 'envelope is not a JSON object');
  const headers = isObj(env.headers) ? env.headers : {};
  const props = isObj(env.properties) ? env.properties : {};
  const hid = str(headers.id) ?? str(props.correlation_id);
  const htask = str(headers.task);
  if (Buffer.byteLength(raw) > maxBytes) {
    return reject(
      'MessageTooLarge',
      `message of ${Buffer.byteLength(raw)} bytes exceeds the limit of ${maxBytes}`,
      hid,
      htask,
    );
  }
  const ctype = str(env['content-type']);
  if (ctype === null || !SUPPORTED_CONTENT_TYPES.has(ctype)) {
    return reject(
      'ContentDisallowed',
      `unsupported content type ${JSON.stringify(ctype)} (only application/json)`,
      hid,
      htask,
    );
  }
  let body: unknown;
  try {
    body = decodeBody(env as unknown as Envelope, props);
  } catch (e) {
    return reject('DecodeError', `cannot decode body: ${(e as Error).message}`, hid, htask);
  }
  const di = isObj(props.delivery_info) ? props.delivery_info : {};
  const common = {
    deliveryTag: str(props.delivery_tag) ?? '',
    exchange: str(di.exchange) ?? '',
    routingKey: str(di.routing_key) ?? '',
    priority: num(props.priority) ?? 0,
    envelope: env as unknown as Envelope,
  };
  return htask !== null ? parseV2(headers, body, common) : parseV1(body, common);
}

type Common = Pick<TaskMessage, 'deliveryTag' | 'exchange' | 'routingKey' | 'priority' | 'envelope'>;

function times(
  id: string,
  task: string,
  etaRaw: unknown,
  expRaw: unknown,
): Rejection | { eta: number | null; exp: number | null } {
  const eta = parseTime(etaRaw);
  const exp = parseTime(expRaw);
  if (eta === undefined) return reject('InvalidTaskError', `bad eta ${JSON.stringify(etaRaw)}`, id, task);
  if (exp === undefined) return reject('InvalidTaskError', `bad expires ${JSON.stringify(expRaw)}`, id, task);
  return { eta, exp };
}

function limits(v: unknown): [number | null, number | null] {
  if (!Array.isArray(v)) return [null, null];
  return [num(v[0]), num(v[1])];
}

function parseV2(h: Record<string, unknown>, body: unknown, c: Common): ParseResult {
  const task = h.task as string;
  const id = str(h.id);
  if (id === null) return reject('InvalidTaskError', 'protocol 2 message without an id header', null, task);
  if (!Array.isArray(body) || body.length < 2)
    return reject('InvalidTaskError', 'protocol 2 body must be [args, kwargs, embed]', id, task);
  const [args, kwargs, embedRaw] = body as [unknown, unknown, unknown];
  if (!Array.isArray(args)) return reject('InvalidTaskError', 'args must be a list', id, task);
  if (!isObj(kwargs)) return reject('InvalidTaskError', 'kwargs must be a dict', id, task);
  const embed = isObj(embedRaw) ? embedRaw : {};
  const t = times(id, task, h.eta, h.expires);
  if ('ok' in t) return t;
  const [hard, soft] = limits(h.timelimit);
  return {
    ok: true,
    msg: {
      protocol: 2,
      id,
      task,
      args,
      kwargs,
      retries: num(h.retries) ?? 0,
      etaMs: t.eta,
      expiresMs: t.exp,
      softLimitS: soft,
      hardLimitS: hard,
      group: str(h.group),
      groupIndex: num(h.group_index),
      rootId: str(h.root_id),
      parentId: str(h.parent_id),
      callbacks: sigs(embed.callbacks),
      errbacks: sigs(embed.errbacks),
      chain: sigs(embed.chain),
      chord: isSig(embed.chord) ? embed.chord : null,
      ignoreResult: h.ignore_result === true,
      ...c,
    },
  };
}

function parseV1(body: unknown, c: Common): ParseResult {
  if (!isObj(body))
    return reject('InvalidTaskError', 'message has no task header and its body is not a protocol 1 dict');
  const task = str(body.task);
  const id = str(body.id);
  if (task === null || id === null) return reject('InvalidTaskError', 'protocol 1 body needs task and id', id, task);
  const args = body.args ?? [];
  const kwargs = body.kwargs ?? {};
  if (!Array.isArray(args)) return reject('InvalidTaskError', 'args must be a list', id, task);
  if (!isObj(kwargs)) return reject('InvalidTaskError', 'kwargs must be a dict', id, task);
  const t = times(id, task, body.eta, body.expires);
  if ('ok' in t) return t;
  const [hard, soft] = limits(body.timelimit);
  return {
    ok: true,
    msg: {
      protocol: 1,
      id,
      task,
      args,
      kwargs,
      retries: num(body.retries) ?? 0,
      etaMs: t.eta,
      expiresMs: t.exp,
      softLimitS: soft,
      hardLimitS: hard,
      group: str(body.taskset) ?? str(body.group),
      groupIndex: null,
      rootId: str(body.root_id),
      parentId: str(body.parent_id),
      callbacks: sigs(body.callbacks),
      errbacks: sigs(body.errbacks),
      chain: sigs(body.chain),
      chord: isSig(body.chord) ? body.chord : null,
      ignoreResult: false,
      ...c,
    },
  };
}

export interface OutgoingTask {
  task: string;
  id?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  queue?: string;
  priority?: number;
  etaMs?: number | null;
  expiresMs?: number | null;
  retries?: number;
  group?: string | null;
  groupIndex?: number | null;
  rootId?: string | null;
  parentId?: string | null;
  callbacks?: Sig[] | null;
  errbacks?: Sig[] | null;
  chain?: Sig[] | null;
  chord?: Sig | null;
  timeLimit?: [number | null, number | null];
  ignoreResult?: boolean;
  replyTo?: string;
}

const pyRepr = (v: unknown): string => JSON.stringify(v) ?? 'None';
const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString().replace('Z', '+00:00');

/** A protocol v2 envelope as Python's send_task builds it (anonymous exchange, routing key = queue). */
export function buildMessage(t: OutgoingTask): { id: string; key: string; raw: string } {
  const id = t.id ?? randomUUID();
  const queue = t.queue ?? 'celery';
  const priority = t.priority ?? 0;
  const args = t.args ?? [];
  const kwargs = t.kwargs ?? {};
  const embed = {
    callbacks: t.callbacks ?? null,
    errbacks: t.errbacks ?? null,
    chain: t.chain ?? null,
    chord: t.chord ?? null,
  };
  const env = {
    body: Buffer.from(JSON.stringify([args, kwargs, embed])).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {
      lang: 'py',
      task: t.task,
      id,
      shadow: null,
      eta: iso(t.etaMs),
      expires: iso(t.expiresMs),
      group: t.group ?? null,
      group_index: t.groupIndex ?? null,
      retries: t.retries ?? 0,
      timelimit: t.timeLimit ?? [null, null],
      root_id: t.rootId ?? id,
      parent_id: t.parentId ?? null,
      argsrepr: pyRepr(args),
      kwargsrepr: pyRepr(kwargs),
      origin: `${process.pid}@${hostname()}`,
      ignore_result: t.ignoreResult ?? false,
      replaced_task_nesting: 0,
      stamped_headers: null,
      stamps: {},
    },
    properties: {
      correlation_id: id,
      reply_to: t.replyTo ?? randomUUID(),
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: queue },
      priority,
      body_encoding: 'base64',
      delivery_tag: randomUUID(),
    },
  };
  return { id, key: queueKey(queue, priority), raw: JSON.stringify(env) };
}

/** The same message again for a retry: retries+1, new eta, new delivery tag (Celery's Task.retry re-sends it). */
export function retryMessage(msg: TaskMessage, etaMs: number, queue: string): { key: string; raw: string } {
  const env = structuredClone(msg.envelope) as Envelope & {
    headers: Record<string, unknown>;
    properties: Record<string, unknown>;
  };
  if (msg.protocol === 2) {
    env.headers = { ...env.headers, retries: msg.retries + 1, eta: iso(etaMs) };
  } else {
    const body = {
      ...(decodeBody(env, env.properties ?? {}) as Record<string, unknown>),
      retries: msg.retries + 1,
      eta: iso(etaMs),
    };
    env.body = Buffer.from(JSON.stringify(body)).toString('base64');
    env.properties = { ...env.properties, body_encoding: 'base64' };
  }
  env.properties = { ...env.properties, delivery_tag: randomUUID() };
  return { key: queueKey(queue, msg.priority), raw: JSON.stringify(env) };
}
