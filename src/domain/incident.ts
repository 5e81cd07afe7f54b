/**
 * The incident aggregate's state is its set of lifecycle events, nothing else: events kept sorted
 * by (time, rank, source, id) and unique by (source, id). Everything the SLA needs is a fold over
 * that list (see evaluate.ts), so the state after any arrival order of the same events is the
 * same, and a duplicate changes nothing.
 */
import { eventKey, type IncidentEvent } from './events';

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

/** Total order of events used by the fold. */
export function compareEvents(a: IncidentEvent, b: IncidentEvent): number {
  void a;
  void b;
  throw new Error('not implemented');
}

/**
 * Adds one event. Returns the same state object if the event is a duplicate (same source and id)
 * or belongs to another incident. `receivedAt` (e.g. the Kafka record timestamp, so replays agree)
 * only feeds the orphan bound.
 */
export function evolve(state: IncidentState, event: IncidentEvent, receivedAt?: number): IncidentState {
  void state;
  void event;
  void receivedAt;
  void eventKey;
  throw new Error('not implemented');
}

/** The earliest `incident.reported` in the fold order, if any. */
export function reportOf(state: IncidentState) {
  return state.events.find((e) => e.type === 'incident.reported');
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
export function isOrphaned(state: IncidentState, now: number, boundMs: number = DEFAULT_ORPHAN_BOUND_MS): boolean {
  return !hasReport(state) && state.firstSeenAt !== null && now - state.firstSeenAt >= boundMs;
}
