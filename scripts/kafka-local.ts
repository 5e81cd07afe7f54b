/**
 * A real, local, single-node Kafka (KRaft broker + controller in one JVM) for development and tests,
 * built from the official jars on Maven Central: no Docker, no Kafka package needed, only Java 17+
 * (and Maven, once, to fetch the jars into .cache/kafka/libs).
 *
 *   npm run kafka -- fetch                  download the jars (only when missing)
 *   npm run kafka -- start [--port 9092]    start (or reuse) a broker, print KAFKA_BROKERS
 *   npm run kafka -- stop  [--port 9092]    stop the broker this script started
 *   npm run kafka -- status [--port 9092]
 *   npm run kafka -- topics [--brokers ..]  create the SPEC §4 topics that are missing
 *
 * The exported functions are what test/helpers/global-setup.ts uses.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '../src/config';
import {
  ensureTopics as ensureTopicsOn,
  serviceTopics,
  type TopicSpec,
} from '../src/infra/kafka-topics';

const ROOT = path.resolve(__dirname, '..');
const POM = path.join(ROOT, 'scripts', 'kafka', 'pom.xml');
const LOG4J_CONFIG = path.join(ROOT, 'scripts', 'kafka', 'log4j2.xml');
export const CACHE_DIR = path.join(ROOT, '.cache', 'kafka');
export const LIBS_DIR = path.join(CACHE_DIR, 'libs');

/** The Kafka version comes from the pom, so bumping it there is the whole upgrade. */
export const KAFKA_VERSION = ((): string => {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(fs.readFileSync(POM, 'utf8'));
  if (!match?.[1]) throw new Error(`no <kafka.version> in ${POM}`);
  return match[1];
})();

/** A problem the user can fix; the CLI prints only its message, on one line. */
export class KafkaLocalError extends Error {
  override name = 'KafkaLocalError';
}

const HOST = '127.0.0.1'; // not "localhost": Node may resolve it to ::1 first, where nothing listens.
const JAVA_HINT =
  'apt-get install openjdk-17-jre-headless maven, or run Kafka with `docker compose up` and set KAFKA_BROKERS';

// ---------------------------------------------------------------------------------------------
// Jars
// ---------------------------------------------------------------------------------------------

function jarsPresent(): boolean {
  return fs.existsSync(path.join(LIBS_DIR, `kafka_2.13-${KAFKA_VERSION}.jar`));
}

/** Fetches the broker's classpath with Maven unless this Kafka version is already cached. */
export async function ensureKafkaJars(): Promise<string> {
  if (jarsPresent()) return LIBS_DIR;
  requireTool('mvn', ['-v'], `Maven is needed once to fetch the Kafka ${KAFKA_VERSION} jars`);
  // Copy into a fresh folder and rename it into place, so an interrupted fetch never leaves a
  // half-filled libs folder that looks complete, and jars of an older version never linger.
  const staging = `${LIBS_DIR}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  const { code, output } = await run('mvn', [
    '-q',
    '-B',
    '-Dstyle.color=never',
    '-f',
    POM,
    'dependency:copy-dependencies',
    `-Dkafka.libs=${staging}`,
  ]);
  if (code !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(`mvn dependency:copy-dependencies failed (exit ${code}):\n${output}`);
  }
  fs.rmSync(LIBS_DIR, { recursive: true, force: true });
  fs.renameSync(staging, LIBS_DIR);
  if (!jarsPresent())
    throw new Error(`Maven succeeded but ${LIBS_DIR} has no kafka_2.13-${KAFKA_VERSION}.jar`);
  return LIBS_DIR;
}

// ---------------------------------------------------------------------------------------------
// Broker lifecycle
// ---------------------------------------------------------------------------------------------

export interface StartKafkaOptions {
  /** Client listener (PLAINTEXT). Default 9092. */
  port?: number;
  /** KRaft controller listener. Default port + 1. */
  controllerPort?: number;
  /** Data folder (config + log dirs). Default .cache/kafka/data-<port>. Kept between starts. */
  dataDir?: string;
  /** Wipe dataDir first: a broker with no topics and no offsets. */
  fresh?: boolean;
  /** How long to wait for the broker to answer describeCluster. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface RunningKafka {
  /** Comma-separated bootstrap list, e.g. "127.0.0.1:9092". */
  brokers: string;
  /** The broker JVM's pid; undefined when reusing a broker this script did not start (e.g. docker). */
  pid: number | undefined;
  /** True when this call spawned the JVM; false when a broker already answered on the port. */
  startedHere: boolean;
  /** Start-to-ready time of the JVM started by this call (0 when reused). */
  readyMs: number;
  /** Stops the broker if this call started it; a reused broker is left alone. */
  stop(): Promise<void>;
}

interface BrokerFiles {
  pidFile: string;
  logFile: string;
}

/** pid and log files are keyed by port: "stop" finds what "start" made without other state. */
function brokerFiles(port: number): BrokerFiles {
  return {
    pidFile: path.join(CACHE_DIR, `broker-${port}.pid`),
    logFile: path.join(CACHE_DIR, `broker-${port}.log`),
  };
}

/**
 * Starts a single-node KRaft broker on 127.0.0.1, or reuses one that already answers on the port.
 * Resolves once the broker answers describeCluster (a metadata round trip, not a port check).
 */
export async function startKafka(opts: StartKafkaOptions = {}): Promise<RunningKafka> {
  const port = opts.port ?? 9092;
  const controllerPort = opts.controllerPort ?? port + 1;
  const brokers = `${HOST}:${port}`;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const files = brokerFiles(port);
  const reused = (pid: number | undefined): RunningKafka => ({
    brokers,
    pid,
    startedHere: false,
    readyMs: 0,
    stop: async () => {},
  });

  if (await brokerAnswers(brokers, 1500)) return reused(ourBrokerPid(port));

  requireJava();
  await ensureKafkaJars();
  const dataDir = path.resolve(opts.dataDir ?? path.join(CACHE_DIR, `data-${port}`));
  const logDir = path.join(dataDir, 'kraft');
  const propsFile = path.join(dataDir, 'server.properties');

  // One of ours may be starting (another terminal, a parallel test run): wait for it, never start
  // a second JVM. Checked after the slow jar fetch; the exclusive pid file below settles the rest.
  const starting = ourBrokerPid(port);
  if (starting !== undefined) {
    await waitUntilReady(brokers, readyTimeoutMs, files.logFile, () => !isAlive(starting));
    return reused(starting);
  }
  fs.rmSync(files.pidFile, { force: true }); // stale: no live broker of ours behind it
  if (opts.fresh) fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(logDir, { recursive: true });
  fs.writeFileSync(propsFile, serverProperties({ port, controllerPort, logDir }));
  if (!fs.existsSync(path.join(logDir, 'meta.properties'))) await formatStorage(propsFile);

  const started = Date.now();
  const logFd = fs.openSync(files.logFile, 'w'); // truncate: the tail on failure is about this start
  const child = spawn('java', [...jvmArgs(), 'kafka.Kafka', propsFile], {
    cwd: dataDir,
    detached: true, // own process group: survives the parent (CLI `start` exits) and its Ctrl-C
    stdio: ['ignore', logFd, logFd],
  });
  fs.closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new KafkaLocalError(`could not spawn java (${JAVA_HINT})`);
  child.unref();
  let exited = false;
  child.once('exit', () => (exited = true));
  try {
    // Exclusive create: if a parallel start got here first, it owns the port. Our JVM is killed
    // long before it could bind (JVM start-up alone takes over a second).
    fs.writeFileSync(files.pidFile, `${pid}\n`, { flag: 'wx' });
  } catch {
    process.kill(pid, 'SIGKILL');
    const winner = ourBrokerPid(port);
    await waitUntilReady(
      brokers,
      readyTimeoutMs,
      files.logFile,
      () => winner === undefined || !isAlive(winner),
    );
    return reused(winner);
  }

  try {
    await waitUntilReady(brokers, readyTimeoutMs, files.logFile, () => exited);
  } catch (err) {
    await stopKafka({ port });
    throw err;
  }
  return {
    brokers,
    pid,
    startedHere: true,
    readyMs: Date.now() - started,
    stop: async () => void (await stopKafka({ port })),
  };
}

/**
 * Stops the broker that startKafka started on this port (found by its pid file); never touches a
 * process it did not start. SIGTERM (Kafka shuts down cleanly in ~2 s), SIGKILL after timeoutMs.
 * Resolves true when a broker was stopped.
 */
export async function stopKafka(
  opts: { port?: number; timeoutMs?: number } = {},
): Promise<boolean> {
  const port = opts.port ?? 9092;
  const { pidFile } = brokerFiles(port);
  const pid = ourBrokerPid(port);
  if (pid === undefined) {
    fs.rmSync(pidFile, { force: true }); // stale: the process is gone or the pid was reused
    return false;
  }
  process.kill(pid, 'SIGTERM');
  if (!(await pollUntil(() => !isAlive(pid), opts.timeoutMs ?? 20_000))) {
    process.kill(pid, 'SIGKILL');
    await pollUntil(() => !isAlive(pid), 5_000);
  }
  fs.rmSync(pidFile, { force: true });
  return true;
}

export interface KafkaStatus {
  brokers: string;
  answering: boolean;
  /** pid of the broker this script started on the port, if it is running. */
  pid: number | undefined;
}

export async function kafkaStatus(opts: { port?: number } = {}): Promise<KafkaStatus> {
  const port = opts.port ?? 9092;
  const brokers = `${HOST}:${port}`;
  return { brokers, answering: await brokerAnswers(brokers, 1500), pid: ourBrokerPid(port) };
}

/** Settings that make a one-node cluster start fast and behave (see KAFKA-NOTES.md). */
function serverProperties(p: { port: number; controllerPort: number; logDir: string }): string {
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // Static quorum: `StorageTool format` needs no --standalone then (verified on 4.4.0).
    'controller.quorum.voters': `1@${HOST}:${p.controllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${p.port},CONTROLLER://${HOST}:${p.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${p.port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': p.logDir,
    // Internal topics default to 3 replicas, which one node can never satisfy.
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1, // one coordinator partition: the first group starts fast
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0, // otherwise every new group waits 3 s
    'auto.create.topics.enable': false, // topics are created on purpose (ensureTopics)
    'num.partitions': 1,
  };
  return `# Written by scripts/kafka-local.ts on every start; edits are lost.\n${Object.entries(
    props,
  )
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')}\n`;
}

function jvmArgs(): string[] {
  return [
    '-Xms256m',
    '-Xmx512m', // the JVM default (1/4 of RAM) is far more than a test broker needs
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
    '-cp',
    `${LIBS_DIR}/*`, // expanded by java itself, no shell involved
  ];
}

/**
 * Kafka wants a cluster id in its own form: 16 random bytes, base64url without padding, not
 * starting with "-" (what `kafka.tools.StorageTool random-uuid` prints; saves one JVM start).
 */
function kafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function formatStorage(propsFile: string): Promise<void> {
  const { code, output } = await run('java', [
    ...jvmArgs(),
    'kafka.tools.StorageTool',
    'format',
    '--ignore-formatted',
    '-t',
    kafkaClusterId(),
    '-c',
    propsFile,
  ]);
  if (code !== 0) throw new Error(`kafka StorageTool format failed (exit ${code}):\n${output}`);
}

async function waitUntilReady(
  brokers: string,
  timeoutMs: number,
  logFile: string,
  died: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (died()) {
      throw new KafkaLocalError(
        `Kafka broker exited during start-up; ${logFile} ends with:\n${tail(logFile)}`,
      );
    }
    try {
      if (await describeCluster(brokers, 2000)) return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await delay(200);
  }
  throw new KafkaLocalError(
    `Kafka broker on ${brokers} not ready after ${timeoutMs / 1000} s (last error: ${lastError}); ` +
      `${logFile} ends with:\n${tail(logFile)}`,
  );
}

async function brokerAnswers(brokers: string, timeoutMs: number): Promise<boolean> {
  try {
    return await describeCluster(brokers, timeoutMs);
  } catch {
    return false;
  }
}

/** True when the cluster names at least one broker; throws when nothing answers. */
async function describeCluster(brokers: string, timeoutMs: number): Promise<boolean> {
  const admin = quietKafka(brokers, timeoutMs).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } finally {
    await admin.disconnect();
  }
}

function quietKafka(brokers: string, timeoutMs: number): Kafka {
  return new Kafka({
    clientId: 'kafka-local',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING, // probes fail on purpose while the broker starts
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
}

/** The pid from the port's pid file, only if that process is alive and is our broker. */
function ourBrokerPid(port: number): number | undefined {
  const { pidFile } = brokerFiles(port);
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8').trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  // Guard against pid reuse after a reboot: the command line must be a Kafka broker of ours.
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('kafka.Kafka') || !cmdline.includes(LIBS_DIR)) return undefined;
  } catch {
    // No /proc (macOS): trust the pid file.
  }
  return pid;
}

/** Alive and not a zombie (an exited child not yet reaped still answers kill(pid, 0)). */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------------------------

export type { TopicSpec };

export interface DefaultTopicOptions {
  eventsPartitions?: number;
  otherPartitions?: number;
}

/** The service's topics with the configured names and settings (`npm run kafka -- topics`). */
export function defaultTopics(o: DefaultTopicOptions = {}): TopicSpec[] {
  const config = loadConfig();
  return serviceTopics({
    ...config,
    KAFKA_EVENTS_PARTITIONS: o.eventsPartitions ?? config.KAFKA_EVENTS_PARTITIONS,
    KAFKA_OTHER_PARTITIONS: o.otherPartitions ?? config.KAFKA_OTHER_PARTITIONS,
  });
}

/** ensureTopics (src/infra/kafka-topics.ts) on a quiet client of its own. */
export async function ensureTopics(
  brokers: string | string[],
  topics: TopicSpec[],
): Promise<string[]> {
  const list = Array.isArray(brokers) ? brokers.join(',') : brokers;
  return ensureTopicsOn(quietKafka(list, 10_000), topics);
}

// ---------------------------------------------------------------------------------------------
// Small process helpers
// ---------------------------------------------------------------------------------------------

/** Throws one clear line when a tool is not installed. */
function requireTool(cmd: string, args: string[], why: string): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  if (res.error)
    throw new KafkaLocalError(`${why}, but \`${cmd}\` was not found on PATH: ${JAVA_HINT}`);
  return `${res.stdout}${res.stderr}`;
}

function requireJava(): void {
  const out = requireTool('java', ['-version'], 'Java 17+ is needed to run the local Kafka broker');
  // `java -version` prints e.g. `openjdk version "17.0.15"` (or "1.8.0_392" for Java 8).
  const version = /version "(\d+)(?:\.(\d+))?/.exec(out);
  const major = version?.[1] === '1' ? Number(version[2]) : Number(version?.[1]);
  if (Number.isFinite(major) && major < 17) {
    throw new KafkaLocalError(
      `Kafka ${KAFKA_VERSION} needs Java 17+, found Java ${major}: ${JAVA_HINT}`,
    );
  }
}

function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.once('error', (err) =>
      reject(new KafkaLocalError(`${cmd}: ${err.message} (${JAVA_HINT})`)),
    );
    child.once('close', (code) =>
      resolve({ code: code ?? 1, output: Buffer.concat(chunks).toString('utf8') }),
    );
  });
}

/** The end of a broker log without Java stack frames, so the ERROR and "Caused by" lines show. */
function tail(file: string, lines = 30): string {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .filter((line) => !/^\s+(at |\.\.\. \d+ more)/.test(line))
      .slice(-lines)
      .join('\n');
  } catch {
    return '(no log file)';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function pollUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await delay(100);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

const CLI_OPTIONS = {
  port: { type: 'string' },
  'controller-port': { type: 'string' },
  'data-dir': { type: 'string' },
  fresh: { type: 'boolean' },
  brokers: { type: 'string' },
  'events-partitions': { type: 'string' },
  'other-partitions': { type: 'string' },
} as const;

const USAGE =
  'usage: npm run kafka -- fetch|start|stop|status|topics [--port N] [--controller-port N] ' +
  '[--data-dir DIR] [--fresh] [--brokers HOST:PORT] [--events-partitions N] [--other-partitions N]';

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: CLI_OPTIONS });
  } catch (err) {
    throw new KafkaLocalError(`${(err as Error).message}\n${USAGE}`);
  }
  const { positionals, values } = parsed;
  const port = values.port === undefined ? undefined : Number(values.port);
  const int = (v: string | undefined): number | undefined =>
    v === undefined ? undefined : Number(v);
  switch (positionals[0]) {
    case 'fetch':
      console.log(`Kafka ${KAFKA_VERSION} jars in ${await ensureKafkaJars()}`);
      return;
    case 'start': {
      const k = await startKafka({
        port,
        controllerPort: int(values['controller-port']),
        dataDir: values['data-dir'],
        fresh: values.fresh ?? false,
      });
      const how = k.startedHere
        ? `started Kafka ${KAFKA_VERSION}, ready in ${(k.readyMs / 1000).toFixed(1)} s`
        : 'already running';
      console.log(`KAFKA_BROKERS=${k.brokers}  (${how}, pid ${k.pid ?? 'not ours'})`);
      return;
    }
    case 'stop':
      console.log(
        (await stopKafka({ port })) ? 'stopped' : 'no broker started by kafka-local on that port',
      );
      return;
    case 'status': {
      const s = await kafkaStatus({ port });
      console.log(
        `${s.brokers}: ${s.answering ? 'answering' : 'not answering'}; ${s.pid ? `pid ${s.pid} (ours)` : 'no broker of ours'}`,
      );
      if (!s.answering) process.exitCode = 1;
      return;
    }
    case 'topics': {
      const brokers = values.brokers ?? process.env.KAFKA_BROKERS ?? `${HOST}:${port ?? 9092}`;
      const topics = defaultTopics({
        eventsPartitions: int(values['events-partitions']),
        otherPartitions: int(values['other-partitions']),
      });
      const created = await ensureTopics(brokers, topics);
      for (const t of topics)
        console.log(`${created.includes(t.name) ? 'created' : 'exists '} ${t.name}`);
      return;
    }
    default:
      throw new KafkaLocalError(USAGE);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    // Messages carry what is needed (the hint, the mvn output, the broker log tail); no stack.
    console.error(`kafka-local: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
