import {
  buildInspectionBreachRetracted,
  buildInspectionFiring,
  inspectionBreachedSchema,
  inspectionBreachRetractedSchema,
  inspectionWarningSchema,
  outboxRow,
  timerEventId,
  type InspectionFields,
} from '../../../src/contracts/sla-events';

const fields: InspectionFields = {
  obligation: 'inspection',
  inspectionId: 'cg:cny',
  scheduleId: 'cg',
  label: '春节',
  site: '长葛 data centre',
  customer: 'Acme',
  tier: 2,
};
const topics = { warnings: 'w', escalations: 'e' };
const firing = {
  timerKey: 'inspection/cg:cny/breach',
  generation: 1_000_000,
  dueAt: 1_000_000,
  deadline: 1_000_000,
  firedAt: 1_000_250,
  threshold: null,
};

describe('inspection SLA events (SPEC §4: obligation "inspection", the site instead of an incident)', () => {
  it('a breach: deterministic id, keyed and addressed by site, on the escalations topic', () => {
    const event = buildInspectionFiring(fields, { ...firing, kind: 'breach' });
    expect(inspectionBreachedSchema.parse(event)).toEqual(event);
    expect(event.id).toBe(timerEventId(firing.timerKey, firing.generation, 'breach'));
    expect(event.subject).toBe('长葛 data centre');
    expect(event.data).toMatchObject({
      dueAt: '1970-01-01T00:16:40.000Z',
      breachedAt: '1970-01-01T00:16:40.250Z',
    });
    expect(outboxRow(event, topics)).toMatchObject({ topic: 'e', messageKey: '长葛 data centre' });
  });

  it('a warning on the warnings topic; a customer-wide schedule is keyed by customer', () => {
    const event = buildInspectionFiring(
      { ...fields, site: null },
      { ...firing, kind: 'warning', threshold: 'P14D', dueAt: 400_000, firedAt: 401_000 },
    );
    expect(inspectionWarningSchema.parse(event)).toEqual(event);
    expect(event.data).toMatchObject({ threshold: 'P14D', remainingSeconds: 599 });
    expect(outboxRow(event, topics)).toMatchObject({ topic: 'w', messageKey: 'Acme' });
  });

  it('a retraction names the breach', () => {
    const breach = buildInspectionFiring(fields, { ...firing, kind: 'breach' });
    const event = buildInspectionBreachRetracted(fields, {
      breachEventId: breach.id,
      dueAt: 1_000_000,
      metAt: 999_000,
      emittedAt: 2_000_000,
    });
    expect(inspectionBreachRetractedSchema.parse(event)).toEqual(event);
    expect(event.data).toMatchObject({ retracts: breach.id, metAt: '1970-01-01T00:16:39.000Z' });
    expect(outboxRow(event, topics).topic).toBe('e');
  });
});
