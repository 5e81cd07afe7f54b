/**
 * The incident aggregate's state is its set of lifecycle events, nothing else: events kept sorted
 * by (time, rank, source, id) and unique by (source, id). Everything the SLA needs is a fold over
 * that list (see evaluate.ts), so the state after any arrival order of the same events is the
 * same, and a duplicate changes nothing.
 */
import {
  eventKey,
  type IncidentEvent,
  type IncidentEventOf,
  type IncidentEventType,
} from './events';

export interface IncidentState {
  readonly incidentId: string;
  /** Sorted by `compareEvents`, unique by `eventKey`. */
  readonly events: readonly IncidentEvent[];
  /**
   * Earliest arrival time seen (the `receivedAt` given to `evolve`, else the event time); used to
   * bound how long events for an incident without a report may wait. Null with no events.
   */
  readonly firstSeenAt: number | null;
}

export function initialState(incidentId: string): IncidentState {
  return { incidentId, events: [], firstSeenAt: null };
}

/**
 * Rank breaks ties between events at the same millisecond so that the fold is deterministic and
 * sensible: the report first; then facts (met, assigned, paused…); then settling events; reopen
 * last. So a milestone met at the very millisecond of the resolution counts as met.
 */
const RANK: Readonly<Record<IncidentEventType, number>> = {
  'incident.reported': 0,
  'incident.acknowledged': 1,
  'incident.dispatched': 1,
  'incident.arrived': 1,
  'incident.diagnosed': 1,
  'incident.solution_provided': 1,
  'incident.spare_parts_provided': 1,
  'incident.assigned': 1,
  'incident.escalated': 1,
  'incident.severity_changed': 1,
  'incident.paused': 1,
  'incident.resumed': 1,
  'incident.resolved': 2,
  'incident.closed': 3,
  'incident.cancelled': 3,
  'incident.reopened': 4,
  'incident.cost_recorded': 1,
};

/** Total order of events used by the fold: (at, rank, source, id). */
export function compareEvents(a: IncidentEvent, b: IncidentEvent): number {
  return a.at - b.at || RANK[a.type] - RANK[b.type] || cmp(a.source, b.source) || cmp(a.id, b.id);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Adds one event. Returns the same state object if the event is a duplicate (same source and id;
 * the first copy wins even if the second differs) or belongs to another incident. `receivedAt`
 * (e.g. the Kafka record timestamp, so that replays agree) only feeds the orphan bound.
 */
export function evolve(
  state: IncidentState,
  event: IncidentEvent,
  receivedAt?: number,
): IncidentState {
  if (event.incidentId !== state.incidentId) return state;
  const key = eventKey(event);
  // Most events arrive in time order, so search for the insertion point from the end.
  const events = state.events;
  let i = events.length;
  while (i > 0 && compareEvents(events[i - 1]!, event) > 0) i--;
  // Duplicates need not sort next to each other (a second copy may carry another time): scan all.
  for (const e of events) if (e.id === event.id && eventKey(e) === key) return state;
  const next = events.slice();
  next.splice(i, 0, event);
  const seen = receivedAt ?? event.at;
  return {
    incidentId: state.incidentId,
    events: next,
    firstSeenAt: state.firstSeenAt === null ? seen : Math.min(state.firstSeenAt, seen),
  };
}

/** The earliest `incident.reported` in the fold order, if any; later reports are ignored. */
export function reportOf(state: IncidentState): IncidentEventOf<'incident.reported'> | undefined {
  for (const e of state.events) if (e.type === 'incident.reported') return e;
  return undefined;
}

/** How long events may wait for their incident's report before they are reported as orphans. */
export const DEFAULT_ORPHAN_BOUND_MS = 60 * 60 * 1000;

export function hasReport(state: IncidentState): boolean {
  return reportOf(state) !== undefined;
}

/**
 * Events of an incident with no report wait in the state (they are applied once the report
 * arrives). True once they have waited `boundMs` since the first of them arrived: the caller then
 * reports them as orphans (it may keep them: a report arriving later still makes them count).
 */
export function isOrphaned(
  state: IncidentState,
  now: number,
  boundMs: number = DEFAULT_ORPHAN_BOUND_MS,
): boolean {
  return !hasReport(state) && state.firstSeenAt !== null && now - state.firstSeenAt >= boundMs;
}
