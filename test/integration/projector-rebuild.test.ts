/**
 * Rebuild (issue 6 §5): replaying the topic from offset 0 into fresh tables and switching to them
 * gives tables identical to the live ones (checksums), never re-plans a timer that fired, writes
 * no outbox or escalation rows again, keeps the views and triggers working, and a live projector
 * running during the rebuild continues from the rebuilt position.
 */
import { createInspectionSchedule } from '../../src/application/inspections';
import { createPolicyStore } from '../../src/application/policy-store';
import { timerEventId } from '../../src/contracts/sla-events';
import { DEFAULT_POLICY } from '../../src/domain';
import { projectionChecksums, rebuildProjection } from '../../src/projector';
import { createTopics, waitFor } from '../helpers/infra';
import {
  MIN,
  RawProducer,
  count,
  ev,
  lifecycle,
  ownDatabase,
  projectorTopics,
  quietLog,
  rawKafka,
  startProjector,
  type InProcessProjector,
  type OwnDatabase,
  type ProjectorTopics,
  type TestEvent,
} from './fixtures/projector-data';

jest.setTimeout(180_000);

let db: OwnDatabase;
let topics: ProjectorTopics;
let producer: RawProducer;
let live: InProcessProjector | undefined;

beforeAll(async () => {
  db = await ownDatabase('projrebuild');
  topics = projectorTopics('rebuild');
  await createTopics([{ name: topics.events, partitions: 2 }, topics.dlq]);
  producer = new RawProducer();
});

afterAll(async () => {
  await live?.stop();
  await producer?.close();
  await db?.drop();
});

const rebuild = (dryRun = false, beforeSwap?: () => Promise<void>) =>
  rebuildProjection(
    {
      pool: db.pool,
      kafka: rawKafka('rebuild-test'),
      log: quietLog,
      clock: { now: () => Date.now() },
      policies: createPolicyStore(db.pool, DEFAULT_POLICY),
    },
    {
      groupId: topics.group,
      topic: topics.events,
      maxEventBytes: 256 * 1024,
      concurrency: 2,
      fetchMaxBytes: 4 * 1024 * 1024,
      dryRun,
      beforeSwap,
    },
  );

const appliedCount = () => count(db.pool, 'SELECT count(*) AS n FROM incident_events');

/** A bit of everything: finished, open, reopened, pending, duplicated, shuffled, poison. */
function mixedEvents(prefix: string): {
  events: (TestEvent | { key: string; value: string })[];
  unique: number;
} {
  const out: TestEvent[] = [];
  const now = Date.now();
  for (let i = 0; i < 40; i++)
    out.push(...lifecycle(`${prefix}-done-${i}`, now - 5 * 60 * MIN + i * MIN));
  for (let i = 0; i < 30; i++) {
    const id = `${prefix}-open-${i}`;
    out.push(
      ev(id, 'incident.reported', now - 2 * MIN, {
        severity: ['I', 'II', 'III', 'IV'][i % 4],
        title: id,
      }),
    );
    if (i % 2) out.push(ev(id, 'incident.acknowledged', now - MIN));
    if (i % 3 === 0) out.push(ev(id, 'incident.paused', now - 30_000, { reason: 'customer away' }));
    if (i % 5 === 0) {
      out.push(
        ev(id, 'incident.cost_recorded', now - MIN, {
          kind: 'material',
          amount: i,
          currency: 'CNY',
        }),
      );
    }
  }
  for (let i = 0; i < 10; i++)
    out.push(ev(`${prefix}-pending-${i}`, 'incident.acknowledged', now - MIN));
  const reopened = lifecycle(`${prefix}-reopen`, now - 3 * 60 * MIN);
  reopened.push(ev(`${prefix}-reopen`, 'incident.reopened', now - 60 * MIN, { reason: 'back' }));
  out.push(...reopened.reverse());
  const unique = out.length;
  return {
    events: [
      ...out,
      ...out.slice(0, 25),
      { key: `${prefix}-poison`, value: '{"not": "an event"}' },
    ],
    unique,
  };
}

test('rebuild equals the live tables, re-fires nothing, keeps views and triggers', async () => {
  live = await startProjector(db, topics);
  const { events, unique } = mixedEvents('INC-RB1');
  const escalation = ev('INC-RB1-open-1', 'incident.escalated', Date.now() - 30_000, {
    toTier: 3,
    reason: 'vendor needed',
  });
  await producer.send(topics.events, [...events, escalation]);
  await waitFor(async () => (await appliedCount()) === unique + 1, {
    timeoutMs: 60_000,
    what: 'all applied',
  });

  // The scheduler fires one warning timer: its row goes, a timer_fires row stays.
  const { rows } = await db.pool.query<{
    timer_key: string;
    generation: string;
    incident_id: string;
  }>(
    `SELECT timer_key, generation, incident_id FROM timers WHERE kind = 'warning' ORDER BY timer_key LIMIT 1`,
  );
  const fired = rows[0]!;
  await db.pool.query(
    `INSERT INTO timer_fires (timer_key, generation, incident_id, milestone, cycle, kind, due_at, event_id)
     SELECT timer_key, generation, incident_id, milestone, cycle, kind, due_at, $2 FROM timers WHERE timer_key = $1`,
    [fired.timer_key, timerEventId(fired.timer_key, fired.generation, 'warning')],
  );
  await db.pool.query('DELETE FROM timers WHERE timer_key = $1', [fired.timer_key]);

  await live.stop();
  live = undefined;
  const before = await projectionChecksums(db.pool);
  const outboxBefore = await count(db.pool, 'SELECT count(*) AS n FROM outbox');
  const escalationsBefore = await count(db.pool, 'SELECT count(*) AS n FROM escalations');
  expect(outboxBefore).toBe(1);

  const shape = async () =>
    (
      await db.pool.query<{ def: string }>(
        `SELECT indexdef AS def FROM pg_indexes WHERE schemaname = 'public'
           AND tablename = ANY($1::text[])
         UNION ALL
         SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = ANY($2::regclass[])
         UNION ALL
         SELECT c.relname || ' ' || c.relpersistence::text || ' ' || coalesce(array_to_string(c.reloptions, ','), '')
         FROM pg_class c WHERE c.oid = ANY($2::regclass[])
         ORDER BY 1`,
        [tables, tables.map((t) => `public.${t}`)],
      )
    ).rows.map((r) => r.def);
  const tables = [
    'projector_offsets',
    'incidents',
    'milestones',
    'incident_events',
    'timers',
    'incident_costs',
  ];
  const shapeBefore = await shape();
  // The dispatches of the finished incidents and the recorded costs (src/domain/costs.ts).
  expect(before.incident_costs).toMatch(/^47:/);

  const report = await rebuild();
  expect(report.swapped).toBe(true);
  // Same indexes, constraints, persistence and storage options as before.
  expect(await shape()).toEqual(shapeBefore);
  expect(report.checksums).toEqual(before);
  expect(await projectionChecksums(db.pool)).toEqual(before);
  expect(
    await count(db.pool, 'SELECT count(*) AS n FROM timers WHERE timer_key = $1', [
      fired.timer_key,
    ]),
  ).toBe(0);
  expect(await count(db.pool, 'SELECT count(*) AS n FROM outbox')).toBe(outboxBefore);
  expect(await count(db.pool, 'SELECT count(*) AS n FROM escalations')).toBe(escalationsBefore);

  // Views and triggers now read and watch the new tables; nothing of the old ones is left.
  expect(await count(db.pool, 'SELECT count(*) AS n FROM v_incidents')).toBe(
    await count(db.pool, 'SELECT count(*) AS n FROM incidents'),
  );
  expect(await count(db.pool, 'SELECT count(*) AS n FROM v_milestones')).toBe(
    await count(db.pool, 'SELECT count(*) AS n FROM milestones'),
  );
  expect(
    await count(
      db.pool,
      `SELECT count(*) AS n FROM pg_namespace WHERE nspname LIKE 'projector_rebuild_%'`,
    ),
  ).toBe(0);
  const { rows: triggers } = await db.pool.query<{ tgname: string }>(
    `SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.timers'::regclass AND NOT tgisinternal ORDER BY 1`,
  );
  expect(triggers.map((t) => t.tgname)).toEqual(expect.arrayContaining(['timers_notify_insert']));

  // The projector picks up where the rebuild ended.
  live = await startProjector(db, topics);
  await producer.send(topics.events, [ev('INC-RB1-open-2', 'incident.resolved', Date.now())]);
  await waitFor(async () => (await appliedCount()) === unique + 2, {
    what: 'a new event after the rebuild',
  });
});

test('a live projector running through a rebuild continues from the rebuilt position', async () => {
  live ??= await startProjector(db, topics);
  const base = await appliedCount();
  const { events, unique } = mixedEvents('INC-RB2');
  const half = Math.floor(events.length / 2);
  await producer.send(topics.events, events.slice(0, half));
  const firstHalf = unique - (events.length - half) + 26; // the tail holds 25 copies + 1 poison
  await waitFor(async () => (await appliedCount()) >= base + Math.min(firstHalf, half), {
    what: 'first half applied live',
  });
  const report = await rebuild(false, async () => {
    // After the replay ended, before the swap: the live projector moves ahead on the old tables,
    // and the rebuild has to catch up with it.
    await producer.send(topics.events, events.slice(half));
    await waitFor(async () => (await appliedCount()) === base + unique, {
      what: 'second half applied live',
    });
  });
  expect(report.swapped).toBe(true);
  // The swap happened under the live projector's feet: the rebuilt tables caught up with its
  // stored offsets inside the swap transaction, so nothing is missing and nothing is doubled.
  expect(await appliedCount()).toBe(base + unique);
  const extra = [ev('INC-RB2-open-3', 'incident.resolved', Date.now())];
  await producer.send(topics.events, extra);
  await waitFor(async () => (await appliedCount()) === base + unique + 1, {
    what: 'later event applied',
  });
  await waitFor(
    async () => {
      const { rows } = await db.pool.query<{ n: string }>(
        `SELECT coalesce(sum(next_offset), 0) AS n FROM projector_offsets WHERE group_id = $1`,
        [topics.group],
      );
      const admin = rawKafka().admin();
      await admin.connect();
      const ends = await admin.fetchTopicOffsets(topics.events).finally(() => admin.disconnect());
      return Number(rows[0]!.n) === ends.reduce((s, o) => s + Number(o.high), 0);
    },
    { timeoutMs: 30_000, what: 'the live projector at the end of the topic' },
  );
  const dry = await rebuild(true);
  expect(dry.swapped).toBe(false);
  expect(await projectionChecksums(db.pool)).toEqual(dry.checksums);
});

test('inspection timers (written by the API, not projected) and completions survive a rebuild', async () => {
  live ??= await startProjector(db, topics);
  const now = Date.now();
  const soon = (h: number) => new Date(now + h * 3_600_000).toISOString();
  await createInspectionSchedule(
    db.pool,
    {
      id: 'rb-insp',
      site: 'HQ',
      quarterly: false,
      dates: [
        { id: 'a', dueAt: soon(1), label: 'event a' },
        { id: 'b', dueAt: soon(2), label: 'event b' },
      ],
    },
    { createdBy: null, now, defaultTimeZone: 'UTC' },
  );
  const inspectionTimers = () =>
    db.pool
      .query<{ timer_key: string }>(
        `SELECT timer_key FROM timers WHERE incident_id LIKE 'inspection/%' ORDER BY 1`,
      )
      .then((r) => r.rows.map((t) => t.timer_key));
  const base = await appliedCount();
  await producer.send(topics.events, [
    // Same subject as the marker: one partition, in order.
    ev('INC-RB3', 'inspection.completed', now - 1_000, { site: 'HQ', inspectionId: 'rb-insp:a' }),
    ev('INC-RB3', 'incident.acknowledged', now),
  ]);
  await waitFor(async () => (await appliedCount()) === base + 1, { what: 'marker applied' });
  expect(await count(db.pool, 'SELECT count(*) AS n FROM inspection_completions')).toBe(1);
  expect(await inspectionTimers()).toEqual([
    'inspection/rb-insp:b/breach',
    'inspection/rb-insp:b/warning',
  ]);

  const report = await rebuild();
  expect(report.swapped).toBe(true);
  expect(await inspectionTimers()).toEqual([
    'inspection/rb-insp:b/breach',
    'inspection/rb-insp:b/warning',
  ]);
  expect(await count(db.pool, 'SELECT count(*) AS n FROM inspection_completions')).toBe(1);
});
