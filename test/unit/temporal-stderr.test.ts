// The Temporal test helper's report of what a dev server that died printed (test/helpers/temporal.ts): the first
// and last part of its stderr, each character once, with what was left out counted.
import t from 'tap';
import { stderrOf } from '../helpers/temporal.js';

/** Collect `text` as the helper does: the first `n` characters, the last `n`, and the total. */
function collect(text: string, n: number): [string, string, number] {
  return [text.slice(0, n), text.slice(-n), text.length];
}

const text = (len: number): string =>
  Array.from({ length: len }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');

void t.test('output shorter than the head: printed whole, once', async (t) => {
  t.equal(stderrOf(...collect(text(30), 50)), text(30));
});

void t.test('head and tail overlap: printed whole, once, no negative count', async (t) => {
  const s = text(80);
  const out = stderrOf(...collect(s, 50));
  t.equal(out, s);
  t.notMatch(out, /\[\.\.\./);
});

void t.test('exactly head plus tail: printed whole', async (t) => {
  const s = text(100);
  t.equal(stderrOf(...collect(s, 50)), s);
});

void t.test('longer: head, the count of what was left out, tail', async (t) => {
  const s = text(130);
  t.equal(stderrOf(...collect(s, 50)), `${s.slice(0, 50)}\n[... 30 characters ...]\n${s.slice(-50)}`);
});
