/**
 * The scheduler's firing rules (SPEC §4, issue 7) against real Postgres and Kafka, with the runner
 * and relay running in this process: on time and never early, the events and their pager fields,
 * one page per tier change, nothing for settled milestones, discovered-late warnings skipped,
 * re-planned timers, and a relay that finds rows committed out of order.
 */
import {
  slaEventSchema,
  timerEventId,
  escalationEventId,
  type SlaEvent,
} from '../../src/contracts/sla-events';
import { createTopics, waitFor } from '../helpers/infra';
import {
  collectTopics,
  insertIncident,
  insertIncidentWithTimers,
  insertMilestone,
  ownDatabase,
  schedulerTopics,
  timerKey,
  upsertTimer,
  type ConsumedRecord,
  type OwnDatabase,
  type SchedulerTopics,
} from './fixtures/scheduler-data';
import { startInProcess, type InProcessScheduler } from './fixtures/scheduler-harness';

jest.setTimeout(60_000);

let db: OwnDatabase;
let topics: SchedulerTopics;
let scheduler: InProcessScheduler;
let consumed: Awaited<ReturnType<typeof collectTopics>>;

beforeAll(async () => {
  db = await ownDatabase('sched_fire');
  topics = schedulerTopics('fire');
  await createTopics([topics.warnings, topics.escalations]);
  consumed = await collectTopics([topics.warnings, topics.escalations]);
  scheduler = await startInProcess(db.url, topics);
});

afterAll(async () => {
  await scheduler?.stop();
  await consumed?.stop();
  await db?.drop();
});

let seq = 0;
const newIncidentId = () => `INC-FIRE-${Date.now().toString(36)}-${(seq += 1)}`;

function recordsOf(incidentId: string): ConsumedRecord[] {
  return consumed.records.filter((r) => r.key === incidentId);
}

async function firesOf(incidentId: string) {
  const { rows } = await db.pool.query<{
    timer_key: string;
    kind: string;
    due_ms: string;
    fired_ms: string;
    event_id: string | null;
    skipped_reason: string | null;
  }>(
    `SELECT timer_key, kind, event_id, skipped_reason,
            extract(epoch FROM due_at) * 1000 AS due_ms, extract(epoch FROM fired_at) * 1000 AS fired_ms
     FROM timer_fires WHERE incident_id = $1 ORDER BY due_at, timer_key`,
    [incidentId],
  );
  return rows;
}

test('a warning and a breach fire at their due time, never early; the breach escalates once', async () => {
  const incidentId = newIncidentId();
  const now = Date.now();
  const warnAt = now + 1500;
  const dueAt = now + 2500;
  // Written after the runner started: only NOTIFY + the wheel can make it fire on time.
  const { warningKey, breachKey } = await insertIncidentWithTimers(db.pool, incidentId, {
    warnAt,
    dueAt,
  });

  const records = await waitFor(() => recordsOf(incidentId).length >= 3 && recordsOf(incidentId), {
    what: 'warning, breach and escalation on Kafka',
  });
  const events = records.map((r) => slaEventSchema.parse(r.value));
  const byType = new Map<string, SlaEvent>(events.map((e) => [e.type, e]));
  expect(events.map((e) => e.type).sort()).toEqual(
    ['incident.escalated', 'sla.breached', 'sla.warning'].sort(),
  );

  const warning = byType.get('sla.warning')!;
  expect(warning.id).toBe(timerEventId(warningKey!, warnAt, 'warning'));
  expect(records.find((r) => r.value.type === 'sla.warning')!.topic).toBe(topics.warnings);
  expect(warning.data).toMatchObject({
    incidentId,
    milestone: 'response',
    severity: 'I',
    site: '长葛 data centre',
    tier: 1,
    assignee: 'engineer-1',
    dueAt: new Date(dueAt).toISOString(),
    warnAt: new Date(warnAt).toISOString(),
  });
  // Whole seconds left at emission: 1 when fired right at warnAt, 0 a few ms later.
  expect([0, 1]).toContain((warning.data as { remainingSeconds: number }).remainingSeconds);

  const breach = byType.get('sla.breached')!;
  expect(breach.id).toBe(timerEventId(breachKey, dueAt, 'breach'));
  if (breach.type !== 'sla.breached') throw new Error('type');
  expect(Date.parse(breach.data.breachedAt)).toBeGreaterThanOrEqual(dueAt);
  expect(Date.parse(breach.time)).toBeGreaterThanOrEqual(dueAt);

  const escalation = byType.get('incident.escalated')!;
  expect(escalation.id).toBe(escalationEventId(incidentId, 2));
  expect(escalation.data).toMatchObject({ fromTier: 1, toTier: 2, automatic: true, tier: 2 });
  for (const r of records.filter((x) => x.value.type !== 'sla.warning')) {
    expect(r.topic).toBe(topics.escalations);
  }
  for (const r of records) {
    expect(r.headers['content-type']).toBe('application/cloudevents+json');
    expect(r.value.subject).toBe(incidentId);
  }
  // The breach is published before the escalation it caused.
  const order = records.filter((r) => r.topic === topics.escalations).map((r) => r.value.type);
  expect(order).toEqual(['sla.breached', 'incident.escalated']);

  // Never early, on the database clock (how late is the benchmarks' business, not a test's).
  const fires = await firesOf(incidentId);
  expect(fires).toHaveLength(2);
  for (const f of fires) expect(Number(f.fired_ms)).toBeGreaterThanOrEqual(Number(f.due_ms));
  const { rows } = await db.pool.query<{ tier: number; to_tier: number }>(
    `SELECT i.tier, e.to_tier FROM incidents i JOIN escalations e USING (incident_id)
     WHERE incident_id = $1`,
    [incidentId],
  );
  expect(rows).toEqual([{ tier: 2, to_tier: 2 }]);
  // The live feed shows the new tier once (the escalation and the incident's tier are written
  // by one statement; each would stream the incident, migrations/0020).
  const streamed = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM stream_events
     WHERE kind = 'incident' AND incident_id = $1 AND payload->>'tier' = '2'`,
    [incidentId],
  );
  expect(streamed.rows[0]!.n).toBe(1);
  expect(
    (await db.pool.query('SELECT 1 FROM timers WHERE incident_id = $1', [incidentId])).rowCount,
  ).toBe(0);
});

test('several milestones breaching at once: one sla.breached each, one incident.escalated', async () => {
  const incidentId = newIncidentId();
  const dueAt = Date.now() + 800;
  await insertIncident(db.pool, { incidentId });
  for (const milestone of ['response', 'dispatch', 'arrival']) {
    await insertMilestone(db.pool, { incidentId, milestone, dueAt, escalatesToTier: 2 });
    await upsertTimer(db.pool, { incidentId, milestone, kind: 'breach', dueAt });
  }
  await waitFor(() => recordsOf(incidentId).length >= 4, { what: '3 breaches and 1 escalation' });
  // Give a second escalation every chance to show up before asserting there is none.
  await waitFor(async () => (await firesOf(incidentId)).length === 3, { what: 'three fires' });
  await scheduler.relay.relayRound();
  const types = recordsOf(incidentId).map((r) => r.value.type);
  expect(types.filter((t) => t === 'sla.breached')).toHaveLength(3);
  expect(types.filter((t) => t === 'incident.escalated')).toHaveLength(1);
  const { rows } = await db.pool.query(
    'SELECT to_tier, from_tier FROM escalations WHERE incident_id = $1',
    [incidentId],
  );
  expect(rows).toEqual([{ to_tier: 2, from_tier: 1 }]);
});

test('a timer whose (key, generation) fired before fires nothing again and escalates nothing', async () => {
  const incidentId = newIncidentId();
  const dueAt = Date.now() - 1000;
  await insertIncident(db.pool, { incidentId });
  await insertMilestone(db.pool, { incidentId, milestone: 'response', dueAt, escalatesToTier: 2 });
  // Its firing is on record already (fired by an instance whose commit the planner had not seen).
  const key = timerKey({ incidentId, milestone: 'response', kind: 'breach' });
  await db.pool.query(
    `INSERT INTO timer_fires (timer_key, generation, incident_id, milestone, cycle, kind, due_at,
                              event_id)
     VALUES ($1, $2::bigint, $3, 'response', 0, 'breach', to_timestamp($2::bigint / 1000.0),
             'fired-earlier')`,
    [key, dueAt, incidentId],
  );
  await upsertTimer(db.pool, { incidentId, milestone: 'response', kind: 'breach', dueAt });
  await waitFor(
    async () =>
      (await db.pool.query('SELECT 1 FROM timers WHERE incident_id = $1', [incidentId]))
        .rowCount === 0,
    { what: 'the timer claimed and deleted' },
  );
  expect((await firesOf(incidentId)).map((f) => f.event_id)).toEqual(['fired-earlier']);
  const written = await db.pool.query(
    `SELECT (SELECT count(*)::int FROM outbox WHERE message_key = $1) AS outbox,
            (SELECT count(*)::int FROM escalations WHERE incident_id = $1) AS escalations,
            (SELECT tier FROM incidents WHERE incident_id = $1) AS tier`,
    [incidentId],
  );
  expect(written.rows).toEqual([{ outbox: 0, escalations: 0, tier: 1 }]);
});

test('a firing round held up in Postgres does not hold up a timer due after it started', async () => {
  const held = newIncidentId();
  const later = newIncidentId();
  const dueAt = Date.now() + 200;
  await insertIncident(db.pool, { incidentId: held });
  await insertMilestone(db.pool, { incidentId: held, milestone: 'response', dueAt });
  const blocker = await db.pool.connect();
  try {
    // An uncommitted escalation of the same (incident, tier): the round that escalates `held`
    // waits for this transaction on the primary key, in flight until it ends.
    await blocker.query('BEGIN');
    await blocker.query(
      `INSERT INTO escalations (incident_id, to_tier, from_tier, automatic, reason, event_id)
       VALUES ($1, 2, 1, false, 'test', 'blocker')`,
      [held],
    );
    await upsertTimer(db.pool, { incidentId: held, milestone: 'response', kind: 'breach', dueAt });
    await waitFor(
      async () =>
        (
          await db.pool.query(
            `SELECT 1 FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        ).rowCount === 1,
      { what: 'the round firing the first breach waiting for the lock' },
    );
    await insertIncidentWithTimers(db.pool, later, { dueAt: Date.now() + 200 });
    await waitFor(() => recordsOf(later).some((r) => r.value.type === 'sla.breached'), {
      what: 'the later breach fired while the first round waits',
    });
    expect(recordsOf(held)).toEqual([]);
  } finally {
    await blocker.query('ROLLBACK');
    blocker.release();
  }
  await waitFor(() => recordsOf(held).length >= 2, { what: 'the held round done after all' });
});

test('a breach whose tier the incident already has raises nothing; a higher one raises from there', async () => {
  const incidentId = newIncidentId();
  const dueAt = Date.now() + 300;
  await insertIncident(db.pool, { incidentId, tier: 2 });
  await insertMilestone(db.pool, { incidentId, milestone: 'response', dueAt, escalatesToTier: 2 });
  await upsertTimer(db.pool, { incidentId, milestone: 'response', kind: 'breach', dueAt });
  await waitFor(() => recordsOf(incidentId).length >= 1, { what: 'the breach' });

  const later = Date.now() + 300;
  await insertMilestone(db.pool, {
    incidentId,
    milestone: 'diagnosis',
    dueAt: later,
    escalatesToTier: 3,
  });
  await upsertTimer(db.pool, { incidentId, milestone: 'diagnosis', kind: 'breach', dueAt: later });
  const records = await waitFor(() => recordsOf(incidentId).length >= 3 && recordsOf(incidentId), {
    what: 'second breach and its escalation',
  });
  const escalations = records.filter((r) => r.value.type === 'incident.escalated');
  expect(escalations).toHaveLength(1);
  expect(escalations[0]!.value.data).toMatchObject({
    fromTier: 2,
    toTier: 3,
    milestone: 'diagnosis',
  });
});

test('nothing fires for a milestone met, paused or settled, or a timer re-planned elsewhere', async () => {
  const past = Date.now() - 1000;
  const cases = [
    {
      name: 'met',
      incident: {},
      milestone: { state: 'met', metAt: past - 500 },
      reason: 'milestone_closed',
    },
    { name: 'paused', incident: {}, milestone: { state: 'paused' }, reason: 'milestone_closed' },
    {
      name: 'n/a',
      incident: {},
      milestone: { state: 'not_applicable' },
      reason: 'milestone_closed',
    },
    {
      // As the projector stores it: breached, its clock stopped at the resolution.
      name: 'resolved',
      incident: { status: 'resolved' as const },
      milestone: { state: 'breached', stoppedAt: past - 500 },
      reason: 'incident_not_open',
    },
    {
      name: 'cancelled',
      incident: { status: 'cancelled' as const },
      milestone: {},
      reason: 'incident_not_open',
    },
    { name: 'replanned', incident: {}, milestone: { dueAt: past + 60_000 }, reason: 'replanned' },
  ];
  const ids = cases.map(() => newIncidentId());
  for (const [i, c] of cases.entries()) {
    const incidentId = ids[i]!;
    await insertIncident(db.pool, { incidentId, ...c.incident });
    await insertMilestone(db.pool, {
      incidentId,
      milestone: 'response',
      dueAt: past,
      ...c.milestone,
    });
    await upsertTimer(db.pool, { incidentId, milestone: 'response', kind: 'breach', dueAt: past });
  }
  for (const [i, c] of cases.entries()) {
    const fires = await waitFor(
      async () => {
        const f = await firesOf(ids[i]!);
        return f.length === 1 && f;
      },
      { what: `the ${c.name} timer decided` },
    );
    expect({ name: c.name, reason: fires[0]!.skipped_reason, eventId: fires[0]!.event_id }).toEqual(
      {
        name: c.name,
        reason: c.reason,
        eventId: null,
      },
    );
  }
  const { rows } = await db.pool.query(
    'SELECT count(*)::int AS n FROM outbox WHERE message_key = ANY($1)',
    [ids],
  );
  expect(rows[0]).toEqual({ n: 0 });
});

test('a follow_up left undone breaches while the incident is resolved, and escalates nobody', async () => {
  const incidentId = newIncidentId();
  const dueAt = Date.now() - 1000;
  await insertIncident(db.pool, { incidentId, status: 'resolved' });
  // As the projector stores it: started by the resolution, running (no stopped_at), no tier.
  await insertMilestone(db.pool, {
    incidentId,
    milestone: 'follow_up',
    dueAt,
    escalatesToTier: null,
  });
  await upsertTimer(db.pool, { incidentId, milestone: 'follow_up', kind: 'breach', dueAt });
  const [fire] = await waitFor(
    async () => {
      const f = await firesOf(incidentId);
      return f.length === 1 && f;
    },
    { what: 'the follow_up breach decided' },
  );
  expect(fire!.skipped_reason).toBeNull();
  const [record] = await waitFor(() => recordsOf(incidentId).length >= 1 && recordsOf(incidentId), {
    what: 'the follow_up breach on Kafka',
  });
  expect(record!.value).toMatchObject({
    type: 'sla.breached',
    data: { milestone: 'follow_up', incidentId },
  });
  // The breach and any escalation are written in one transaction: none was.
  const { rows } = await db.pool.query(
    'SELECT type FROM outbox WHERE message_key = $1 ORDER BY type',
    [incidentId],
  );
  expect(rows).toEqual([{ type: 'sla.breached' }]);
});

test('discovered late: a warning whose deadline passed is skipped, only the breach is emitted', async () => {
  const incidentId = newIncidentId();
  const dueAt = Date.now() - 60_000;
  await insertIncidentWithTimers(db.pool, incidentId, { warnAt: dueAt - 60_000, dueAt });
  await waitFor(() => recordsOf(incidentId).length >= 2, { what: 'breach and escalation' });
  const fires = await firesOf(incidentId);
  expect(fires.map((f) => [f.kind, f.skipped_reason])).toEqual([
    ['warning', 'deadline_passed'],
    ['breach', null],
  ]);
  expect(
    recordsOf(incidentId)
      .map((r) => r.value.type)
      .sort(),
  ).toEqual(['incident.escalated', 'sla.breached']);
});

test('a warning whose threshold passed but whose deadline is ahead fires at once', async () => {
  const incidentId = newIncidentId();
  const now = Date.now();
  await insertIncidentWithTimers(db.pool, incidentId, {
    warnAt: now - 30_000,
    dueAt: now + 60_000,
  });
  const [warning] = await waitFor(
    () => recordsOf(incidentId).length >= 1 && recordsOf(incidentId),
    {
      what: 'the warning',
      timeoutMs: 3_000,
    },
  );
  expect(warning!.value.type).toBe('sla.warning');
  expect(warning!.value.data).toMatchObject({ remainingSeconds: expect.any(Number) });
  expect(
    (warning!.value.data as unknown as { remainingSeconds: number }).remainingSeconds,
  ).toBeGreaterThan(50);
});

test('a re-planned timer fires at its new time only, under its new generation', async () => {
  const incidentId = newIncidentId();
  const first = Date.now() + 700;
  const second = first + 1000;
  await insertIncident(db.pool, { incidentId });
  await insertMilestone(db.pool, { incidentId, milestone: 'response', dueAt: first });
  const key = await upsertTimer(db.pool, {
    incidentId,
    milestone: 'response',
    kind: 'breach',
    dueAt: first,
  });
  // The projector re-plans (e.g. a severity change): milestone and timer move in one transaction.
  await db.pool.query(
    `WITH m AS (UPDATE milestones SET due_at = to_timestamp($2 / 1000.0) WHERE incident_id = $1)
     UPDATE timers SET generation = $2, due_at = to_timestamp($2 / 1000.0),
                       deadline = to_timestamp($2 / 1000.0)
     WHERE incident_id = $1`,
    [incidentId, second],
  );
  const [breach] = await waitFor(() => recordsOf(incidentId).length >= 1 && recordsOf(incidentId), {
    what: 'the breach',
  });
  expect(breach!.value.id).toBe(timerEventId(key, second, 'breach'));
  const fires = await firesOf(incidentId);
  expect(fires).toHaveLength(1);
  expect(Number(fires[0]!.fired_ms)).toBeGreaterThanOrEqual(second);
});

test('an escalating incident locked by another transaction is deferred, not waited for, then fired once', async () => {
  const busyId = newIncidentId();
  const freeId = newIncidentId();
  const dueAt = Date.now() + 300;
  await insertIncidentWithTimers(db.pool, busyId, { dueAt });
  await insertIncidentWithTimers(db.pool, freeId, { dueAt });
  // Another writer (the projector, say) holds the incident row across the due time.
  const other = await db.pool.connect();
  try {
    await other.query('BEGIN');
    await other.query('SELECT 1 FROM incidents WHERE incident_id = $1 FOR UPDATE', [busyId]);
    // The runner is not blocked: the other incident's breach and escalation go out.
    await waitFor(() => recordsOf(freeId).length >= 2, { what: 'the free incident fired' });
    expect(await firesOf(busyId)).toEqual([]);
    await other.query('COMMIT');
  } finally {
    other.release();
  }
  const records = await waitFor(() => recordsOf(busyId).length >= 2 && recordsOf(busyId), {
    what: 'the deferred incident fired after the lock',
  });
  expect(records.map((r) => r.value.type).sort()).toEqual(['incident.escalated', 'sla.breached']);
  expect(await firesOf(busyId)).toHaveLength(1);
});

test('the relay publishes rows whose transaction commits after later rows were sent', async () => {
  const incidentId = newIncidentId();
  const row = (n: number) => ({
    id: `00000000-0000-8000-8000-${String(Date.now() % 1e9).padStart(9, '0')}${n}${n}${n}`,
    topic: topics.escalations,
    payload: { id: `late-${n}`, type: 'sla.breached', subject: incidentId, data: { incidentId } },
  });
  const slow = await db.pool.connect();
  try {
    await slow.query('BEGIN');
    const a = row(1);
    // Inserted first (earlier created_at and seq) but committed last.
    await slow.query(
      `INSERT INTO outbox (id, topic, message_key, type, payload) VALUES ($1, $2, $3, 'sla.breached', $4)`,
      [a.id, a.topic, incidentId, a.payload],
    );
    const b = row(2);
    await db.pool.query(
      `INSERT INTO outbox (id, topic, message_key, type, payload) VALUES ($1, $2, $3, 'sla.breached', $4)`,
      [b.id, b.topic, incidentId, b.payload],
    );
    await waitFor(() => recordsOf(incidentId).some((r) => r.value.id === 'late-2'), {
      what: 'row b',
    });
    await slow.query('COMMIT');
  } finally {
    slow.release();
  }
  await waitFor(() => recordsOf(incidentId).some((r) => r.value.id === 'late-1'), {
    what: 'row a',
  });
  // The relay commits "sent" right after Kafka's acknowledgement, so just after the consumer saw it.
  await waitFor(
    async () => {
      const { rows } = await db.pool.query(
        `SELECT count(*)::int AS n FROM outbox o JOIN outbox_unsent u ON u.id = o.id
         WHERE o.message_key = $1`,
        [incidentId],
      );
      expect(rows[0]).toEqual({ n: 0 });
      return true;
    },
    { what: 'both rows marked sent' },
  );
});

test('metrics: timers fired by kind and outcome, lateness, outbox backlog, clock skew', async () => {
  const text = await scheduler.metrics.metrics();
  expect(text).toMatch(/sla_timers_fired_total\{kind="breach",outcome="emitted"\} [1-9]/);
  expect(text).toMatch(/sla_timers_fired_total\{kind="warning",outcome="deadline_passed"\} [1-9]/);
  expect(text).toMatch(/sla_timer_lateness_seconds_count\{kind="breach"\} [1-9]/);
  expect(text).toMatch(/sla_outbox_backlog \d+/);
  expect(text).toMatch(/sla_outbox_published_total\{topic="[^"]+"\} [1-9]/);
  expect(text).toMatch(/sla_scheduler_clock_skew_seconds -?\d/);
  expect(text).toContain('sla_outbox_publish_errors_total');
});
