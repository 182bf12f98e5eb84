// Python str()/repr()/+ over JSON values: what the built-ins print must match CPython for the same data.
import t from 'tap';
import { pyAdd, pyNumber, pyRepr, pyStr, pyTypeName } from '../../src/tasks/pyfmt.js';

void t.test('numbers render like Python', async (t) => {
  const cases: [number, string][] = [
    [5, '5'],
    [-3, '-3'],
    [0, '0'],
    [-0, '0'],
    [0.1, '0.1'],
    [2.5, '2.5'],
    [1 / 3, '0.3333333333333333'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1.5e-7, '1.5e-07'],
    [123456789.125, '123456789.125'],
    [1e16, '1e+16'],
    [1.5e300, '1.5e+300'],
    [NaN, 'nan'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
  ];
  for (const [n, s] of cases) t.equal(pyNumber(n), s, `str(${n})`);
});

void t.test('str and repr of JSON values', async (t) => {
  t.equal(pyStr(null), 'None');
  t.equal(pyStr(undefined), 'None');
  t.equal(pyStr(true), 'True');
  t.equal(pyStr(false), 'False');
  t.equal(pyStr('plain'), 'plain');
  t.equal(pyStr([1, 'a', null, [true]]), "[1, 'a', None, [True]]");
  t.equal(pyStr({ a: 1, 'b c': 'x' }), "{'a': 1, 'b c': 'x'}");
  t.equal(pyStr({}), '{}');
  t.equal(pyStr([]), '[]');
  t.equal(pyRepr("it's"), '"it\'s"');
  t.equal(pyRepr('say "hi"'), '\'say "hi"\'');
  t.equal(pyRepr('both \' and "'), "'both \\' and \"'");
  t.equal(pyRepr('a\nb\t\\'), "'a\\nb\\t\\\\'");
  t.equal(pyRepr('\u0001'), "'\\x01'");
  t.equal(pyRepr('héllo ✓'), "'héllo ✓'");
});

void t.test('type names', async (t) => {
  t.same([null, true, 1, 1.5, 's', [], {}].map(pyTypeName), [
    'NoneType',
    'bool',
    'int',
    'float',
    'str',
    'list',
    'dict',
  ]);
});

void t.test('+ like Python', async (t) => {
  t.equal(pyAdd(2, 3), 5);
  t.equal(pyAdd(2, 0.5), 2.5);
  t.equal(pyAdd(true, 1), 2);
  t.equal(pyAdd('a', 'b'), 'ab');
  t.same(pyAdd([1], [2, 3]), [1, 2, 3]);
  t.throws(() => pyAdd('a', 1), { name: 'TypeError', message: 'can only concatenate str (not "int") to str' });
  t.throws(() => pyAdd([1], 'x'), { name: 'TypeError', message: 'can only concatenate list (not "str") to list' });
  t.throws(() => pyAdd(1, 'x'), { name: 'TypeError', message: "unsupported operand type(s) for +: 'int' and 'str'" });
  t.throws(() => pyAdd(null, 1), { message: "unsupported operand type(s) for +: 'NoneType' and 'int'" });
  t.throws(() => pyAdd({}, {}), { message: "unsupported operand type(s) for +: 'dict' and 'dict'" });
});
