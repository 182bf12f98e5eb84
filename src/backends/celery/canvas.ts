// Celery canvas as a worker performs it: link callbacks, the embedded chain, errbacks, the chord counter and
// body, and the registry's workflows expanded into the same canvas (chain of steps, parallel = chord).
import { randomUUID } from 'node:crypto';
import type { WorkflowDefinition } from '../../tasks/types.js';
import { COLLECT_TASK, dagCanvas, isInternalBody } from './dag.js';
import { buildTask, parseTime, type Sig, type TaskMessage } from './protocol.js';
import { CHORD_UNLOCK, excRepr } from './builtins.js';
import { buildMeta, excInfo, PROPAGATE_STATES, type ExcInfo, type ResultStore } from './results.js';
import type { OutboundMessage } from './transport.js';
import { isObj } from '../../util/json.js';

/** Our own identity task: a chord body that hands the list of branch results on (workflow parallel steps). */
export { COLLECT_TASK };

export interface SendExtra {
  parentId?: string | null;
  rootId?: string | null;
  chain?: Sig[] | null;
  priority?: number;
  group?: string | null;
  groupIndex?: number | null;
  chord?: Sig | null;
}

export interface CanvasDeps {
  /** Publish one message on the broker (the transport's publish). */
  publish(out: OutboundMessage): Promise<void>;
  results: ResultStore | null;
  now(): number;
  worker: string;
  extended: boolean;
}

const asSigs = (v: unknown): Sig[] => {
  const list = isObj(v) && isObj(v.kwargs) && Array.isArray(v.kwargs.tasks) ? v.kwargs.tasks : v;
  return Array.isArray(list) ? (list.filter((s) => isObj(s) && typeof s.task === 'string') as Sig[]) : [];
};

export class Canvas {
  constructor(
    private readonly deps: CanvasDeps,
    /** Queue a continuation goes to when its signature names none: the queue its parent came from. */
    private readonly defaultQueue: string,
  ) {}

  /** Send a signature (simple, chain, group or chord) with `partial` prepended to its args, as apply_async does. */
  async send(sig: Sig, partial: unknown[], extra: SendExtra = {}): Promise<void> {
    const o = sig.options ?? {};
    const kw = sig.kwargs ?? {};
    switch (sig.subtask_type) {
      case 'chain': {
        const tasks = asSigs(kw.tasks);
        if (tasks.length === 0) return;
        let joined = extra;
        if (tasks.length > 1 && (extra.group || extra.chord)) {
          // A chain inside a group/chord header joins it through its LAST task (Celery's prepare_steps).
          const { group, groupIndex, chord, ...outer } = extra;
          const last = tasks.length - 1;
          const lastSig = tasks[last] as Sig;
          tasks[last] = {
            ...lastSig,
            options: {
              ...lastSig.options,
              group_id: group ?? undefined,
              group_index: groupIndex ?? undefined,
              chord: chord ?? undefined,
            },
          };
          joined = outer;
        }
        const [first, ...rest] = tasks;
        const chain = [...(joined.chain ?? []), ...rest.reverse()];
        await this.send(first as Sig, partial, { ...joined, chain });
        return;
      }
      case 'group': {
        const gid = typeof o.task_id === 'string' ? o.task_id : randomUUID();
        const tasks = asSigs(kw.tasks);
        await Promise.all(
          tasks.map((t, i) => this.send(t, partial, { ...extra, chain: null, group: gid, groupIndex: i })),
        );
        return;
      }
      case 'chord': {
        const header = asSigs(kw.header);
        const bodyRaw = kw.body;
        if (!isObj(bodyRaw) || typeof bodyRaw.task !== 'string') return;
        let body = bodyRaw as unknown as Sig;
        if (extra.chain && extra.chain.length > 0) body = { ...body, options: { ...body.options, chain: extra.chain } };
        if (header.length === 0) {
          await this.send(body, [[]], { parentId: extra.parentId ?? null, rootId: extra.rootId ?? null });
          return;
        }
        const gid = typeof o.group_id === 'string' ? o.group_id : randomUUID();
        // A store that joins chords itself counts the header; one that cannot gets Celery's celery.chord_unlock,
        // sent first, as Celery's fallback_chord_unlock does (it polls, so the order does not matter).
        if (this.deps.results?.chordJoin === 'unlock') await this.#sendUnlock(gid, header, body, extra);
        else await this.deps.results?.setChordSize?.(gid, header.length);
        await Promise.all(
          header.map((t, i) =>
            this.send(t, partial, {
              parentId: extra.parentId ?? null,
              rootId: extra.rootId ?? null,
              group: gid,
              groupIndex: i,
              chord: body,
            }),
          ),
        );
        return;
      }
      default:
        await this.#sendSimple(sig, partial, extra);
    }
  }

  async #sendSimple(sig: Sig, partial: unknown[], extra: SendExtra): Promise<void> {
    const o = sig.options ?? {};
    const now = this.deps.now();
    const countdown = typeof o.countdown === 'number' ? o.countdown : null;
    const eta = countdown !== null ? now + countdown * 1000 : (parseTime(o.eta) ?? null);
    const expires = typeof o.expires === 'number' ? now + o.expires * 1000 : (parseTime(o.expires) ?? null);
    const ownChain = Array.isArray(o.chain) ? (o.chain as Sig[]) : null;
    const m = buildTask({
      task: sig.task,
      id: typeof o.task_id === 'string' ? o.task_id : undefined,
      args: sig.immutable ? (sig.args ?? []) : [...partial, ...(sig.args ?? [])],
      kwargs: sig.kwargs ?? {},
      queue:
        typeof o.queue === 'string' ? o.queue : typeof o.routing_key === 'string' ? o.routing_key : this.defaultQueue,
      priority: typeof o.priority === 'number' ? o.priority : extra.priority,
      etaMs: eta,
      expiresMs: expires,
      group: typeof o.group_id === 'string' ? o.group_id : (extra.group ?? null),
      groupIndex: typeof o.group_index === 'number' ? o.group_index : (extra.groupIndex ?? null),
      parentId: extra.parentId ?? null,
      rootId: extra.rootId ?? undefined,
      callbacks: Array.isArray(o.link) ? (o.link as Sig[]) : isObj(o.link) ? [o.link as unknown as Sig] : null,
      errbacks: Array.isArray(o.link_error)
        ? (o.link_error as Sig[])
        : isObj(o.link_error)
          ? [o.link_error as unknown as Sig]
          : null,
      chain: extra.chain && extra.chain.length > 0 ? extra.chain : ownChain,
      chord: isObj(o.chord) ? (o.chord as unknown as Sig) : (extra.chord ?? null),
      ignoreResult: o.ignore_result === true,
    });
    await this.deps.publish(m.message);
  }

  /** After SUCCESS: link callbacks get the result, then the next chain element (trace.py order). */
  async onSuccess(msg: TaskMessage, retval: unknown): Promise<void> {
    const extra = { parentId: msg.id, rootId: msg.rootId ?? msg.id, priority: msg.priority };
    for (const cb of msg.callbacks ?? []) await this.send(cb, [retval], extra);
    const chain = msg.chain ?? [];
    const next = chain[chain.length - 1];
    if (next) await this.send(next, [retval], { ...extra, chain: chain.slice(0, -1) });
  }

  /** After FAILURE: the rest of the chain fails with the same exception (so chain.get() raises), errbacks run. */
  async onFailure(msg: TaskMessage, exc: ExcInfo, traceback: string | null): Promise<void> {
    const results = this.deps.results;
    if (results) {
      for (const el of msg.chain ?? []) {
        const id = resultId(el);
        if (id === null) continue;
        const meta = buildMeta('FAILURE', exc, { ...this.#req(msg), id, task: el.task }, this.#metaOpts(traceback));
        await results.store(id, meta);
      }
    }
    for (const eb of msg.errbacks ?? [])
      await this.send(eb, [msg.id], { parentId: msg.id, rootId: msg.rootId ?? msg.id });
  }

  /** This task was a chord header part: count it; the part that completes the chord sends (or fails) the body. */
  async onChordPart(msg: TaskMessage, state: string, encoded: unknown): Promise<void> {
    const results = this.deps.results;
    const body = msg.chord;
    if (!results?.chordPart || !body || !msg.group) return;
    const parts = await results.chordPart(msg.group, msg.id, msg.groupIndex, state, encoded);
    if (parts === null) return;
    const bad = parts.find((p) => PROPAGATE_STATES.has(p.state));
    if (!bad) {
      await this.send(body, [parts.map((p) => p.result)], { parentId: msg.id, rootId: msg.rootId ?? msg.id });
      return;
    }
    const e = bad.result as Partial<ExcInfo>;
    await this.failChordBody(msg, body, `Dependency ${bad.tid} raised ${excRepr(e)}`, e);
  }

  /**
   * A chord's header failed: the body is stored FAILURE with Celery's ChordError (a workflow's own join fails
   * with the step's error instead, as the reference executor does), so is its chain (a waiter on a later element
   * sees it), and the body's errbacks get its id (chord_error_from_stack).
   */
  async failChordBody(msg: TaskMessage, body: Sig, reason: string, part: Partial<ExcInfo> | null): Promise<void> {
    const results = this.deps.results;
    const exc =
      isInternalBody(body.task) && part
        ? excInfo(part.exc_type ?? 'Exception', String((part.exc_message ?? [])[0] ?? ''))
        : excInfo('ChordError', reason);
    const bodyId = typeof body.options?.task_id === 'string' ? body.options.task_id : null;
    if (results && bodyId !== null) {
      const req = { ...this.#req(msg), id: bodyId, task: body.task, group: null };
      await results.store(bodyId, buildMeta('FAILURE', exc, req, this.#metaOpts(null)));
    }
    const bodyChain = Array.isArray(body.options?.chain) ? (body.options.chain as Sig[]) : [];
    for (const el of results ? bodyChain : []) {
      const id = resultId(el);
      if (id === null) continue;
      await results!.store(
        id,
        buildMeta('FAILURE', exc, { ...this.#req(msg), id, task: el.task, group: null }, this.#metaOpts(null)),
      );
    }
    const ebs = body.options?.link_error;
    const errbacks = Array.isArray(ebs) ? (ebs as Sig[]) : isObj(ebs) ? [ebs as unknown as Sig] : [];
    for (const eb of errbacks) await this.send(eb, [bodyId ?? msg.id], { parentId: msg.id });
  }

  /** celery.chord_unlock(group_id, body, interval=None, max_retries=None, result=[header as_tuple...]). */
  async #sendUnlock(gid: string, header: Sig[], body: Sig, extra: SendExtra): Promise<void> {
    const ids = header.map((h, i) => {
      const id = resultId(h) ?? randomUUID();
      header[i] = withResultId(h, id);
      return id;
    });
    const bo = body.options ?? {};
    await this.#sendSimple(
      {
        task: CHORD_UNLOCK,
        args: [gid, body],
        kwargs: { interval: null, max_retries: null, result: ids.map((id) => [[id, null], null]) },
        options: {
          countdown: 1,
          // As Python's apply_async sends it (the task's own ignore_result): Celery 5.7 lets a message's
          // ignore_result=False override the task's, and a Python worker would then store chord_unlock's RETRY rows.
          ignore_result: true,
          ...(typeof bo.queue === 'string' ? { queue: bo.queue } : {}),
          priority: typeof bo.priority === 'number' ? bo.priority : 0,
        },
        immutable: true,
      },
      [],
      { parentId: extra.parentId ?? null, rootId: extra.rootId ?? null },
    );
  }

  /**
   * A registry workflow arriving as a task message: send its steps as a chain (a parallel step becomes a chord
   * whose body is COLLECT); the last step carries the workflow message's id, so AsyncResult(id).get() waits for it.
   */
  async startWorkflow(def: WorkflowDefinition, msg: TaskMessage): Promise<void> {
    const extra = { parentId: msg.id, rootId: msg.rootId ?? msg.id, priority: msg.priority };
    if (!Array.isArray(def.steps)) {
      await this.send(
        dagCanvas(def.name, def.steps.dag, { args: msg.args, kwargs: msg.kwargs, resultId: msg.id }),
        [],
        extra,
      );
      return;
    }
    const steps = def.steps;
    const sigs: Sig[] = steps.map((step, i) => {
      const last = i === steps.length - 1;
      const first = i === 0;
      const opts = (id: boolean): Record<string, unknown> => (id ? { task_id: msg.id } : {});
      const branch = (t: { task: string; args?: unknown[]; kwargs?: Record<string, unknown> }): Sig => ({
        task: t.task,
        args: t.args ?? [],
        kwargs: first ? { ...t.kwargs, ...msg.kwargs } : (t.kwargs ?? {}),
        options: {},
      });
      if ('parallel' in step) {
        return {
          task: 'celery.chord',
          subtask_type: 'chord',
          kwargs: {
            header: step.parallel.map(branch),
            body: { task: COLLECT_TASK, args: [], kwargs: {}, options: opts(last) },
          },
          options: {},
        };
      }
      return { ...branch(step), options: opts(last) };
    });
    await this.send({ task: 'celery.chain', subtask_type: 'chain', kwargs: { tasks: sigs } }, first(msg), {
      parentId: msg.id,
      rootId: msg.rootId ?? msg.id,
      priority: msg.priority,
    });
  }

  #req(msg: TaskMessage) {
    return {
      id: msg.id,
      task: msg.task,
      args: msg.args,
      kwargs: msg.kwargs,
      retries: msg.retries,
      group: msg.group,
      parentId: msg.parentId,
      queue: msg.routingKey,
    };
  }

  #metaOpts(traceback: string | null) {
    return { extended: this.deps.extended, worker: this.deps.worker, nowMs: this.deps.now(), traceback };
  }
}

/**
 * The id a waiter on this chain element watches: its own task_id; for a chord, its body's (a chord's result is
 * its body's); for a nested chain, its last element's.
 */
function resultId(sig: Sig): string | null {
  if (typeof sig.options?.task_id === 'string') return sig.options.task_id;
  const kw = sig.kwargs ?? {};
  if (sig.subtask_type === 'chord' && isObj(kw.body)) return resultId(kw.body as unknown as Sig);
  if (sig.subtask_type === 'chain') {
    const tasks = asSigs(kw.tasks);
    const last = tasks[tasks.length - 1];
    return last ? resultId(last) : null;
  }
  return null;
}

/** The signature with `id` on the task whose result counts (a chain's last element), as Celery's freeze() does. */
function withResultId(sig: Sig, id: string): Sig {
  if (sig.subtask_type === 'chain') {
    const tasks = asSigs(sig.kwargs?.tasks);
    const last = tasks[tasks.length - 1];
    if (!last) return sig;
    tasks[tasks.length - 1] = withResultId(last, id);
    return { ...sig, kwargs: { ...sig.kwargs, tasks } };
  }
  return { ...sig, options: { ...sig.options, task_id: id } };
}

/** A workflow's first step gets the workflow's own positional args prepended (spread, like a chain's first task). */
function first(msg: TaskMessage): unknown[] {
  return msg.args;
}
