// A LostDesk (src/backends/celery/lost-desk.ts) whose answers resolve promises, per asking child and request: the
// reason a redelivery is charged with, null when it is not, 'copied' for a duplicate of a copy. `records`: the
// children's file records, as the pool extension reads them.
import { LostDesk, type DeskIo } from '../../src/backends/celery/lost-desk.js';
import { LostRuns, lostAnswer, TOPIC_LOST_ANSWER } from '../../src/backends/celery/lost-runs.js';

export function answeringDesk(o = { settleMs: 1, waitMs: 5000 }, records?: DeskIo['records']) {
  const answers = new Map<string, (reason: string | null) => void>();
  const d = new LostDesk(
    new LostRuns(),
    {
      send: (gen, topic, data) => {
        if (topic !== TOPIC_LOST_ANSWER) throw new Error(topic);
        const a = lostAnswer(data)!;
        answers.get(`${gen}/${a.req}`)?.(a.copied ? 'copied' : a.reason);
      },
      now: () => 0,
      ...(records ? { records } : {}),
    },
    o,
  );
  // The desk's timers do not keep the supervisor alive (unref): a pending question here does.
  const ask = (gen: number, req: number, id: string): Promise<string | null> =>
    new Promise((resolve) => {
      const alive = setInterval(() => undefined, 1000);
      answers.set(`${gen}/${req}`, (reason) => {
        clearInterval(alive);
        resolve(reason);
      });
      d.ask(gen, { req, id });
    });
  return { d, ask };
}
