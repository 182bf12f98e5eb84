// A real Debian PostgreSQL for one test file: a throwaway cluster (initdb as the postgres user, whatever major
// version the distribution ships) on a free loopback port, with a password user and a database. Fails loudly when
// PostgreSQL is missing or does not come up: a test that needs it must not skip.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis.js';

const run = promisify(execFile);

export interface PostgresServer {
  /** postgresql://tbw:tbw@127.0.0.1:<port>/tbw */
  url: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** Run SQL through psql as the test user; resolves with the unaligned, tuples-only output. */
  psql(sql: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

/** The bin directory of the newest PostgreSQL the distribution installed (/usr/lib/postgresql/<major>/bin). */
export function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base)
    ? readdirSync(base)
        .filter((d) => /^\d+$/.test(d) && existsSync(join(base, d, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0)
    throw new Error('no PostgreSQL server under /usr/lib/postgresql: apt-get install postgresql');
  return join(base, majors[0] as string, 'bin');
}

function postgresUid(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user: is Debian postgresql installed?');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startPostgres(opts: { database?: string } = {}): Promise<PostgresServer> {
  const bin = postgresBin();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tbw-pg-'));
  const data = join(dir, 'data');
  const { uid, gid } = postgresUid();
  chownSync(dir, uid, gid);
  const user = 'tbw';
  const password = 'tbw';
  const database = opts.database ?? 'tbw';
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`);
  chownSync(pwfile, uid, gid);
  // postgres refuses to run as root: the cluster belongs to the Debian postgres user.
  const asPostgres = (cmd: string, args: string[]) =>
    run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { timeout: 120_000 });
  await asPostgres('initdb', [
    '-D',
    data,
    '-U',
    user,
    `--pwfile=${pwfile}`,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
  ]);
  const serverOpts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  try {
    await asPostgres('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'postgres.log'),
      '-w',
      '-t',
      '60',
      '-o',
      serverOpts,
      'start',
    ]);
  } catch (e) {
    const log = existsSync(join(dir, 'postgres.log')) ? readFileSync(join(dir, 'postgres.log'), 'utf8') : '';
    throw new Error(`PostgreSQL did not start: ${(e as Error).message}\n${log.slice(-2000)}`);
  }
  const psql = async (sql: string, db = database): Promise<string> => {
    const { stdout } = await run(
      join(bin, 'psql'),
      ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', db, '-tAXc', sql],
      {
        env: { ...process.env, PGPASSWORD: password },
        timeout: 60_000,
      },
    );
    return stdout.trim();
  };
  await psql(`CREATE DATABASE ${database}`, 'postgres').catch((e: Error) => {
    if (!/already exists/.test(e.message)) throw e;
  });
  let stopped = false;
  return {
    url: `postgresql://${user}:${password}@127.0.0.1:${port}/${database}`,
    port,
    user,
    password,
    database,
    psql,
    async stop() {
      if (stopped) return;
      stopped = true;
      await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
