// The database backend's stored bytes in both formats: JSON as Celery 5.7 writes it (result_serializer json) and
// pickles as Celery ≤ 5.6 (PickleType) wrote them. The fixtures are what Celery 5.7.0 / Python 3.11 produced.
import t from 'tap';
import {
  decodeStored,
  encodeChildren,
  encodeGroup,
  encodeResult,
  groupIds,
  isPickle,
  stampFields,
  StoredResultError,
} from '../../src/backends/celery/results/database-codec.js';
import { PickleRefusedError } from '../../src/backends/celery/results/pickle.js';
import { ALL_COLUMNS, DEFAULT_LAYOUT, statements } from '../../src/backends/celery/results/database-sql.js';

// backend.encode(backend.prepare_exception(KeyError('missing'))) and pickle.dumps(same, HIGHEST_PROTOCOL).
const EXC = { exc_type: 'KeyError', exc_message: ['missing'], exc_module: 'builtins' };
const EXC_JSON = Buffer.from('{"exc_type": "KeyError", "exc_message": ["missing"], "exc_module": "builtins"}');
const EXC_PICKLE = Buffer.from(
  '8005954d000000000000007d94288c086578635f74797065948c084b65794572726f72948c0b6578635f6d657373616765948c076d697373' +
    '696e679485948c0a6578635f6d6f64756c65948c086275696c74696e7394752e',
  'hex',
);
// backend.encode(backend.prepare_value(GroupResult('g1', [AsyncResult('a-1'), AsyncResult('a-2')]))).
const GROUP_JSON = '[["g1", null], [[["a-1", null], null], [["a-2", null], null]]]';

void t.test('a stored result is read in either format', async (t) => {
  t.same(decodeStored(EXC_JSON, 'x'), EXC, 'JSON (Celery 5.7)');
  t.same(decodeStored(EXC_PICKLE, 'x'), EXC, 'pickle (Celery ≤ 5.6), the tuple read as a list');
  t.equal(decodeStored(Buffer.from('null'), 'x'), null);
  t.same(decodeStored(Buffer.from('"é☃"'), 'x'), 'é☃');
  t.ok(isPickle(EXC_PICKLE));
  t.notOk(isPickle(EXC_JSON));
  t.notOk(isPickle(Buffer.alloc(0)));
});

void t.test('bytes that are neither: one error naming the task and the serializers read', async (t) => {
  // msgpack of {"a": 1}: what result_serializer='msgpack' would store.
  t.throws(() => decodeStored(Buffer.from('81a16101', 'hex'), 'the stored result of task t-1'), {
    name: 'StoredResultError',
    message: /^the stored result of task t-1 is neither a pickle nor JSON \(first bytes 81a16101\).*msgpack/,
  });
  t.throws(() => decodeStored(Buffer.from('--- {a: 1}\n'), 'y'), StoredResultError, 'yaml');
});

void t.test('a pickle that would run code is still refused, naming the value', async (t) => {
  const evil = Buffer.from("\x80\x02cos\nsystem\n(S'true'\ntR.", 'latin1');
  t.throws(() => decodeStored(evil, 'the stored result of task e-1'), {
    name: 'PickleRefusedError',
    message: /^the stored result of task e-1 cannot be read: .*os\.system/,
  });
  t.ok(PickleRefusedError);
});

void t.test('writing: JSON by default, pickles for Celery ≤ 5.6 clients', async (t) => {
  t.same(JSON.parse(encodeResult('json', 'FAILURE', EXC).toString()), EXC);
  t.equal(encodeResult('json', 'SUCCESS', undefined).toString(), 'null');
  const p = encodeResult('pickle', 'FAILURE', EXC);
  t.ok(isPickle(p), 'a pickle');
  t.same(decodeStored(p, 'x'), EXC, 'reads back');
  // exc_message is pickled as a tuple, as Celery does: not the list a SUCCESS value with the same shape gets.
  t.notOk(p.equals(encodeResult('pickle', 'SUCCESS', EXC)), 'exc_message as a tuple');
  t.equal(encodeChildren([]), null, 'no children: NULL, as Celery writes');
  t.equal(encodeChildren(undefined), null);
  t.equal(encodeChildren([[['c-1', null], null]])?.toString(), '[[["c-1",null],null]]');
});

void t.test('groups: both formats give the ids', async (t) => {
  t.same(groupIds(decodeStored(Buffer.from(GROUP_JSON), 'g')), ['a-1', 'a-2'], 'what Celery 5.7 writes');
  const ours = encodeGroup('json', 'g1', ['a-1', 'a-2']);
  t.same(JSON.parse(ours.toString()), JSON.parse(GROUP_JSON), 'ours is the same tuple');
  t.same(groupIds(decodeStored(encodeGroup('pickle', 'g1', ['a-1']), 'g')), ['a-1'], 'pickled GroupResult');
  t.equal(groupIds('nope'), null);
});

void t.test('stamps merge into the meta as Celery 5.7 reads them; unreadable ones are ignored', async (t) => {
  t.same(stampFields(Buffer.from('{"stamped_headers": ["s1"], "stamps": {"s1": "v"}}')), {
    stamped_headers: ['s1'],
    s1: 'v',
  });
  t.same(stampFields(Buffer.from('{"stamps": {"__proto__": 1}}')), JSON.parse('{"__proto__": 1}'), 'own key');
  t.same(stampFields(Buffer.from('\x01garbage')), {});
  t.same(stampFields(Buffer.from('[1]')), {});
});

void t.test('statements follow the columns an older table has', async (t) => {
  const full = statements(DEFAULT_LAYOUT, ALL_COLUMNS);
  t.match(full.store, /\(id, task_id, status, result, date_done, traceback, children\) VALUES/);
  t.match(full.get, /queue, children, stamps FROM/);
  t.notMatch(full.storeExtended, /stamps/, 'stamps are never written: a Python worker’s stay');
  const old = statements(DEFAULT_LAYOUT, { children: false, stamps: false });
  t.notMatch(old.store, /children/);
  t.notMatch(old.getReady, /children|stamps/);
  t.match(old.storeExtended, /\$11\)/, 'eleven values without children');
  t.match(full.storeExtended, /\$12\)/, 'twelve with it');
});
