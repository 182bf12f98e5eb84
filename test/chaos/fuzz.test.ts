// Fuzzed messages mixed with valid tasks: no crash, each bad one a FAILURE or a dead-letter entry, valid ones done.
import t from 'tap';
import { fuzzCase } from './cases-broker.js';
import { LONG } from './harness.js';

void t.test('fuzzed messages', (t) =>
  fuzzCase(t, LONG ? { bad: 10_000, valid: 2000, huge: 20 } : { bad: 1000, valid: 200, huge: 5 }),
);
