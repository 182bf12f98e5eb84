// Failures on the wire in the format the Python hatchet-sdk parses (TaskRunError.deserialize): a first line
// "Type: message" then the trace. The TS SDK would send JSON {message, stack}, which Python callers see as an
// opaque HatchetError; so the worker's failure events are rewritten before they are sent.
import type { Worker } from '@hatchet-dev/typescript-sdk/v1/index.js';

/** StepActionEventType.STEP_EVENT_TYPE_FAILED in the dispatcher protocol. */
const STEP_EVENT_TYPE_FAILED = 3;

/**
 * Python's serialisation: the header's newlines escaped as "\\\n", then "\n" and the trace. Python splits on the
 * first newline and needs one, so an empty trace becomes a placeholder line.
 */
export function pythonFailureText(message: string, stack: string | undefined): string {
  const header = message.replace(/\n/g, '\\\n');
  const frames = (stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  return `${header}\n${frames.length > 0 ? frames.join('\n') : '    (no trace)'}`;
}

type StepEventFactory = (
  action: unknown,
  eventType: number,
  shouldNotRetry: boolean,
  payload?: unknown,
  retryCount?: number,
) => { eventPayload: string };

/**
 * Wrap the worker's (internal) event factory. Returns false when the SDK has no such method (another SDK
 * version): failures then keep the SDK's JSON format, which our own client still parses.
 */
export function sendPythonStyleFailures(worker: Worker): boolean {
  const internal = (worker as unknown as { _internal?: { getStepActionEvent?: StepEventFactory } })._internal;
  const original = internal?.getStepActionEvent;
  if (!internal || typeof original !== 'function') return false;
  internal.getStepActionEvent = function (this: unknown, action, eventType, shouldNotRetry, payload, retryCount) {
    const event = original.call(this, action, eventType, shouldNotRetry, payload, retryCount);
    const p = payload as { message?: unknown; stack?: unknown } | undefined;
    if (eventType === STEP_EVENT_TYPE_FAILED && typeof p?.message === 'string') {
      event.eventPayload = pythonFailureText(p.message, typeof p.stack === 'string' ? p.stack : undefined);
    }
    return event;
  };
  return true;
}
