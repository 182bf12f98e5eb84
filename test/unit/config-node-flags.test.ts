// The children's Node flags (--child-node-flags): the setting's words become execArgv, ahead of an embedder's own.
import t from 'tap';
import { childExecArgv, nodeFlagsOf, notAFlag } from '../../src/config/node-flags.js';
import { withHeapLimit } from '../../src/supervisor/heap.js';

void t.test('the setting splits on any whitespace; null and blank are no flags', async (t) => {
  t.same(nodeFlagsOf(' --a=1\t--b  --c=x y '), ['--a=1', '--b', '--c=x', 'y']);
  t.same(nodeFlagsOf(null), []);
  t.same(nodeFlagsOf(undefined), []);
  t.same(nodeFlagsOf('   '), []);
});

void t.test('a word without a leading dash is named', async (t) => {
  t.equal(notAFlag(['--a', '-b', 'c', 'd']), 'c');
  t.equal(notAFlag(['--a', '-b']), null);
  t.equal(notAFlag([]), null);
});

void t.test("the setting's flags come first, the embedder's after (V8: the last of a flag wins)", async (t) => {
  t.same(childExecArgv('--x=1 --y', ['--x=2']), ['--x=1', '--y', '--x=2']);
  t.same(childExecArgv(null, ['--z']), ['--z']);
  t.same(
    withHeapLimit(childExecArgv('--max-old-space-size=300', []), 200),
    ['--max-old-space-size=300'],
    'a heap limit in the setting wins over --child-max-heap, as one in execArgv does',
  );
});
