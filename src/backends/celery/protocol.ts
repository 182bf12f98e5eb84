// Celery's message protocol, pure and transport-neutral: parse a received message (protocol v1 and v2) into a
// TaskMessage or a precise rejection, and build protocol v2 messages exactly as Python's send_task does. How a
// message travels (kombu's Redis envelope, AMQP properties) is the transport's business (transports/).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { pyRepr } from '../../tasks/pyfmt.js';
import { isObj } from '../../util/json.js';
import type { InboundMessage, OutboundMessage } from './transport.js';

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
  /** The task id; made up here when the message carried none (`anonymous`). */
  id: string;
  /**
   * The message had no task id (Celery's hybrid body {args, kwargs, ...} under a task header, or a protocol 1 body
   * without id): it runs, but no result is stored, since nobody can ask for it.
   */
  anonymous: boolean;
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
  redelivered: boolean;
  /** The message as received, kept to republish it (retry). */
  inbound: InboundMessage;
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

function decodeBody(m: InboundMessage): unknown {
  const text = typeof m.body === 'string' ? m.body : m.body.toString('utf8');
  return JSON.parse(text);
}

/** Parse one received message. `maxBytes` bounds its size (oversized → rejection, never parsed). */
export function parseMessage(m: InboundMessage, maxBytes = Infinity): ParseResult {
  const headers = m.headers;
  const props = m.properties;
  const hid = str(headers.id) ?? str(props.correlation_id);
  const htask = str(headers.task);
  if (m.size > maxBytes) {
    return reject('MessageTooLarge', `message of ${m.size} bytes exceeds the limit of ${maxBytes}`, hid, htask);
  }
  if (m.contentType === null || !SUPPORTED_CONTENT_TYPES.has(m.contentType)) {
    return reject(
      'ContentDisallowed',
      `unsupported content type ${JSON.stringify(m.contentType)} (only application/json)`,
      hid,
      htask,
    );
  }
  let body: unknown;
  try {
    body = decodeBody(m);
  } catch (e) {
    return reject('DecodeError', `cannot decode body: ${(e as Error).message}`, hid, htask);
  }
  const common = {
    deliveryTag: m.deliveryInfo.deliveryTag,
    exchange: m.deliveryInfo.exchange,
    routingKey: m.deliveryInfo.routingKey,
    priority: num(props.priority) ?? 0,
    redelivered: m.redelivered,
    inbound: m,
  };
  // Celery's strategy: a task header with a dict body holding `args` is a "hybrid" message (hybrid_to_proto2: the
  // body's fields, overridden by the headers); no task header means protocol 1.
  const parsed =
    htask !== null && isObj(body) && 'args' in body
      ? parseV1({ ...body, ...headers }, common, 2)
      : htask !== null
        ? parseV2(headers, body, common)
        : parseV1(body, common, 1);
  // A rejection still names the task by the correlation id when the id itself is unusable (e.g. a number), so the
  // client waiting on that id gets its FAILURE.
  if (!parsed.ok && parsed.id === null && hid !== null) return { ...parsed, id: hid };
  return parsed;
}

type Common = Pick<TaskMessage, 'deliveryTag' | 'exchange' | 'routingKey' | 'priority' | 'redelivered' | 'inbound'>;

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

/** Celery's timelimit header [hard, soft], seconds; 0 or less means none (as 0/None does in Celery). */
function limits(v: unknown): [number | null, number | null] {
  if (!Array.isArray(v)) return [null, null];
  const positive = (x: unknown): number | null => {
    const n = num(x);
    return n !== null && n > 0 ? n : null;
  };
  return [positive(v[0]), positive(v[1])];
}

/** The retries header: how many times the task was retried so far, an integer >= 0 (anything else counts as 0). */
function retriesOf(v: unknown): number {
  const n = num(v);
  return n !== null && n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0;
}

function parseV2(h: Record<string, unknown>, body: unknown, c: Common): ParseResult {
  const task = h.task as string;
  const id = str(h.id);
  if (id === null) {
    const why =
      h.id === undefined || h.id === null
        ? 'without an id header'
        : `whose id header is not a string: ${JSON.stringify(h.id)}`;
    return reject('InvalidTaskError', `protocol 2 message ${why}`, null, task);
  }
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
      anonymous: false,
      task,
      args,
      kwargs,
      retries: retriesOf(h.retries),
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

/**
 * A protocol 1 body, or a hybrid message already merged into one dict (`protocol` 2: a retry re-sends it with new
 * headers). A missing id is allowed (Celery runs such messages and stores nothing): one is made up for bookkeeping.
 */
function parseV1(body: unknown, c: Common, protocol: 1 | 2): ParseResult {
  if (!isObj(body))
    return reject('InvalidTaskError', 'message has no task header and its body is not a protocol 1 dict');
  const task = str(body.task);
  const given = str(body.id);
  if (task === null) return reject('InvalidTaskError', 'protocol 1 body needs a task name', given, task);
  const id = given ?? randomUUID();
  const args = body.args ?? [];
  const kwargs = body.kwargs ?? {};
  if (!Array.isArray(args)) return reject('InvalidTaskError', 'args must be a list', given, task);
  if (!isObj(kwargs)) return reject('InvalidTaskError', 'Task keyword arguments must be a mapping', given, task);
  const t = times(id, task, body.eta, body.expires);
  if ('ok' in t) return t;
  const [hard, soft] = limits(body.timelimit);
  return {
    ok: true,
    msg: {
      protocol,
      id,
      anonymous: given === null,
      task,
      args,
      kwargs,
      retries: retriesOf(body.retries),
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
      ignoreResult: body.ignore_result === true,
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

const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString().replace('Z', '+00:00');

/** A protocol v2 message as Python's send_task builds it (default exchange, routing key = queue). */
export function buildTask(t: OutgoingTask): { id: string; message: OutboundMessage } {
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
  const message: OutboundMessage = {
    body: Buffer.from(JSON.stringify([args, kwargs, embed])),
    contentEncoding: 'utf-8',
    contentType: 'application/json',
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
      priority,
    },
    exchange: '',
    routingKey: queue,
    priority,
  };
  return { id, message };
}

/** The same message again for a retry: retries+1, new eta (Celery's Task.retry re-sends it to `queue`). */
export function retryMessage(msg: TaskMessage, etaMs: number, queue: string): OutboundMessage {
  const m = msg.inbound;
  let headers = m.headers;
  let body = typeof m.body === 'string' ? Buffer.from(m.body) : m.body;
  if (msg.protocol === 2) {
    headers = { ...headers, retries: msg.retries + 1, eta: iso(etaMs) };
  } else {
    const v1 = { ...(decodeBody(m) as Record<string, unknown>), retries: msg.retries + 1, eta: iso(etaMs) };
    body = Buffer.from(JSON.stringify(v1));
  }
  return {
    headers,
    properties: m.properties,
    body,
    contentType: m.contentType ?? 'application/json',
    contentEncoding: m.contentEncoding ?? 'utf-8',
    exchange: '',
    routingKey: queue,
    priority: msg.priority,
  };
}
