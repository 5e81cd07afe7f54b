/**
 * Infrastructure the fault suite may kill: a Postgres cluster and a Kafka broker of its own, in a
 * temporary folder, on ports of its own (never the machine's shared cluster on 5432 or the shared
 * broker on 9092). Used by `npm run chaos`, the reduced run in `npm test` (test/e2e/chaos.test.ts)
 * and `npm run bench -- storage`.
 *
 * Postgres: `initdb` and `pg_ctl` from the machine's PostgreSQL binaries (PG_BIN, default
 * /usr/lib/postgresql/15/bin). Postgres refuses to run as root, so when this process is root the
 * binaries run as the `postgres` user (`runuser`) and the folder is given to that user.
 * Kafka: scripts/kafka-local.ts with its own port and data folder.
 * Anything that cannot be brought up throws with what was tried: the suite never skips.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { startKafka, stopKafka } from '../../scripts/kafka-local';

const run = promisify(execFile);

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Runs a Postgres binary as the `postgres` OS user when we are root (Postgres refuses root). */
async function pgTool(tool: string, args: string[]): Promise<string> {
  const bin = path.join(PG_BIN, tool);
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} not found: install PostgreSQL 15 server binaries or set PG_BIN`);
  }
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  try {
    const { stdout, stderr } = await run(cmd, argv, { timeout: 120_000 });
    return `${stdout}${stderr}`;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${tool} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
  }
}

export interface PgCluster {
  port: number;
  dir: string;
  /** postgres://postgres@127.0.0.1:<port>/<db> */
  url(db: string): string;
  /** The postmaster's pid (changes with every start). */
  pid(): number;
  /** SIGKILL the postmaster and wait until its children are gone too (a crash, not a stop). */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Stops (fast) and removes the folder. */
  destroy(): Promise<void>;
}

/**
 * A fresh cluster in a temporary folder: trust auth, 127.0.0.1 only, socket in the folder.
 * Autovacuum is off unless `autovacuum` is true: the shared machine runs that way, and the storage
 * figures are taken under it.
 */
export async function startPgCluster(
  port: number,
  options: { autovacuum?: boolean } = {},
): Promise<PgCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'i12chaos-pg-'));
  fs.chmodSync(dir, 0o700);
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:', dir]);
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  await pgTool('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    `-c autovacuum=${options.autovacuum ? 'on' : 'off'}`,
    '-c max_connections=200',
    // A test cluster: the OS never crashes under it, so skipping fsync loses nothing a kill could.
    '-c fsync=off',
    '-c full_page_writes=off',
  ].join(' ');
  const start = async () => {
    await pgTool('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', settings, 'start']);
  };
  const pidOf = (): number => {
    const text = fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8');
    return Number(text.split('\n')[0]);
  };
  await start().catch((err: Error) => {
    throw new Error(`${err.message}\n--- ${logFile} ---\n${tail(logFile)}`);
  });
  return {
    port,
    dir,
    url: (db) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    pid: pidOf,
    kill: async () => {
      const pid = pidOf();
      const children = childPids(pid);
      process.kill(pid, 'SIGKILL');
      await until(() => ![pid, ...children].some(alive), 30_000, 'Postgres processes to exit');
    },
    start,
    destroy: async () => {
      await pgTool('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    },
  };
}

/** Creates a database on the cluster (the service would too; the judge connects first). */
export async function createDatabase(cluster: PgCluster, name: string): Promise<string> {
  const client = new Client({ connectionString: cluster.url('postgres') });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return cluster.url(name);
}

export interface OwnBroker {
  brokers: string;
  pid(): number;
  kill(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** A broker of its own (scripts/kafka-local.ts) on `port` (controller port + 1), data in a temp folder. */
export async function startOwnBroker(port: number): Promise<OwnBroker> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'i12chaos-kafka-'));
  let pid = 0;
  const start = async () => {
    const k = await startKafka({ port, dataDir, readyTimeoutMs: 120_000 });
    if (!k.startedHere || k.pid === undefined) {
      throw new Error(
        `a broker already answers on 127.0.0.1:${port}; the fault suite needs one it may kill`,
      );
    }
    pid = k.pid;
  };
  await start();
  return {
    brokers: `127.0.0.1:${port}`,
    pid: () => pid,
    kill: async () => {
      process.kill(pid, 'SIGKILL');
      await until(() => !alive(pid), 30_000, 'the broker to exit');
    },
    start,
    destroy: async () => {
      await stopKafka({ port }).catch(() => undefined);
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Process helpers (Linux /proc).

/** Alive and not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

function childPids(parent: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Resident set size of a process in bytes (0 when it is gone). */
/**
 * The first child of process `pid` (Linux /proc), or undefined: the service under `npm run up`,
 * whose script execs node, so that npm's child is the service itself.
 */
export function childOf(pid: number): number | undefined {
  try {
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return Number(children.split(' ')[0]) || undefined;
  } catch {
    return undefined;
  }
}

export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The 1-minute load average, for the printed figures. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

export async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
