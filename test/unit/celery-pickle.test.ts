// The pickle reader and writer of the database result backend. The reader's inputs are bytes Python 3.11 wrote
// (captured with pickle.dumps, protocols 2 and 5, and the GroupResult row Celery's database backend writes) and
// malicious pickles: every one that would run code is refused with a PickleRefusedError, never evaluated.
import t from 'tap';
import { PickleRefusedError, unpickle } from '../../src/backends/celery/results/pickle.js';
import { dumps, dumpsGroupResult, PyTuple } from '../../src/backends/celery/results/pickle-write.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
// pickle.dumps(app.GroupResult('gid-1', [app.AsyncResult('a-1'), app.AsyncResult('a-2')]), 5) with a database
// backend: _unpickle_appattr REDUCEs, the DatabaseBackend via unpickle_backend, its expiry as a timedelta.
const GROUP5 =
  '8005955e010000000000008c0f63656c6572792e6170702e62617365948c115f756e7069636b6c655f617070617474729493948c0b47726f7570526573756c74948c056769642d31945d942868028c0b4173796e63526573756c7494288c03612d31948c1463656c6572792e6261636b656e64732e62617365948c10756e7069636b6c655f6261636b656e649493948c1863656c6572792e6261636b656e64732e6461746162617365948c0f44617461626173654261636b656e64949394297d94288c056462757269948c30706f737467726573716c2b707379636f70673a2f2f7462773a746277403132372e302e302e313a34313434312f746277948c0765787069726573948c086461746574696d65948c0974696d6564656c74619493944b014b004b00879452948c0e656e67696e655f6f7074696f6e73947d9475879452944e4e4e74948694529468026806288c03612d3294681a4e4e4e749486945294658694869452942e';
// {'a': [1, 2.5, None, True, 'x'], 'big': 2**70, 'neg': -3, 'b': b'raw', 's': {1}, 't': (1, 'two')}
const PLAIN2 =
  '80027d71002858010000006171015d7102284b014740040000000000004e88580100000078710365580300000062696771048a0900000000000000004058030000006e656771054afdffffff5801000000627106635f636f646563730a656e636f64650a71075803000000726177710858060000006c6174696e31710986710a52710b580100000073710c635f5f6275696c74696e5f5f0a7365740a710d5d710e4b016185710f52711058010000007471114b01580300000074776f7112867113752e';
const PLAIN5 =
  '8005955c000000000000007d94288c0161945d94284b014740040000000000004e888c017894658c03626967948a090000000000000000408c036e6567944afdffffff8c0162944303726177948c0173948f94284b01908c0174944b018c0374776f948694752e';
// Celery's prepared exception: {'exc_type': 'ValueError', 'exc_message': ('bad', 3), 'exc_module': 'builtins'}
const EXC5 =
  '8005954d000000000000007d94288c086578635f74797065948c0a56616c75654572726f72948c0b6578635f6d657373616765948c03626164944b0386948c0a6578635f6d6f64756c65948c086275696c74696e7394752e';
// [datetime(2024,1,2,3,4,5,678, tzinfo=utc), date(2024,1,2), Decimal('1.50'), timedelta(days=1, seconds=2)]
const DT5 =
  '8005959e000000000000005d94288c086461746574696d65948c086461746574696d65949394430a07e801020304050002a69468018c0874696d657a6f6e6594939468018c0974696d6564656c74619493944b004b004b0087945294859452948694529468018c0464617465949394430407e8010294859452948c07646563696d616c948c07446563696d616c9493948c04312e3530948594529468084b014b024b0087945294652e';
// ValueError('bad', 3) itself (result_serializer=pickle stores exception objects)
const EXCOBJ5 = '80059527000000000000008c086275696c74696e73948c0a56616c75654572726f729493948c03626164944b03869452942e';
// class Evil: __reduce__ = lambda self: (os.system, ('echo pwned',))
const EVIL5 = '80059525000000000000008c05706f736978948c0673797374656d9493948c0a6563686f2070776e656494859452942e';
// pickle.dumps(eval, 4)
const EVAL4 = '80049515000000000000008c086275696c74696e73948c046576616c9493942e';

void t.test('values Python wrote read as JSON backends would hand them over', async (t) => {
  const plain = { a: [1, 2.5, null, true, 'x'], big: 2 ** 70, neg: -3, b: 'raw', s: [1], t: [1, 'two'] };
  t.same(unpickle(hex(PLAIN5)), plain, 'protocol 5');
  t.same(unpickle(hex(PLAIN2)), plain, 'protocol 2 (bytes via _codecs.encode, set via builtins.set)');
  t.same(unpickle(hex(EXC5)), { exc_type: 'ValueError', exc_message: ['bad', 3], exc_module: 'builtins' });
  t.same(unpickle(hex(DT5)), ['2024-01-02T03:04:05.000678+00:00', '2024-01-02', '1.50', 86_402]);
  t.same(unpickle(hex(EXCOBJ5)), { exc_type: 'ValueError', exc_message: ['bad', 3], exc_module: 'builtins' });
  t.same(
    unpickle(hex(GROUP5)),
    [
      ['gid-1', null],
      [
        [['a-1', null], null],
        [['a-2', null], null],
      ],
    ],
    'a GroupResult reads as its as_tuple(); the pickled backend (with its URL) is dropped',
  );
});

void t.test('a pickle that would run code is refused, not run', async (t) => {
  const evil: [string, Buffer][] = [
    ['os.system via REDUCE (protocol 5, STACK_GLOBAL)', hex(EVIL5)],
    ['builtins.eval as a bare global', hex(EVAL4)],
    ['os.system, protocol 0 GLOBAL + REDUCE', Buffer.from("cos\nsystem\n(S'echo pwned'\ntR.", 'latin1')],
    ['subprocess.Popen via INST', Buffer.from("(S'id'\nisubprocess\nPopen\n.", 'latin1')],
    [
      'copyreg._reconstructor (old-style object)',
      Buffer.from('ccopy_reg\n_reconstructor\n(c__main__\nX\nc__builtin__\nobject\nNtR.', 'latin1'),
    ],
    // NEWOBJ of an allowed name still creates an object: refused.
    [
      'NEWOBJ',
      Buffer.from([
        0x80,
        0x04,
        0x8c,
        8,
        ...Buffer.from('datetime'),
        0x8c,
        4,
        ...Buffer.from('date'),
        0x93,
        0x29,
        0x81,
        0x2e,
      ]),
    ],
    ['BUILD on a plain dict (sets state)', Buffer.from([0x80, 0x04, 0x7d, 0x7d, 0x62, 0x2e])],
    ['persistent id', Buffer.from('Pfoo\n.', 'latin1')],
    ['extension code', Buffer.from([0x80, 0x02, 0x82, 0x01, 0x2e])],
    ['out-of-band buffer', Buffer.from([0x80, 0x05, 0x97, 0x2e])],
    ['an exception class of an unknown module', Buffer.from("cmyapp.errors\nBoom\n(S'x'\ntR.", 'latin1')],
    [
      'a Celery app attribute other than the result types',
      Buffer.from("ccelery.app.base\n_unpickle_appattr\n(S'send_task'\n(S'x'\nttR.", 'latin1'),
    ],
  ];
  for (const [what, bytes] of evil) {
    t.throws(() => unpickle(bytes), PickleRefusedError, what);
  }
  t.throws(() => unpickle(hex(EVIL5)), /posix\.system; refused without running it/, 'the error names what it needed');
  t.throws(() => unpickle(Buffer.from([0x80, 0x04, 0x4b])), /ends in the middle/, 'truncated input');
  t.throws(() => unpickle(Buffer.from([0x80, 0x04, 0x4b, 1, 0x4b, 2, 0x2e])), /one value/, 'junk on the stack');
});

void t.test('__proto__ in a pickled dict is a key, never a prototype', async (t) => {
  // {'__proto__': {'polluted': True}}
  const bytes = Buffer.from([
    0x80,
    0x04,
    0x7d,
    0x8c,
    9,
    ...Buffer.from('__proto__'),
    0x7d,
    0x8c,
    8,
    ...Buffer.from('polluted'),
    0x88,
    0x73,
    0x73,
    0x2e,
  ]);
  const v = unpickle(bytes) as Record<string, unknown>;
  t.same(Object.keys(v), ['__proto__']);
  t.equal(Object.getPrototypeOf(v), Object.prototype);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

void t.test('the writer: plain values, tuples, big ints, and the GroupResult Python restores', async (t) => {
  const v = {
    a: [1, -1, 300, 70_000, -70_000, 2 ** 40, -(2 ** 40), 2 ** 53 - 1, 0.5, null, true, false],
    s: 'é☃'.repeat(100),
  };
  t.same(unpickle(dumps(v)), v, 'round trip');
  const exc = { exc_type: 'ValueError', exc_message: new PyTuple(['bad', 3]), exc_module: 'builtins' };
  t.same(unpickle(dumps(exc)), unpickle(hex(EXC5)), 'an exception dict reads back as the one Python writes');
  t.ok(dumps(exc).includes(Buffer.from([0x4b, 0x03, 0x74])), 'exc_message is written as a tuple (TUPLE opcode)');
  t.same(unpickle(dumpsGroupResult('g', ['x', 'y'])), [
    ['g', null],
    [
      [['x', null], null],
      [['y', null], null],
    ],
  ]);
  t.same(
    unpickle(dumps({ d: new Date(Date.UTC(2024, 0, 2)) })),
    { d: '2024-01-02T00:00:00.000Z' },
    'toJSON, as JSON does',
  );
  t.same(unpickle(dumps({ u: undefined, f: () => 1, l: [undefined] })), { l: [null] }, 'undefined as JSON treats it');
});
