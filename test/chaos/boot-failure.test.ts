// Workers that cannot boot: the documented backoff, then a stop with a reason and exit code 3.
import t from 'tap';
import { bootFailureCase } from './cases-broker.js';

void t.test('workers that cannot boot', (t) => bootFailureCase(t));
