import {
  buildAutomaticEscalation,
  buildBreachRetracted,
  buildManualEscalation,
  buildSlaBreached,
  buildSlaWarning,
  deterministicId,
  escalationEventId,
  outboxRow,
  slaEventSchema,
  timerEventId,
  type PagerFields,
} from '../../../src/contracts/sla-events';

const pager: PagerFields = {
  incidentId: 'INC-2026-000123',
  title: 'Core switch down',
  severity: 'I',
  site: '长葛 data centre',
  tier: 1,
  assignee: 'engineer-1',
};
const due = Date.parse('2026-11-24T02:05:00Z');
const firing = {
  timerKey: 'INC-2026-000123/response/0/breach',
  generation: due,
  milestone: 'response',
  cycle: 0,
  dueAt: due,
  deadline: due,
  firedAt: due + 12,
};
const topics = { warnings: 'sla.warnings', escalations: 'sla.escalations' };

test('ids are uuid-shaped (RFC 9562 v8), deterministic, and differ per part', () => {
  const id = deterministicId('a', 1);
  expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(deterministicId('a', 1)).toBe(id);
  expect(deterministicId('a', 2)).not.toBe(id);
  // Same timer, same generation, same kind → same id; any of them differs → another id.
  const t = timerEventId('k', 1, 'breach');
  expect(timerEventId('k', '1', 'breach')).toBe(t);
  expect(timerEventId('k', 2, 'breach')).not.toBe(t);
  expect(timerEventId('k', 1, 'warning')).not.toBe(t);
});

test('every builder produces a valid event with the pager fields, keyed and routed by type', () => {
  const warning = buildSlaWarning(pager, {
    ...firing,
    timerKey: 'INC-2026-000123/response/0/warn:0',
    dueAt: due - 60_000,
    firedAt: due - 59_990,
    threshold: '0.8',
  });
  const breached = buildSlaBreached(pager, firing);
  const auto = buildAutomaticEscalation(pager, {
    fromTier: 1,
    toTier: 2,
    reason: 'response breached',
    milestone: 'response',
    emittedAt: firing.firedAt,
  });
  const manual = buildManualEscalation(pager, {
    fromTier: 1,
    toTier: 3,
    reason: 'customer VIP',
    source: '/servicedesk',
    eventId: 'e-1',
    emittedAt: due,
  });
  const retracted = buildBreachRetracted(pager, {
    breachEventId: breached.id,
    milestone: 'response',
    cycle: 0,
    reason: 'acknowledged at 10:04:59 (late event)',
    dueAt: due,
    metAt: due - 1000,
    emittedAt: due + 60_000,
  });
  for (const e of [warning, breached, auto, manual, retracted]) {
    expect(slaEventSchema.parse(e)).toEqual(e);
    expect(e).toMatchObject({
      specversion: '1.0',
      source: '/sla-timer',
      subject: pager.incidentId,
    });
    expect(e.data).toMatchObject({
      incidentId: pager.incidentId,
      title: pager.title,
      site: pager.site,
    });
  }
  expect(warning.data).toMatchObject({ remainingSeconds: 59, dueAt: '2026-11-24T02:05:00.000Z' });
  expect(breached.data.breachedAt).toBe('2026-11-24T02:05:00.012Z');
  expect(auto).toMatchObject({
    id: escalationEventId(pager.incidentId, 2),
    data: { tier: 2, automatic: true },
  });
  expect(manual.data).toMatchObject({ automatic: false, milestone: null, tier: 3 });
  expect(retracted.data.retracts).toBe(breached.id);
  expect(outboxRow(warning, topics)).toMatchObject({
    topic: 'sla.warnings',
    messageKey: pager.incidentId,
  });
  for (const e of [breached, auto, manual, retracted])
    expect(outboxRow(e, topics).topic).toBe('sla.escalations');
});

test('breachedAt is never before the deadline', () => {
  const e = buildSlaBreached(pager, { ...firing, firedAt: due - 5 });
  expect(e.data.breachedAt).toBe(e.data.dueAt);
});
