// The ctx a Celery task's run() gets (src/backends/celery/task-context.ts): the message's fields, and a signal and
// a logger made on first use only, once.
import t from 'tap';
import type { Logger } from 'pino';
import { CeleryTaskContext } from '../../src/backends/celery/task-context.js';

const msg = { id: 'id-1', task: 'proj.add', retries: 2, redelivered: true };

void t.test('the fields a task reads', async (t) => {
  const ctx = new CeleryTaskContext(msg, 'celery@h', { controller: new AbortController() }, {} as Logger);
  t.match(ctx, { taskId: 'id-1', taskName: 'proj.add', attempt: 3, redelivered: true, workerName: 'celery@h' });
  t.equal(ctx.backend, 'celery');
});

void t.test('signal and logger: made on first use, once', async (t) => {
  let controllers = 0;
  const ac = new AbortController();
  const source = {
    get controller(): AbortController {
      controllers++;
      return ac;
    },
  };
  const children: Record<string, unknown>[] = [];
  const parent = {
    child: (bindings: Record<string, unknown>) => {
      children.push(bindings);
      return { bindings } as unknown as Logger;
    },
  } as unknown as Logger;
  const ctx = new CeleryTaskContext(msg, 'celery@h', source, parent);
  t.equal(controllers, 0, 'no controller until the signal is read');
  t.same(children, [], 'no logger until it is read');
  t.equal(ctx.signal, ac.signal);
  t.equal(ctx.logger, ctx.logger, 'the same logger every time');
  t.same(children, [{ taskId: 'id-1', task: 'proj.add' }], "one child logger, bound to the task's id and name");
  ac.abort(new Error('soft time limit'));
  t.ok(ctx.signal.aborted, 'aborting the execution aborts the signal the task holds');
  // The getters are the class's, shared by every context: no closures made per task (see task-context.ts).
  const other = new CeleryTaskContext(msg, 'celery@h', source, parent);
  t.equal(Object.getOwnPropertyDescriptor(ctx, 'signal'), undefined, 'signal is not an own property');
  t.equal(Object.getPrototypeOf(ctx), Object.getPrototypeOf(other));
});
