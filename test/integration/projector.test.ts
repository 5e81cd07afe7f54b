/**
 * The projector against real Kafka and Postgres, in process: the read model it writes, poison
 * records, duplicates and digest conflicts, late and out-of-order events, manual escalations and
 * retractions, fencing, and the dashboard views.
 */
import { forwardedEventId, retractionEventId, timerEventId } from '../../src/contracts/sla-events';
import type { PoolClient } from '../../src/infra/db';
import { claimPartitions } from '../../src/projector/offsets';
import { DLQ_HEADERS } from '../../src/projector';
import { createTopics, waitFor } from '../helpers/infra';
import {
  MIN,
  RawProducer,
  count,
  ev,
  lifecycle,
  metricValue,
  ownDatabase,
  projectorTopics,
  readTopic,
  startProjector,
  type InProcessProjector,
  type OwnDatabase,
  type ProjectorTopics,
} from './fixtures/projector-data';

jest.setTimeout(90_000);

let db: OwnDatabase;
let topics: ProjectorTopics;
let producer: RawProducer;
let running: InProcessProjector;

beforeAll(async () => {
  db = await ownDatabase('projector');
  topics = projectorTopics('proj');
  await createTopics([{ name: topics.events, partitions: 2 }, topics.dlq]);
  producer = new RawProducer();
  running = await startProjector(db, topics, { maxEventBytes: 4096 });
});

afterAll(async () => {
  await running?.stop();
  await producer?.close();
  await db?.drop();
});

let seq = 0;
const newId = (label: string) => `INC-P-${label}-${Date.now().toString(36)}-${(seq += 1)}`;

async function incident(id: string) {
  const { rows } = await db.pool.query<Record<string, unknown>>(
    'SELECT * FROM incidents WHERE incident_id = $1',
    [id],
  );
  return rows[0];
}

async function milestones(id: string) {
  const { rows } = await db.pool.query<{
    milestone: string;
    cycle: number;
    state: string;
    due_at: Date | null;
    met_at: Date | null;
    breached_at: Date | null;
    warn_at: Date[];
  }>(
    `SELECT milestone, cycle, state, start_at, due_at, warn_at, met_at, breached_at, paused_ms,
            escalates_to_tier
     FROM milestones WHERE incident_id = $1 ORDER BY milestone, cycle`,
    [id],
  );
  return rows;
}

async function eventCount(id: string): Promise<number> {
  return count(db.pool, 'SELECT count(*) AS n FROM incident_events WHERE incident_id = $1', [id]);
}

test('projects a lifecycle: incident row, one row per milestone, timeline, timers, views', async () => {
  const id = newId('life');
  const t0 = Date.now() - 5 * MIN;
  const events = [
    ev(id, 'incident.reported', t0, { severity: 'I', title: 'Core switch down', site: 'DC-1' }),
    ev(id, 'incident.acknowledged', t0 + 2 * MIN, { by: 'desk' }),
    ev(id, 'incident.assigned', t0 + 3 * MIN, { assignee: 'li', tier: 1 }),
  ];
  await producer.send(topics.events, events);
  await waitFor(async () => (await eventCount(id)) === 3, { what: 'three events applied' });

  const row = await incident(id);
  expect(row).toMatchObject({
    status: 'open',
    severity: 'I',
    title: 'Core switch down',
    site: 'DC-1',
    assignee: 'li',
    tier: 1,
    policy_id: 'default',
    policy_version: 1,
    event_count: 3,
  });
  expect((row!.reported_at as Date).getTime()).toBe(t0);

  const ms = await milestones(id);
  expect(ms.map((m) => m.milestone).sort()).toEqual(
    ['arrival', 'diagnosis', 'dispatch', 'response', 'solution', 'spare_parts', 'follow_up'].sort(),
  );
  // The follow-up waits for the resolution: stored with no start and no deadline, not open.
  const followUp = ms.find((m) => m.milestone === 'follow_up')!;
  expect(followUp).toMatchObject({ state: 'pending', start_at: null, due_at: null });
  const response = ms.find((m) => m.milestone === 'response')!;
  expect(response.state).toBe('met');
  expect(response.met_at!.getTime()).toBe(t0 + 2 * MIN);
  const dispatch = ms.find((m) => m.milestone === 'dispatch')!;
  expect(dispatch.due_at!.getTime()).toBe(t0 + 5 * MIN);
  // Not started yet, but its deadline is known (24 h + 2 h) and stored for dashboards/scheduler.
  const spare = ms.find((m) => m.milestone === 'spare_parts')!;
  expect(spare.due_at!.getTime()).toBe(t0 + 26 * 60 * MIN);

  const { rows: timers } = await db.pool.query<{ timer_key: string; kind: string; due_at: Date }>(
    'SELECT timer_key, kind, due_at FROM timers WHERE incident_id = $1 ORDER BY timer_key',
    [id],
  );
  // response is met: no timers for it; dispatch/arrival/diagnosis/solution/spare_parts have some.
  expect(timers.some((t) => t.timer_key.includes('/response/'))).toBe(false);
  expect(timers.find((t) => t.timer_key === `${id}/dispatch/0/breach`)?.due_at.getTime()).toBe(
    t0 + 5 * MIN,
  );

  // The views: dispatch's deadline (t0 + 5 min) has passed by now, so it is breached at query time.
  const { rows: vm } = await db.pool.query<{ milestone: string; state: string; is_open: boolean }>(
    `SELECT milestone, state, is_open FROM v_milestones WHERE incident_id = $1`,
    [id],
  );
  expect(vm.find((m) => m.milestone === 'dispatch')).toMatchObject({
    state: 'breached',
    is_open: true,
  });
  expect(vm.find((m) => m.milestone === 'response')).toMatchObject({
    state: 'met',
    is_open: false,
  });
  const { rows: vi } = await db.pool.query(
    `SELECT effective_tier, is_breached, open_milestones FROM v_incidents WHERE incident_id = $1`,
    [id],
  );
  expect(vi[0]).toMatchObject({ effective_tier: 1, is_breached: true });
});

test('poison records go to the DLQ with the reason and origin in headers; the partition flows on', async () => {
  const id = newId('poison');
  const t0 = Date.now() - MIN;
  const good = ev(id, 'incident.reported', t0, { severity: 'III', title: 'Disk full' });
  const invalid = ev(id, 'incident.reported', t0, { severity: 'V', title: 'bad severity' });
  const unknown = ev(id, 'incident.teleported', t0, {});
  const tooLarge = ev(id, 'incident.diagnosed', t0, { cause: 'x'.repeat(3990) });
  const tooLargeValue = JSON.stringify({ ...tooLarge, data: { cause: 'é'.repeat(3000) } });
  // Same key, so all land on one partition, in this order, before the good event.
  await producer.send(topics.events, [
    { key: id, value: 'this is not json {' },
    { key: id, value: JSON.stringify(invalid) },
    { key: id, value: JSON.stringify(unknown) },
    { key: id, value: tooLargeValue },
    { key: id, value: null },
    good,
  ]);
  await waitFor(async () => (await eventCount(id)) === 1, { what: 'the good event applied' });
  expect(await incident(id)).toMatchObject({ status: 'open', severity: 'III' });

  const dlq = (await readTopic(topics.dlq, 5)).filter((r) => r.key === id);
  expect(dlq.map((r) => r.headers[DLQ_HEADERS.error])).toEqual([
    'not_json',
    'invalid_event',
    'unknown_type',
    'too_large',
    'empty',
  ]);
  for (const r of dlq) {
    expect(r.headers[DLQ_HEADERS.topic]).toBe(topics.events);
    expect(r.headers[DLQ_HEADERS.partition]).toMatch(/^\d+$/);
    expect(r.headers[DLQ_HEADERS.offset]).toMatch(/^\d+$/);
    expect(r.headers[DLQ_HEADERS.message]).toBeTruthy();
  }
  expect(dlq[0]!.value).toBe('this is not json {');
  expect(dlq[1]!.headers[DLQ_HEADERS.message]).toContain('data.severity');
  const offsets = dlq.map((r) => Number(r.headers[DLQ_HEADERS.offset]));
  expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  expect(
    await metricValue(running.metrics, 'sla_projector_dlq_records_total'),
  ).toBeGreaterThanOrEqual(5);
});

test('an event delivered twice is applied once; a different payload under a used id is not applied', async () => {
  const id = newId('dup');
  const t0 = Date.now() - MIN;
  const report = ev(id, 'incident.reported', t0, { severity: 'II', title: 'Printer on fire' });
  const ack = ev(id, 'incident.acknowledged', t0 + MIN, { by: 'desk' });
  const conflictsBefore = await metricValue(
    running.metrics,
    'sla_projector_digest_conflicts_total',
  );
  await producer.send(topics.events, [report, ack, report, ack]);
  // The same ack id, another payload: reported as a conflict, never applied.
  await producer.send(topics.events, [{ ...ack, data: { by: 'someone else' } }]);
  const marker = ev(id, 'incident.assigned', t0 + 2 * MIN, { assignee: 'wang' });
  await producer.send(topics.events, [marker]);
  await waitFor(async () => (await eventCount(id)) === 3, { what: 'three distinct events' });
  await waitFor(
    async () =>
      (await metricValue(running.metrics, 'sla_projector_digest_conflicts_total')) ===
      conflictsBefore + 1,
    { what: 'the digest conflict counted' },
  );
  const { rows } = await db.pool.query<{ data: { by?: string } }>(
    `SELECT data FROM incident_events WHERE incident_id = $1 AND event_id = $2`,
    [id, ack.id],
  );
  expect(rows).toEqual([{ data: { by: 'desk' } }]);
  expect(await incident(id)).toMatchObject({ event_count: 3, assignee: 'wang' });
});

test('late and out-of-order events: the read model ends as if they had arrived in time order', async () => {
  const t0 = Date.now() - 90 * MIN;
  const inOrder = newId('ordered');
  const shuffled = newId('shuffled');
  const script = (id: string) => [
    ev(id, 'incident.reported', t0, { severity: 'II', title: 'Same story' }),
    ev(id, 'incident.acknowledged', t0 + 7 * MIN), // late for response (5 min)
    ev(id, 'incident.dispatched', t0 + 4 * MIN),
    ev(id, 'incident.paused', t0 + 20 * MIN, { reason: 'waiting for access' }),
    ev(id, 'incident.resumed', t0 + 50 * MIN, { reason: 'access granted' }),
    ev(id, 'incident.arrived', t0 + 14 * MIN),
    ev(id, 'incident.diagnosed', t0 + 70 * MIN, { cause: 'fan' }),
  ];
  const ordered = script(inOrder).sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  // Reverse order: every event but the first arrives before the report (they wait, pending).
  const reversed = script(shuffled).reverse();
  await producer.send(topics.events, ordered);
  await producer.send(topics.events, reversed.slice(0, 3));
  await waitFor(async () => (await eventCount(shuffled)) === 3, { what: 'early events kept' });
  expect(await incident(shuffled)).toMatchObject({ status: 'pending', event_count: 3 });
  expect(await milestones(shuffled)).toEqual([]);
  await producer.send(topics.events, reversed.slice(3));
  await waitFor(
    async () => (await eventCount(shuffled)) === 7 && (await eventCount(inOrder)) === 7,
    {
      what: 'both incidents complete',
    },
  );

  const strip = (rows: Record<string, unknown>[]) => rows.map(({ ...r }) => r);
  expect(strip(await milestones(shuffled))).toEqual(strip(await milestones(inOrder)));
  const a = await incident(inOrder);
  const b = await incident(shuffled);
  const comparable = (r: Record<string, unknown> | undefined) => {
    const { incident_id: _i, updated_at: _u, ...rest } = r!;
    return rest;
  };
  expect(comparable(b)).toEqual(comparable(a));
  const response = (await milestones(inOrder)).find((m) => m.milestone === 'response')!;
  expect(response.state).toBe('met_late');
  const { rows: timers } = await db.pool.query(
    'SELECT timer_key, generation FROM timers WHERE incident_id = ANY($1) ORDER BY timer_key',
    [[inOrder, shuffled]],
  );
  const keysOf = (id: string) =>
    timers
      .filter((t: { timer_key: string }) => t.timer_key.startsWith(`${id}/`))
      .map((t: { timer_key: string; generation: string }) => [
        t.timer_key.slice(id.length),
        t.generation,
      ]);
  expect(keysOf(shuffled)).toEqual(keysOf(inOrder));
});

test('a manual escalation is forwarded once (outbox + escalations row); never lowers the tier', async () => {
  const id = newId('esc');
  const t0 = Date.now() - 10 * MIN;
  const up = ev(id, 'incident.escalated', t0 + 3 * MIN, { toTier: 2, reason: 'customer VIP' });
  const down = ev(id, 'incident.escalated', t0 + 4 * MIN, { toTier: 2, reason: 'again' });
  await producer.send(topics.events, [
    ev(id, 'incident.reported', t0, { severity: 'I', title: 'Payments down', site: 'DC-2' }),
    ev(id, 'incident.assigned', t0 + MIN, { assignee: 'zhao' }),
    up,
    down,
  ]);
  await waitFor(async () => (await eventCount(id)) === 4, { what: 'events applied' });
  const { rows: esc } = await db.pool.query(
    'SELECT to_tier, from_tier, automatic, reason, event_id FROM escalations WHERE incident_id = $1',
    [id],
  );
  expect(esc).toEqual([
    {
      to_tier: 2,
      from_tier: 1,
      automatic: false,
      reason: 'customer VIP',
      event_id: forwardedEventId(up.source, up.id),
    },
  ]);
  const { rows: out } = await db.pool.query<{
    id: string;
    topic: string;
    type: string;
    payload: { data: Record<string, unknown> };
  }>('SELECT id, topic, type, payload FROM outbox WHERE message_key = $1', [id]);
  expect(out).toHaveLength(1);
  expect(out[0]).toMatchObject({
    id: forwardedEventId(up.source, up.id),
    topic: topics.escalations,
    type: 'incident.escalated',
  });
  expect(out[0]!.payload.data).toMatchObject({
    incidentId: id,
    title: 'Payments down',
    severity: 'I',
    site: 'DC-2',
    assignee: 'zhao',
    tier: 2,
    fromTier: 1,
    toTier: 2,
    automatic: false,
  });
  expect(await incident(id)).toMatchObject({ tier: 2 });
  const { rows: ve } = await db.pool.query('SELECT * FROM v_escalations WHERE incident_id = $1', [
    id,
  ]);
  expect(ve).toHaveLength(1);
});

/**
 * A severity I incident reported 30 minutes ago, applied; its response breach (due t0 + 5 min) is
 * due, and `fire` records that firing as the scheduler does (timer_fires row, timer row gone).
 */
async function overdueResponse(label: string, title: string) {
  const id = newId(label);
  const t0 = Date.now() - 30 * MIN;
  await producer.send(topics.events, [
    ev(id, 'incident.reported', t0, { severity: 'I', title, site: 'HQ' }),
  ]);
  await waitFor(async () => (await eventCount(id)) === 1, { what: 'report applied' });
  const key = `${id}/response/0/breach`;
  const due = t0 + 5 * MIN;
  const breachId = timerEventId(key, due, 'breach');
  const fire = async (q: Pick<PoolClient, 'query'>) => {
    await q.query(
      `INSERT INTO timer_fires (timer_key, generation, incident_id, milestone, cycle, kind, due_at, event_id)
       VALUES ($1, $2, $3, 'response', 0, 'breach', $4, $5)`,
      [key, due, id, new Date(due), breachId],
    );
    await q.query('DELETE FROM timers WHERE timer_key = $1', [key]);
  };
  return { id, t0, key, breachId, fire };
}

test('a late event proving a fired breach wrong writes sla.breach_retracted', async () => {
  const { id, t0, key, breachId, fire } = await overdueResponse('retract', 'VPN down');
  // The scheduler fired the response breach (deadline t0 + 5 min): as it would, in one go.
  await fire(db.pool);

  // The phone was answered at t0 + 4 min, reported only now.
  await producer.send(topics.events, [
    ev(id, 'incident.acknowledged', t0 + 4 * MIN, { by: 'desk' }),
  ]);
  await waitFor(async () => (await eventCount(id)) === 2, { what: 'late ack applied' });
  const { rows } = await db.pool.query<{
    id: string;
    type: string;
    payload: { data: Record<string, unknown> };
  }>(`SELECT id, type, payload FROM outbox WHERE message_key = $1`, [id]);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ id: retractionEventId(breachId), type: 'sla.breach_retracted' });
  expect(rows[0]!.payload.data).toMatchObject({
    milestone: 'response',
    retracts: breachId,
    title: 'VPN down',
  });
  expect((await milestones(id)).find((m) => m.milestone === 'response')?.state).toBe('met');
  // A fired (key, generation) is never planned again.
  expect(await count(db.pool, 'SELECT count(*) AS n FROM timers WHERE timer_key = $1', [key])).toBe(
    0,
  );
});

test('a breach firing that commits while a late event is projected is still retracted', async () => {
  const { id, t0, key, breachId, fire } = await overdueResponse('race', 'Core switch');

  // The scheduler's transaction, held open: it claimed the timer row (FOR UPDATE, as its claim
  // does) and recorded the firing, but has not committed yet.
  const scheduler = await db.pool.connect();
  try {
    await scheduler.query('BEGIN');
    await scheduler.query('SELECT 1 FROM timers WHERE timer_key = $1 FOR UPDATE', [key]);
    await fire(scheduler);

    // The late acknowledgement reaches the projector, which must wait for that row lock before it
    // reads what fired; the scheduler commits only once the projector is waiting.
    await producer.send(topics.events, [
      ev(id, 'incident.acknowledged', t0 + 4 * MIN, { by: 'desk' }),
    ]);
    await waitFor(
      async () =>
        (await count(
          db.pool,
          `SELECT count(*) AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        )) > 0,
      { what: 'the projector waiting for the timer row' },
    );
    await scheduler.query('COMMIT');
  } finally {
    scheduler.release();
  }

  await waitFor(async () => (await eventCount(id)) === 2, { what: 'late ack applied' });
  const { rows } = await db.pool.query<{ id: string; type: string }>(
    `SELECT id, type FROM outbox WHERE message_key = $1`,
    [id],
  );
  expect(rows).toEqual([{ id: retractionEventId(breachId), type: 'sla.breach_retracted' }]);
});

test('fencing: a member whose partition was claimed by another cannot write', async () => {
  const fenceTopics = projectorTopics('fence');
  await createTopics([{ name: fenceTopics.events, partitions: 1 }, fenceTopics.dlq]);
  const zombie = await startProjector(db, fenceTopics, { owner: 'zombie' });
  try {
    const id = newId('fence');
    const t0 = Date.now() - MIN;
    await producer.send(fenceTopics.events, [
      ev(id, 'incident.reported', t0, { severity: 'IV', title: 'x' }),
    ]);
    await waitFor(async () => (await eventCount(id)) === 1, { what: 'first event applied' });
    // Another member takes the partition behind the zombie's back (as after a missed rebalance).
    await claimPartitions(
      db.pool,
      { groupId: fenceTopics.group, topic: fenceTopics.events },
      [0],
      'usurper',
    );
    await producer.send(fenceTopics.events, [ev(id, 'incident.acknowledged', t0 + 1000)]);
    await waitFor(
      async () =>
        (await metricValue(zombie.metrics, 'sla_projector_batch_failures_total', {
          reason: 'fenced',
        })) >= 1,
      { what: 'the zombie fenced' },
    );
    expect(await eventCount(id)).toBe(1);
    const { rows } = await db.pool.query(
      'SELECT next_offset::int AS next, owner FROM projector_offsets WHERE group_id = $1',
      [fenceTopics.group],
    );
    expect(rows).toEqual([{ next: 1, owner: 'usurper' }]);
  } finally {
    await zombie.stop();
  }
});

test('a projector restarted later continues from the offsets stored in Postgres', async () => {
  const id = newId('restart');
  const t0 = Date.now() - MIN;
  await running.stop();
  // Written while no projector runs: Kafka's committed offsets do not matter, Postgres' do.
  await producer.send(topics.events, lifecycle(id, t0));
  running = await startProjector(db, topics, { maxEventBytes: 4096 });
  await waitFor(async () => (await eventCount(id)) === 6, { what: 'events applied after restart' });
  expect(await incident(id)).toMatchObject({ status: 'resolved', event_count: 6 });
});
