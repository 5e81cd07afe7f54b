/**
 * The service as real processes started the way a user starts it (`npm run up`, every role unless
 * told, each in a process group of its own), configured only through the environment variables
 * the README documents (KAFKA_BROKERS and API_KEYS set: `up` starts no broker and makes no key).
 * The suite kills them with SIGKILL (npm and the service together) and starts them again, like a
 * supervisor would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createApiKey } from '../../src/http/api-keys';
import { childOf, rssBytes, sleep } from './infra';

const ROOT = path.resolve(__dirname, '../..');

export interface Topics {
  events: string;
  warnings: string;
  escalations: string;
  dlq: string;
}

export interface ServiceSetup {
  label: string;
  databaseUrl: string;
  brokers: string;
  topics: Topics;
  groupId: string;
  writeToken: string;
  apiKeys: string;
  /** Extra variables (e.g. RATE_LIMIT_MAX). */
  env?: Record<string, string>;
}

export function apiKeys(): { writeToken: string; readToken: string; apiKeys: string } {
  const writer = createApiKey(['events:write'], 'chaos-writer');
  const reader = createApiKey(['incidents:read'], 'chaos-reader');
  return {
    writeToken: writer.token,
    readToken: reader.token,
    apiKeys: `${writer.configEntry},${reader.configEntry}`,
  };
}

/** One instance: a fixed HTTP port; start/kill/stop any number of times. */
export class ServiceProcess {
  private child: ChildProcess | null = null;
  private log = '';
  /** Exits not caused by our kill() or stop(): a crash. */
  unexpectedExits = 0;
  starts = 0;
  private killing = false;

  constructor(
    readonly setup: ServiceSetup,
    readonly port: number,
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The service's process (npm's child), not npm's. */
  get pid(): number | undefined {
    return this.running ? childOf(this.child!.pid!) : undefined;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last ~64 KB the process wrote (shown when a check fails). */
  output(): string {
    return this.log;
  }

  start(): void {
    if (this.running) throw new Error(`${this.setup.label}: already running`);
    const { setup } = this;
    this.starts += 1;
    this.killing = false;
    const child = spawn('npm', ['run', '--silent', 'up'], {
      cwd: ROOT,
      detached: true,
      env: {
        ...process.env,
        ROLES: 'api,projector,scheduler',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(this.port),
        DATABASE_URL: setup.databaseUrl,
        KAFKA_BROKERS: setup.brokers,
        KAFKA_CLIENT_ID: setup.label,
        KAFKA_TOPIC_EVENTS: setup.topics.events,
        KAFKA_TOPIC_WARNINGS: setup.topics.warnings,
        KAFKA_TOPIC_ESCALATIONS: setup.topics.escalations,
        KAFKA_TOPIC_DLQ: setup.topics.dlq,
        PROJECTOR_GROUP_ID: setup.groupId,
        API_KEYS: setup.apiKeys,
        LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
        ...setup.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const append = (b: Buffer) => {
      this.log += b.toString();
      if (this.log.length > 65_536) this.log = this.log.slice(-65_536);
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    child.once('exit', (code, signal) => {
      if (!this.killing) {
        this.unexpectedExits += 1;
        this.log += `\n[chaos] ${this.setup.label} exited by itself (code ${code}, signal ${signal})\n`;
      }
    });
    this.child = child;
  }

  /**
   * SIGKILL to npm and the service together: no shutdown hook runs, nothing is flushed. Resolves
   * once npm is gone (the service went with it).
   */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.killing = true;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    killGroup(child);
    await exited;
  }

  /** SIGTERM to npm, which passes it on (a graceful stop); SIGKILL to all after 15 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.killing = true;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => killGroup(child), 15_000);
    await exited;
    clearTimeout(timer);
  }

  rss(): number {
    const pid = this.pid;
    return pid === undefined ? 0 : rssBytes(pid);
  }

  /** GET /readyz: status and body, or null when nothing answers. */
  async readyz(): Promise<{ status: number; body: ReadyBody } | null> {
    try {
      const res = await fetch(`${this.baseUrl}/readyz`, { signal: AbortSignal.timeout(8_000) });
      return { status: res.status, body: (await res.json()) as ReadyBody };
    } catch {
      return null;
    }
  }

  /** Waits until /readyz answers 200 (throws with the output when the process dies or time runs out). */
  async waitReady(timeoutMs = 120_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      if (!this.running) {
        throw new Error(`${this.setup.label} is not running:\n${this.output()}`);
      }
      const r = await this.readyz();
      if (r?.status === 200) return Date.now() - started;
      if (Date.now() - started > timeoutMs) {
        throw new Error(
          `${this.setup.label} not ready after ${timeoutMs} ms (last /readyz: ${JSON.stringify(r)}):\n${this.output()}`,
        );
      }
      await sleep(200);
    }
  }
}

export interface ReadyBody {
  status: string;
  checks?: Record<string, unknown>;
  missing?: string[];
  [key: string]: unknown;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // gone already
  }
}
