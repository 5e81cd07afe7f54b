/**
 * Issue 13's decided rules through the real pipeline: events on a real Kafka topic, the projector
 * and the scheduler (timer runner + outbox relay) in process against a real Postgres, and the read
 * API on a manual clock. The detail read twice, seconds apart on the clock, must not age what is
 * frozen (SPEC §2 "Overdue freezes"), and must agree with v_milestones / v_breaches (which use the
 * database's now()); the monthly report counts only reopens that took effect and only milestones
 * whose clock started (SPEC §3); a paged incident that settles stands the pagers down once
 * (SPEC §4 "Stand-down").
 */
import { standDownEventId } from '../../src/contracts/sla-events';
import { createTopics, waitFor } from '../helpers/infra';
import {
  MIN,
  RawProducer,
  count,
  ev,
  ownDatabase,
  projectorTopics,
  readTopic,
  startProjector,
  type InProcessProjector,
  type OwnDatabase,
  type ProjectorTopics,
} from './fixtures/projector-data';
import { manualClock, readServer, type ReadServer } from './fixtures/read-data';
import { startInProcess, type InProcessScheduler } from './fixtures/scheduler-harness';

jest.setTimeout(120_000);

const S = 1000;
let db: OwnDatabase;
let topics: ProjectorTopics;
let producer: RawProducer;
let projector: InProcessProjector;
let scheduler: InProcessScheduler;
let server: ReadServer;
const clock = manualClock(Date.now());

beforeAll(async () => {
  db = await ownDatabase('sla_rules');
  topics = projectorTopics('rules');
  await createTopics([topics.events, topics.dlq, topics.warnings, topics.escalations]);
  producer = new RawProducer();
  projector = await startProjector(db, topics);
  scheduler = await startInProcess(db.url, topics);
  server = await readServer(db.pool, clock, 'UTC');
});

afterAll(async () => {
  await server?.app.close();
  await scheduler?.stop();
  await projector?.stop();
  await producer?.close();
  await db?.drop();
});

let seq = 0;
const newId = (label: string) => `INC-R-${label}-${Date.now().toString(36)}-${(seq += 1)}`;

async function applied(id: string, n: number) {
  await waitFor(
    async () =>
      (await count(db.pool, 'SELECT count(*) AS n FROM incident_events WHERE incident_id = $1', [
        id,
      ])) === n,
    { what: `${n} events of ${id} applied` },
  );
}

async function detail(id: string, at: number) {
  clock.set(at);
  const res = await server.app.inject({ url: `/v1/incidents/${id}`, headers: server.auth.read });
  expect(res.statusCode).toBe(200);
  return res.json<{
    status: string;
    breached: boolean;
    reopenCount: number;
    milestones: {
      milestone: string;
      cycle: number;
      state: string;
      remainingSeconds: number | null;
      pausedSeconds: number;
      breachedAt: string | null;
    }[];
  }>();
}

async function view(id: string, milestone: string, cycle = 0) {
  const { rows } = await db.pool.query<{
    state: string;
    is_open: boolean;
    remaining_seconds: string | null;
    paused_ms: string;
    breach_open: boolean | null;
    overdue_seconds: string | null;
  }>(
    `SELECT m.state, m.is_open, m.remaining_seconds, m.paused_ms, b.is_open AS breach_open,
            b.overdue_seconds
     FROM v_milestones m
     LEFT JOIN v_breaches b USING (incident_id, milestone, cycle)
     WHERE m.incident_id = $1 AND m.milestone = $2 AND m.cycle = $3`,
    [id, milestone, cycle],
  );
  return rows[0]!;
}

/** The milestone in the detail at two instants 10 s apart, which must be equal (frozen). */
async function frozen(id: string, milestone: string, cycle = 0) {
  const now = Date.now();
  const pick = async (at: number) =>
    (await detail(id, at)).milestones.find((m) => m.milestone === milestone && m.cycle === cycle)!;
  const a = await pick(now + 10 * S);
  const b = await pick(now + 20 * S);
  expect(b).toEqual(a);
  return a;
}

async function escalated(id: string) {
  await waitFor(
    async () =>
      (await count(db.pool, 'SELECT count(*) AS n FROM escalations WHERE incident_id = $1', [id])) >
      0,
    { what: `the scheduler escalating ${id}` },
  );
}

async function outboxOf(id: string, type: string) {
  const { rows } = await db.pool.query<{ id: string; payload: { data: Record<string, unknown> } }>(
    'SELECT id, payload FROM outbox WHERE message_key = $1 AND type = $2',
    [id, type],
  );
  return rows;
}

describe('overdue freezes (SPEC §2): API and views agree, read twice without ageing', () => {
  test.each(['incident.resolved', 'incident.closed'])(
    'a breached, paged incident %s: frozen overdue, stand-down once',
    async (settle) => {
      const id = newId('settle');
      const t0 = Date.now() - 400 * S;
      await producer.send(topics.events, [
        ev(id, 'incident.reported', t0, { severity: 'I', title: 'Core switch down', site: 'HQ' }),
      ]);
      await applied(id, 1);
      await escalated(id); // response and dispatch breached at t0 + 5 min: tier 2, automatically
      const settledAt = Date.now() - S;
      await producer.send(topics.events, [ev(id, settle, settledAt, {})]);
      await applied(id, 2);

      const response = await frozen(id, 'response');
      const due = t0 + 5 * MIN;
      const remaining = Math.floor((due - settledAt) / 1000);
      const overdue = Math.floor((settledAt - due) / 1000);
      expect(response).toMatchObject({ state: 'breached', remainingSeconds: remaining });
      const v = await view(id, 'response');
      expect(v).toMatchObject({ state: 'breached', is_open: false, breach_open: false });
      expect(Number(v.remaining_seconds)).toBe(remaining);
      expect(Number(v.overdue_seconds)).toBe(overdue);

      // Stand-down: once, with a deterministic id, and on the escalations topic.
      await waitFor(async () => (await outboxOf(id, 'sla.stand_down')).length === 1, {
        what: 'the stand-down',
      });
      const [down] = await outboxOf(id, 'sla.stand_down');
      expect(down!.id).toBe(standDownEventId(id, 0));
      expect(down!.payload.data).toMatchObject({
        incidentId: id,
        tier: 2,
        settledAs: settle.slice('incident.'.length),
        title: 'Core switch down',
      });
      if (settle === 'incident.resolved') {
        // Closing it later stands down nothing more.
        await producer.send(topics.events, [ev(id, 'incident.closed', Date.now() - 500, {})]);
        await applied(id, 3);
        expect(await outboxOf(id, 'sla.stand_down')).toHaveLength(1);
      }
      const onTopic = await readTopic(topics.escalations, 1);
      expect(onTopic.some((r) => r.value.includes(down!.id))).toBe(true);
    },
  );

  test('a paged incident cancelled as a duplicate stands down; nothing breached remains', async () => {
    const id = newId('cancel');
    const t0 = Date.now() - 400 * S;
    await producer.send(topics.events, [
      ev(id, 'incident.reported', t0, { severity: 'I', title: 'Dup', site: 'HQ' }),
    ]);
    await applied(id, 1);
    await escalated(id);
    await producer.send(topics.events, [
      ev(id, 'incident.cancelled', Date.now() - S, { reason: 'duplicate of INC-1' }),
    ]);
    await applied(id, 2);
    await waitFor(async () => (await outboxOf(id, 'sla.stand_down')).length === 1, {
      what: 'the stand-down',
    });
    const [down] = await outboxOf(id, 'sla.stand_down');
    expect(down!.payload.data).toMatchObject({
      settledAs: 'cancelled',
      reason: 'incident cancelled: duplicate of INC-1',
    });
    expect(await frozen(id, 'response')).toMatchObject({
      state: 'not_applicable',
      remainingSeconds: null,
    });
  });

  test('paused after the deadline: paused, no paused time, the overdue stands still', async () => {
    const id = newId('pause');
    const now = Date.now();
    await producer.send(topics.events, [
      ev(id, 'incident.reported', now - 3610 * S, { severity: 'II', title: 'Slow', site: 'HQ' }),
      ev(id, 'incident.paused', now - 5 * S, { reason: 'customer away' }),
    ]);
    await applied(id, 2);
    const d = await frozen(id, 'diagnosis');
    expect(d).toMatchObject({ state: 'paused', pausedSeconds: 0, remainingSeconds: -5 });
    expect(d.breachedAt).not.toBeNull();
    const v = await view(id, 'diagnosis');
    expect(v).toMatchObject({ state: 'paused', is_open: true, paused_ms: '0' });
    expect(Number(v.remaining_seconds)).toBe(-5);
    expect(Number(v.overdue_seconds)).toBe(5);
    // The list filter agrees with the detail: the incident is breached.
    clock.set(now + 10 * S);
    const list = await server.app.inject({
      url: `/v1/incidents?breached=true&site=HQ&limit=100`,
      headers: server.auth.read,
    });
    expect(list.json<{ items: { id: string }[] }>().items.map((i) => i.id)).toContain(id);
    // SPEC §4 "Discovered late": the deadline passed unmet before the pause, so the breach is
    // emitted (and escalates) although the clock is paused when the service learns of it.
    await waitFor(async () => (await outboxOf(id, 'sla.breached')).length > 0, {
      what: `sla.breached of ${id}`,
    });
    expect(
      (await outboxOf(id, 'sla.breached')).map((r) => r.payload.data.milestone).sort(),
    ).toEqual(['arrival', 'diagnosis', 'dispatch', 'response', 'solution']);
  });

  test('a reopen never revives the breach of a settled cycle', async () => {
    const id = newId('reopen');
    const now = Date.now();
    await producer.send(topics.events, [
      ev(id, 'incident.reported', now - 2 * 3600 * S, {
        severity: 'I',
        title: 'Again',
        site: 'HQ',
      }),
      ev(id, 'incident.resolved', now - 60 * S, {}),
      ev(id, 'incident.reopened', now - 30 * S, { reason: 'failed again' }),
    ]);
    await applied(id, 3);
    for (const m of ['response', 'diagnosis']) {
      const r = await frozen(id, m);
      expect(r.state).toBe('breached');
      const v = await view(id, m);
      expect(v).toMatchObject({ state: 'breached', is_open: false, breach_open: false });
      expect(Number(v.remaining_seconds)).toBe(r.remainingSeconds);
    }
    expect((await detail(id, now)).reopenCount).toBe(1);
  });
});

describe('the monthly report (SPEC §2, §3)', () => {
  test('counts reopens that took effect, and no milestone whose clock never started', async () => {
    const now = Date.now();
    const effective = newId('reopen-ok');
    const cancelled = newId('reopen-cancelled');
    const neverResolved = newId('reopen-open');
    await producer.send(topics.events, [
      ev(effective, 'incident.reported', now - 50 * S, { severity: 'IV', title: 'a', site: 'R' }),
      ev(effective, 'incident.resolved', now - 40 * S, {}),
      ev(effective, 'incident.reopened', now - 30 * S, { reason: 'x' }),
      ev(cancelled, 'incident.reported', now - 50 * S, { severity: 'IV', title: 'b', site: 'R' }),
      ev(cancelled, 'incident.cancelled', now - 40 * S, { reason: 'dup' }),
      ev(cancelled, 'incident.reopened', now - 30 * S, { reason: 'x' }),
      ev(neverResolved, 'incident.reported', now - 50 * S, {
        severity: 'IV',
        title: 'c',
        site: 'R',
      }),
      ev(neverResolved, 'incident.reopened', now - 30 * S, { reason: 'x' }),
    ]);
    await applied(effective, 3);
    await applied(cancelled, 3);
    await applied(neverResolved, 2);
    const { rows } = await db.pool.query<{ id: string; reopen_count: number }>(
      `SELECT incident_id AS id, reopen_count FROM incidents WHERE incident_id = ANY($1)
       ORDER BY incident_id`,
      [[effective, cancelled, neverResolved]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.reopen_count]))).toEqual({
      [effective]: 1,
      [cancelled]: 0,
      [neverResolved]: 0,
    });

    const month = new Date(now).toISOString().slice(0, 7);
    clock.set(now);
    const res = await server.app.inject({
      url: `/v1/reports/monthly?month=${month}&tz=UTC`,
      headers: server.auth.read,
    });
    const report = res.json<{
      incidents: { reopened: number };
      milestones: { milestone: string }[];
    }>();
    // Every incident of this file with a reopen that took effect, and only those.
    const { rows: reopened } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM incidents WHERE reopen_count > 0`,
    );
    expect(report.incidents.reopened).toBe(reopened[0]!.n);
    const { rows: reopenEvents } = await db.pool.query<{ n: number }>(
      `SELECT count(DISTINCT incident_id)::int AS n FROM incident_events
       WHERE type = 'incident.reopened'`,
    );
    expect(reopenEvents[0]!.n).toBeGreaterThan(report.incidents.reopened);
    // All incidents here are younger than 24 h: spare_parts has not started anywhere.
    expect(report.milestones.map((m) => m.milestone)).not.toContain('spare_parts');
  });
});
