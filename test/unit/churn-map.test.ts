// ChurnMap (src/util/churn-map.ts) behaves as the Map it stands in for: insertion order, overwrite in place,
// delete while iterating. What it is for (no promotion of deleted values) is test/process/gc-churn.test.ts.
import t from 'tap';
import { ChurnMap } from '../../src/util/churn-map.js';

void t.test('a Map: get, has, size, delete, clear', async (t) => {
  const m = new ChurnMap<string, { n: number }>();
  const a = { n: 1 };
  t.equal(m.set('a', a), m, 'set returns the map');
  m.set('b', { n: 2 });
  t.equal(m.size, 2);
  t.equal(m.get('a'), a);
  t.ok(m.has('b'));
  t.equal(m.get('zz'), undefined);
  t.equal(m.delete('a'), true);
  t.equal(m.delete('a'), false, 'a second delete finds nothing');
  t.equal(m.get('a'), undefined);
  t.notOk(m.has('a'));
  t.equal(m.size, 1);
  m.clear();
  t.equal(m.size, 0);
  t.same([...m], []);
});

void t.test("insertion order, as a Map's, and an overwrite keeps its place", async (t) => {
  const m = new ChurnMap<number, string>();
  m.set(3, 'c').set(1, 'a').set(2, 'b');
  m.set(1, 'A');
  t.same([...m.keys()], [3, 1, 2]);
  t.same([...m.values()], ['c', 'A', 'b']);
  t.same(
    [...m.entries()],
    [
      [3, 'c'],
      [1, 'A'],
      [2, 'b'],
    ],
  );
  t.same([...m], [...m.entries()], 'iterating the map is iterating its entries');
  m.delete(3);
  m.set(3, 'C');
  t.same([...m.keys()], [1, 2, 3], 'deleted and set again: at the end');
});

void t.test('deleting while iterating, as the transports do on a lost connection', async (t) => {
  const m = new ChurnMap<string, number>();
  for (let i = 0; i < 10; i++) m.set(`k${i}`, i);
  const seen: number[] = [];
  for (const [k, v] of m) {
    seen.push(v);
    if (v % 2 === 0) m.delete(k);
  }
  t.same(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.same([...m.values()], [1, 3, 5, 7, 9]);
  const vals: number[] = [];
  for (const v of m.values()) {
    vals.push(v);
    m.delete(`k${v + 2}`);
  }
  t.same(vals, [1, 5, 9], 'a value deleted before its turn is not visited');
});
