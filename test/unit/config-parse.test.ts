// Every value type of the settings table parses what the docs promise and refuses the rest, saying what is accepted.
import t, { type Test } from 'tap';
import {
  formatDuration,
  formatSize,
  ParseFailure,
  parseAutoscale,
  parseBool,
  parseDurationMs,
  parseEnum,
  parseHostPort,
  parseInt10,
  parseList,
  parseSizeBytes,
  parseUrl,
} from '../../src/config/parse.js';
import { parseEnvFile, EnvFileError } from '../../src/config/envfile.js';

const refuses = (t: Test, fn: () => unknown, accepted: RegExp, what: string): void => {
  try {
    fn();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.ok(err instanceof ParseFailure, `${what}: ParseFailure`);
    t.match((err as ParseFailure).accepted, accepted, `${what}: says what is accepted`);
  }
};

void t.test('int', async (t) => {
  t.equal(parseInt10('8', 1), 8);
  t.equal(parseInt10(' +12 ', 1), 12);
  refuses(t, () => parseInt10('0', 1), /integer >= 1/, 'below min');
  refuses(t, () => parseInt10('2000', 1, 1024), /from 1 to 1024/, 'above max');
  for (const bad of ['', 'abc', '1.5', '-1', '1e3', '0x10', '99999999999999999999'])
    refuses(t, () => parseInt10(bad, 0), /integer/, bad);
});

void t.test('duration: units, bare seconds, minimum', async (t) => {
  t.equal(parseDurationMs('30s'), 30_000);
  t.equal(parseDurationMs('500ms'), 500);
  t.equal(parseDurationMs('2m'), 120_000);
  t.equal(parseDurationMs('1h'), 3_600_000);
  t.equal(parseDurationMs('1d'), 86_400_000);
  t.equal(parseDurationMs('1.5s'), 1500);
  t.equal(parseDurationMs('10'), 10_000, 'a bare number is seconds');
  t.equal(parseDurationMs('0'), 0);
  t.equal(parseDurationMs('2 MIN'), 120_000, 'case and space tolerant');
  refuses(t, () => parseDurationMs('50ms', 100), /at least 100ms/, 'below minimum');
  for (const bad of ['', 'soon', '-1s', '10 years', '1s2'])
    refuses(t, () => parseDurationMs(bad), /duration such as/, bad);
  t.equal(formatDuration(30_000), '30s');
  t.equal(formatDuration(86_400_000), '1d');
  t.equal(formatDuration(1500), '1500ms');
});

void t.test('size: KiB like Celery for bare numbers, SI and binary units', async (t) => {
  t.equal(parseSizeBytes('512000', 'KiB'), 512000 * 1024, 'bare = KiB');
  t.equal(parseSizeBytes('100', 'B'), 100, 'bare = bytes');
  t.equal(parseSizeBytes('512MB', 'KiB'), 512_000_000);
  t.equal(parseSizeBytes('512MiB', 'KiB'), 512 * 1024 ** 2);
  t.equal(parseSizeBytes('1GiB', 'B'), 1024 ** 3);
  t.equal(parseSizeBytes('1gb', 'B'), 1e9);
  t.equal(parseSizeBytes('64k', 'B'), 65536);
  t.equal(parseSizeBytes('1.5M', 'B'), 1.5 * 1024 ** 2);
  for (const bad of ['', 'big', '0', '10 parsecs', '-5MB'])
    refuses(t, () => parseSizeBytes(bad, 'KiB'), /size such as.*KiB/, bad);
  t.equal(formatSize(10 * 1024 ** 2), '10MiB');
  t.equal(formatSize(1000), '1000B');
});

void t.test('bool, enum, list', async (t) => {
  for (const s of ['1', 'true', 'YES', 'on']) t.equal(parseBool(s), true, s);
  for (const s of ['0', 'false', 'No', 'off']) t.equal(parseBool(s), false, s);
  refuses(t, () => parseBool('maybe'), /true\/false/, 'maybe');
  t.equal(parseEnum('CELERY', ['celery', 'temporal']), 'celery');
  t.equal(parseEnum('WARNING', ['warn'], { warning: 'warn' }), 'warn', 'aliases');
  refuses(t, () => parseEnum('rabbit', ['celery', 'temporal']), /one of celery, temporal/, 'unknown choice');
  t.same(parseList(' a, b ,,c '), ['a', 'b', 'c']);
  t.same(parseList(['a,b', 'c']), ['a', 'b', 'c'], 'repeated flags flatten');
  t.same(parseList(''), []);
});

void t.test('url, host:port, autoscale', async (t) => {
  t.equal(parseUrl('redis://:pw@127.0.0.1:6379/0', ['redis:', 'rediss:']), 'redis://:pw@127.0.0.1:6379/0');
  t.equal(parseUrl('rediss://h', ['redis:', 'rediss:']), 'rediss://h');
  refuses(t, () => parseUrl('amqp://guest@h//', ['redis:', 'rediss:']), /redis:\/\/ or rediss:\/\//, 'wrong scheme');
  refuses(t, () => parseUrl('not a url', ['http:']), /http:\/\//, 'garbage');
  t.equal(parseHostPort('127.0.0.1:7233'), '127.0.0.1:7233');
  t.equal(parseHostPort('temporal.example.com:443'), 'temporal.example.com:443');
  t.equal(parseHostPort('[::1]:7233'), '[::1]:7233');
  for (const bad of ['localhost', ':7233', 'h:0', 'h:70000', 'http://h:1'])
    refuses(t, () => parseHostPort(bad), /host:port/, bad);
  t.same(parseAutoscale('10,3'), { max: 10, min: 3 });
  t.same(parseAutoscale('4'), { max: 4, min: 1 }, 'min defaults to 1');
  t.same(parseAutoscale('5,5'), { max: 5, min: 5 });
  for (const bad of ['2,5', '0,0', 'a,b', '1,2,3', '']) refuses(t, () => parseAutoscale(bad), /max >= min >= 1/, bad);
});

void t.test('env file: dotenv syntax', async (t) => {
  const text = [
    '# comment',
    '',
    'A=1',
    'export B = two words ',
    "C='single $literal \\n'",
    'D="line1\\nline2 \\"q\\""',
    'E=value # trailing comment',
    'F=a#b',
    'G=',
    'H="multi',
    'line"  # after',
    'A=last wins',
  ].join('\r\n');
  t.same(parseEnvFile(`\uFEFF${text}`), {
    A: 'last wins',
    B: 'two words',
    C: 'single $literal \\n',
    D: 'line1\nline2 "q"',
    E: 'value',
    F: 'a#b',
    G: '',
    H: 'multi\nline',
  });
  const bad: [string, number, RegExp][] = [
    ['A=1\nnot an assignment', 2, /expected KEY=VALUE/],
    ['1BAD=x', 1, /invalid name/],
    ['A=1\nB="open\nC=2', 2, /unterminated " quote/],
    ["A='x' y", 1, /after closing quote/],
  ];
  for (const [src, line, re] of bad) {
    try {
      parseEnvFile(src);
      t.fail(`accepted ${JSON.stringify(src)}`);
    } catch (err) {
      t.ok(err instanceof EnvFileError);
      t.equal((err as EnvFileError).line, line, `line of ${JSON.stringify(src)}`);
      t.match((err as Error).message, re);
    }
  }
});
