/**
 * Roles come up independently (issue 12 §1), with the whole service in real processes started as
 * a user starts them (`npm run up`, every role), the real broker and Postgres:
 * - SIGKILL while timers are about to come due, restart at once: every overdue breach and
 *   escalation reaches a plain kafkajs consumer exactly once (per id and per milestone), none
 *   early; the restarted process answered /readyz 200 with its roles listed; the projector is back
 *   (an incident posted after the restart breaches, which only the projector can plan), and it
 *   got back by removing the member the killed process left in the consumer group;
 * - a graceful stop (SIGTERM) leaves the consumer group at once: no member is left behind;
 * - npm killed alone (SIGKILL cannot be passed on) does not leave the service running without it,
 *   holding its port: the service notices and stops gracefully (scripts/up.ts stopWithParent).
 * No assertion on time; the timings are printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Consumer } from 'kafkajs';
import { Pool } from 'pg';
import { createApiKey } from '../../src/http/api-keys';
import { processAlive } from '../../src/infra/kafka-consumer';
import { childOf } from '../chaos/infra';
import {
  createTopics,
  dropDatabase,
  freePort,
  testConfig,
  testKafka,
  uniqueTopic,
  waitFor,
} from '../helpers/infra';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '../..');
const MIN = 60_000;

interface Service {
  child: ChildProcess;
  output: () => string;
  exited: Promise<void>;
}

interface Received {
  id: string;
  type: string;
  subject: string;
  milestone: string | null;
  dueAt: number | null;
  breachedAt: number | null;
  receivedAt: number;
}

const { brokers, databaseUrl: runDb } = testConfig();
const topics = {
  events: uniqueTopic('restart.events'),
  warnings: uniqueTopic('restart.warnings'),
  escalations: uniqueTopic('restart.escalations'),
  dlq: uniqueTopic('restart.dlq'),
};
const group = uniqueTopic('restart.projector');
const writer = createApiKey(['events:write'], 'restart-writer');
const dbName = `${new URL(runDb).pathname.slice(1)}_restart`;
const dbUrl = (() => {
  const url = new URL(runDb);
  url.pathname = `/${dbName}`;
  return url.toString();
})();
let port: number;
let consumer: Consumer;
let pool: Pool;
const received: Received[] = [];
const services: Service[] = [];

/** `npm run up` in a process group of its own (killGroup kills npm and the service at once). */
function startService(): Service {
  let output = '';
  const child = spawn('npm', ['run', '--silent', 'up'], {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      ROLES: 'api,projector,scheduler',
      HTTP_PORT: String(port),
      DATABASE_URL: dbUrl,
      KAFKA_BROKERS: brokers.join(','),
      KAFKA_TOPIC_EVENTS: topics.events,
      KAFKA_TOPIC_WARNINGS: topics.warnings,
      KAFKA_TOPIC_ESCALATIONS: topics.escalations,
      KAFKA_TOPIC_DLQ: topics.dlq,
      PROJECTOR_GROUP_ID: group,
      API_KEYS: writer.configEntry,
      LOG_LEVEL: 'info',
      // Long enough that the killed member cannot simply expire while the new process starts:
      // the projector is back only because it removed that member.
      PROJECTOR_SESSION_TIMEOUT_MS: '45000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const service = { child, output: () => output, exited };
  services.push(service);
  return service;
}

/** SIGKILL to npm and the service together (a crash of the whole unit). */
function killGroup(service: Service): void {
  try {
    process.kill(-service.child.pid!, 'SIGKILL');
  } catch {
    // gone already
  }
}

async function readyz(): Promise<{ status: number; body: { roles?: Record<string, string> } }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: (await res.json()) as { roles?: Record<string, string> } };
}

function report(subject: string, dueAt: number) {
  return {
    specversion: '1.0',
    id: `${subject}-reported`,
    source: '/restart-test',
    type: 'incident.reported',
    subject,
    time: new Date(dueAt - 5 * MIN).toISOString(),
    data: { severity: 'I', title: 'restart test', site: 'lab' },
  };
}

async function post(events: object[]): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/cloudevents-batch+json',
      authorization: `Bearer ${writer.token}`,
    },
    body: JSON.stringify(events),
  });
  await res.arrayBuffer();
  return res.status;
}

async function groupMembers(): Promise<number> {
  const admin = testKafka('restart-admin').admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([group]);
    return groups[0]?.members.length ?? 0;
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  port = await freePort();
  await createTopics([
    { name: topics.events, partitions: 3 },
    topics.warnings,
    topics.escalations,
    topics.dlq,
  ]);
  consumer = testKafka('restart-pager').consumer({ groupId: uniqueTopic('restart.pager') });
  await consumer.connect();
  await consumer.subscribe({ topic: topics.escalations, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const e = JSON.parse(message.value!.toString()) as {
        id: string;
        type: string;
        subject: string;
        data: { milestone?: string | null; dueAt?: string; breachedAt?: string };
      };
      received.push({
        id: e.id,
        type: e.type,
        subject: e.subject,
        milestone: e.data.milestone ?? null,
        dueAt: e.data.dueAt ? Date.parse(e.data.dueAt) : null,
        breachedAt: e.data.breachedAt ? Date.parse(e.data.breachedAt) : null,
        receivedAt: Date.now(),
      });
    },
  });
});

afterAll(async () => {
  for (const s of services) killGroup(s);
  await Promise.all(services.map((s) => s.exited));
  await consumer?.disconnect();
  await pool?.end();
  await dropDatabase(runDb, dbName);
});

test('SIGKILL, restart: overdue timers fire once, never early; the projector rejoins; SIGTERM leaves the group', async () => {
  const first = startService();
  await waitFor(async () => (await readyz()).body.roles?.projector === 'running', {
    timeoutMs: 90_000,
    intervalMs: 100,
    what: 'the first instance with its projector running',
  });
  pool = new Pool({ connectionString: dbUrl, max: 1 });

  // Due 6 s from now (on this process's clock, which the service shares): planned, then killed
  // just before they come due, so they are overdue when the new process starts.
  const prefix = `INC-RESTART-${Date.now().toString(36)}-`;
  const n = 20;
  const dueAt = Date.now() + 6_000;
  expect(await post(Array.from({ length: n }, (_, i) => report(`${prefix}${i}`, dueAt)))).toBe(202);
  await waitFor(
    async () => {
      const { rows } = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM timers WHERE incident_id LIKE $1 AND kind = 'breach'
           AND due_at = to_timestamp($2 / 1000.0)`,
        [`${prefix}%`, dueAt],
      );
      return Number(rows[0]!.n) === 2 * n;
    },
    { timeoutMs: 30_000, what: 'the breach timers planned' },
  );
  await waitFor(() => Date.now() >= dueAt - 200, {
    intervalMs: 10,
    what: 'just before the deadline',
  });
  const killedAt = Date.now();
  killGroup(first);
  await first.exited;
  const second = startService();

  // Ready with the roles listed, whatever the projector is doing meanwhile.
  const ready = await waitFor(
    async () => {
      const r = await readyz().catch(() => null);
      return r?.status === 200 ? { at: Date.now(), body: r.body } : null;
    },
    { timeoutMs: 60_000, intervalMs: 20, what: '/readyz 200 after the restart' },
  );
  expect(Object.keys(ready.body.roles ?? {}).sort()).toEqual(['api', 'projector', 'scheduler']);

  // An incident whose deadline passed already: only the projector can plan its breach.
  const late = `${prefix}late`;
  await waitFor(async () => (await post([report(late, Date.now() - 1_000)])) === 202, {
    timeoutMs: 30_000,
    what: 'a POST accepted after the restart',
  });

  const mine = () => received.filter((r) => r.subject.startsWith(prefix));
  await waitFor(() => mine().filter((r) => r.type !== 'sla.warning').length >= 3 * (n + 1), {
    timeoutMs: 90_000,
    intervalMs: 50,
    what: 'every breach and escalation',
  });
  const projectorBackAt = Date.now();
  await waitFor(async () => (await readyz()).body.roles?.projector === 'running', {
    timeoutMs: 30_000,
    what: 'the projector running',
  });

  const all = mine();
  // Nothing was due before the kill (never early), so everything below came from the new process.
  expect(all.filter((r) => r.receivedAt < killedAt)).toEqual([]);
  const ids = new Set(all.map((r) => r.id));
  const breaches = [
    ...new Map(all.filter((r) => r.type === 'sla.breached').map((r) => [r.id, r])).values(),
  ];
  const escalations = new Set(all.filter((r) => r.type === 'incident.escalated').map((r) => r.id));
  // One id per milestone and incident, one escalation per incident: nothing doubled, nothing lost.
  expect(new Set(breaches.map((r) => `${r.subject}/${r.milestone}`)).size).toBe(breaches.length);
  expect(breaches.length).toBe(2 * (n + 1));
  expect(escalations.size).toBe(n + 1);
  expect(ids.size).toBe(breaches.length + escalations.size);
  // Never early: not received, and not detected, before the deadline.
  const early = breaches.filter(
    (r) => r.receivedAt < (r.dueAt ?? 0) || (r.breachedAt ?? 0) < (r.dueAt ?? 0),
  );
  expect(early).toEqual([]);
  // The restarted process removed the member the killed one left in the group.
  expect(second.output()).toContain('removed group members a dead process left behind');

  const overdue = breaches.filter((r) => r.subject !== late).map((r) => r.receivedAt);
  const lateAt = breaches.find((r) => r.subject === late)?.receivedAt ?? projectorBackAt;
  const s = (t: number) => `${((t - killedAt) / 1000).toFixed(2)} s`;
  process.stdout.write(
    `restart after SIGKILL: /readyz 200 ${s(ready.at)}, first overdue breach ${s(Math.min(...overdue))}, ` +
      `last ${s(Math.max(...overdue))}, new incident's breach (projector back) ${s(lateAt)}\n`,
  );

  // A graceful stop leaves the group at once (no session to wait out).
  expect(await groupMembers()).toBe(1);
  second.child.kill('SIGTERM');
  await second.exited;
  expect(second.child.exitCode).toBe(0);
  expect(await groupMembers()).toBe(0);
});

test('npm run up: npm SIGKILLed alone, the service stops with it and leaves the group', async () => {
  const service = startService();
  await waitFor(
    async () => (await readyz().catch(() => null))?.body.roles?.projector === 'running',
    {
      timeoutMs: 90_000,
      intervalMs: 100,
      what: 'the instance with its projector running',
    },
  );
  const pid = childOf(service.child.pid!);
  if (pid === undefined) throw new Error('npm run up has no child process');
  service.child.kill('SIGKILL'); // npm only: it cannot pass SIGKILL on
  await service.exited;
  await waitFor(() => !processAlive(pid), {
    timeoutMs: 30_000,
    intervalMs: 50,
    what: 'the service to stop after npm was killed',
  });
  expect(service.output()).toContain('is gone; stopping');
  // Gracefully: it left the consumer group (no member for a successor to wait out) and freed the
  // port for the next `npm run up`.
  expect(await groupMembers()).toBe(0);
  await expect(fetch(`http://127.0.0.1:${port}/readyz`)).rejects.toThrow();
});
