// Builders for domain tests: events at minute offsets from a fixed report time.
import {
  DEFAULT_POLICY,
  HOUR,
  MINUTE,
  evaluate,
  evolve,
  initialState,
  type EventDataByType,
  type IncidentEvent,
  type IncidentEventType,
  type IncidentState,
  type MilestoneView,
  type Policy,
} from '../../../src/domain';

/** 2026-11-24T10:00:00+08:00, the report time used throughout. */
export const T0 = Date.UTC(2026, 10, 24, 2, 0, 0);
export const min = (m: number): number => T0 + m * MINUTE;
export const hrs = (h: number): number => T0 + h * HOUR;

let seq = 0;

export function ev<T extends IncidentEventType>(
  type: T,
  at: number,
  data: EventDataByType[T],
  opts: { id?: string; source?: string; incidentId?: string } = {},
): IncidentEvent {
  return {
    id: opts.id ?? `e${++seq}`,
    source: opts.source ?? '/servicedesk',
    type,
    incidentId: opts.incidentId ?? 'INC-1',
    at,
    data,
  } as IncidentEvent;
}

export const reported = (at = T0, severity: 'I' | 'II' | 'III' | 'IV' = 'I', extra = {}) =>
  ev('incident.reported', at, {
    severity,
    title: 'Core switch down',
    site: '长葛 data centre',
    ...extra,
  });

export function stateOf(events: readonly IncidentEvent[], incidentId = 'INC-1'): IncidentState {
  return events.reduce((s, e) => evolve(s, e), initialState(incidentId));
}

export function run(
  events: readonly IncidentEvent[],
  now: number,
  policy: Policy = DEFAULT_POLICY,
) {
  return evaluate(stateOf(events), policy, now);
}

export function milestone(
  events: readonly IncidentEvent[],
  now: number,
  id: string,
  policy: Policy = DEFAULT_POLICY,
): MilestoneView {
  const v = run(events, now, policy).milestones.find((m) => m.milestone === id);
  if (v === undefined) throw new Error(`no milestone ${id}`);
  return v;
}
