/**
 * Exactly-once effect under crashes (issue 6 §2): a real child process runs the projector over
 * thousands of events (written with a raw kafkajs producer, some of them twice) and is SIGKILLed
 * at random points of the run, then restarted. At the end every event is applied exactly once,
 * and the read model equals a rebuild of the same topic that never crashed.
 */
import { randomInt } from 'node:crypto';
import { createPolicyStore } from '../../src/application/policy-store';
import { DEFAULT_POLICY } from '../../src/domain';
import { projectionChecksums, rebuildProjection } from '../../src/projector';
import { createTopics, waitFor } from '../helpers/infra';
import {
  MIN,
  RawProducer,
  count,
  ev,
  exactlyOnceReport,
  lifecycle,
  ownDatabase,
  projectorTopics,
  quietLog,
  rawKafka,
  spawnProjector,
  type OwnDatabase,
  type ProjectorTopics,
  type TestEvent,
} from './fixtures/projector-data';

jest.setTimeout(240_000);

let db: OwnDatabase;
let topics: ProjectorTopics;

beforeAll(async () => {
  db = await ownDatabase('projcrash');
  topics = projectorTopics('crash');
  await createTopics([{ name: topics.events, partitions: 3 }, topics.dlq]);
});

afterAll(async () => {
  await db?.drop();
});

const INCIDENTS = 450;
const PREFIX = `INC-CRASH-${Date.now().toString(36)}-`;

test('SIGKILL at random points: every event applied exactly once', async () => {
  const events: TestEvent[] = [];
  const t0 = Date.now() - 6 * 60 * MIN;
  for (let i = 0; i < INCIDENTS; i++) {
    const id = `${PREFIX}${i}`;
    events.push(...lifecycle(id, t0 + i * 1000, ['I', 'II', 'III', 'IV'][i % 4]));
    if (i % 5 === 0)
      events.push(ev(id, 'incident.reopened', t0 + i * 1000 + 55 * MIN, { reason: 'again' }));
  }
  const unique = events.length;
  // Redeliveries: 10 % of the events posted a second time, later in the log.
  const again = events.filter((_, i) => i % 10 === 3);
  const producer = new RawProducer();
  await producer.send(topics.events, [...events, ...again]);
  await producer.close();
  const records = unique + again.length;
  expect(unique).toBeGreaterThanOrEqual(2500);

  const applied = () =>
    count(db.pool, 'SELECT count(*) AS n FROM incident_events WHERE incident_id LIKE $1', [
      `${PREFIX}%`,
    ]);
  // Small fetches: many transactions, so a kill lands mid-run and often mid-transaction.
  const env = { PROJECTOR_FETCH_MAX_BYTES: '16384', PROJECTOR_CONCURRENCY: '3' };

  // One kill before the child even got its partitions.
  const early = spawnProjector(db, topics, env);
  await new Promise<void>((resolve) => setImmediate(resolve));
  await early.kill();

  let kills = 0;
  for (let round = 0; round < 6; round++) {
    const before = await applied();
    if (before >= unique) break;
    const target = Math.min(
      unique - 1,
      before + randomInt(50, Math.max(51, Math.floor(unique / 6))),
    );
    const child = spawnProjector(db, topics, env);
    await waitFor(async () => (await applied()) >= target || child.process.exitCode !== null, {
      timeoutMs: 60_000,
      intervalMs: 5,
      what: `progress to ${target} events`,
    });
    expect(child.process.exitCode).toBeNull();
    await child.kill('SIGKILL');
    kills++;
  }
  expect(kills).toBeGreaterThanOrEqual(3);

  const last = spawnProjector(db, topics, env);
  try {
    await waitFor(async () => (await applied()) === unique, {
      timeoutMs: 90_000,
      what: 'all events applied',
    });
    await waitFor(
      async () =>
        (await count(
          db.pool,
          'SELECT coalesce(sum(next_offset), 0) AS n FROM projector_offsets WHERE group_id = $1',
          [topics.group],
        )) === records,
      { timeoutMs: 30_000, what: 'every record consumed' },
    );
  } finally {
    await last.kill('SIGTERM');
  }

  expect(await exactlyOnceReport(db.pool, PREFIX)).toEqual({
    applied: unique,
    timeline: unique,
    eventCountSum: unique,
    mismatched: 0,
    duplicateOffsets: 0,
  });
  expect(
    await count(
      db.pool,
      `SELECT count(*) AS n FROM incidents WHERE incident_id LIKE $1 AND status = 'resolved'`,
      [`${PREFIX}%`],
    ),
  ).toBe(INCIDENTS - INCIDENTS / 5);

  // The crashed-and-restarted read model equals one built in a single uninterrupted pass.
  const kafka = rawKafka('crash-rebuild');
  const report = await rebuildProjection(
    {
      pool: db.pool,
      kafka,
      log: quietLog,
      clock: { now: () => Date.now() },
      policies: createPolicyStore(db.pool, DEFAULT_POLICY),
    },
    {
      groupId: topics.group,
      topic: topics.events,
      maxEventBytes: 256 * 1024,
      concurrency: 3,
      fetchMaxBytes: 4 * 1024 * 1024,
      dryRun: true,
    },
  );
  expect(report.records).toBe(records);
  expect(await projectionChecksums(db.pool)).toEqual(report.checksums);
});
