// Pretty mode for people at a terminal: ONE line per record, as a Celery worker's log is (time, level, pid, message,
// then the other fields as compact JSON). Task lines and connection lines read as sentences — "Task add[id]
// succeeded in 0.003s: 5", "cannot connect to broker at redis://… (ECONNREFUSED); retrying in 2s" — and the
// fields those sentences show are not repeated after them. JSON mode keeps the constant messages and every field.
import { CHILD_UNREACHABLE_MSG, CONNECTION_MSG } from './connection.js';
import { TASK_MSG } from './task-lines.js';

type Log = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const secs = (ms: unknown): string => `${Math.round(Number(ms) / 10) / 100}s`;
const taskRef = (l: Log): string => `${str(l.task)}[${str(l.taskId)}]`;
const attempt = (l: Log): string => (Number(l.attempt) > 1 ? ` (attempt ${str(l.attempt)})` : '');
/** "ValueError: boom", the last line of a Python traceback. */
const exc = (l: Log): string => (l.excMessage ? `${str(l.excType)}: ${str(l.excMessage)}` : str(l.excType));

/** What a connection's role is, in a sentence. */
const ROLES: Readonly<Record<string, string>> = {
  broker: 'the broker',
  results: 'the result backend',
  control: 'the broker (remote control)',
  events: 'the broker (events)',
  temporal: 'the Temporal server',
  hatchet: 'the Hatchet engine',
};
const where = (l: Log): string => `${ROLES[str(l.role)] ?? str(l.role)} at ${str(l.url)}`;

interface Rendering {
  /** The fields the sentence shows (left out of the JSON after it). */
  keys: readonly string[];
  render(l: Log): string;
}

const RENDERINGS: Readonly<Record<string, Rendering>> = {
  [TASK_MSG.received]: {
    keys: ['task', 'taskId', 'eta'],
    render: (l) => `Task ${taskRef(l)} received${l.eta !== undefined ? ` (eta ${str(l.eta)})` : ''}`,
  },
  [TASK_MSG.succeeded]: {
    keys: ['task', 'taskId', 'runtime', 'result'],
    render: (l) => `Task ${taskRef(l)} succeeded in ${str(l.runtime)}s: ${str(l.result)}`,
  },
  [TASK_MSG.failed]: {
    keys: ['task', 'taskId', 'runtime', 'excType', 'excMessage'],
    render: (l) => `Task ${taskRef(l)} raised unexpected: ${exc(l)}`,
  },
  [TASK_MSG.retried]: {
    keys: ['task', 'taskId', 'countdown', 'excType', 'excMessage'],
    render: (l) => `Task ${taskRef(l)} retry: Retry in ${str(l.countdown)}s: ${exc(l)}`,
  },
  [TASK_MSG.revoked]: {
    keys: ['task', 'taskId', 'reason'],
    render: (l) => `Discarding revoked task: ${taskRef(l)}${l.reason === 'revoked' ? '' : ` (${str(l.reason)})`}`,
  },
  [CONNECTION_MSG.lost]: {
    keys: ['role', 'url', 'code', 'attempt', 'retryInMs'],
    render: (l) => `connection to ${where(l)} lost (${str(l.code)}); reconnecting in ${secs(l.retryInMs)}`,
  },
  [CONNECTION_MSG.failed]: {
    keys: ['role', 'url', 'code', 'attempt', 'retryInMs'],
    render: (l) => `cannot connect to ${where(l)} (${str(l.code)}); retrying in ${secs(l.retryInMs)}${attempt(l)}`,
  },
  [CONNECTION_MSG.restored]: {
    keys: ['role', 'url', 'attempts'],
    render: (l) => `connection to ${where(l)} restored`,
  },
  [CHILD_UNREACHABLE_MSG]: {
    keys: ['child', 'reason', 'code', 'attempt', 'retryInMs'],
    render: (l) => `child ${str(l.child)}: ${str(l.reason)}; retrying in ${secs(l.retryInMs)}${attempt(l)}`,
  },
};

// eslint-disable-next-line no-control-regex -- stripping control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
const NEWLINE = /\r?\n/g;

/**
 * The message of a pretty line: the sentence of a known line, else the record's own message. The fields the
 * sentence shows are taken off the record (pino-pretty's own parsed copy of the line, which it prints after the
 * message), so they are not repeated in the JSON tail.
 */
export function prettyMessage(log: Log, messageKey = 'msg'): string {
  const msg = str(log[messageKey]);
  const r = RENDERINGS[msg];
  let text = msg;
  if (r) {
    text = r.render(log);
    for (const k of r.keys) delete log[k];
  } else if (typeof log.err === 'string') {
    // An error's message given as text (no stack to show): part of the line, not a block of its own below it.
    text = `${msg}: ${log.err}`;
    delete log.err;
  }
  // One record, one line: a newline inside a message shows as \n.
  return text.replace(NEWLINE, '\\n').replace(CONTROL, '');
}

/** pino-pretty options for one line per record with these renderings. */
export function prettyLineOptions(): { singleLine: true; messageFormat: (log: Log, messageKey: string) => string } {
  return { singleLine: true, messageFormat: prettyMessage };
}
