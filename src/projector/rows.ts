/**
 * The rows the projector writes, in the shape of migrations/0001_core.sql. Instants are epoch ms
 * here and become timestamptz in store.ts.
 */
import type { CostKind, CostLine, MilestoneState, ServiceKind, TimerKind } from '../domain';

export type IncidentRowStatus = 'pending' | 'open' | 'resolved' | 'closed' | 'cancelled';

export interface IncidentRow {
  incidentId: string;
  status: IncidentRowStatus;
  severity: string | null;
  title: string | null;
  category: string | null;
  customer: string | null;
  site: string | null;
  reporter: string | null;
  /** after_sales until a report says otherwise. */
  serviceKind: ServiceKind;
  assignee: string | null;
  tier: number;
  policyId: string | null;
  policyVersion: number | null;
  reportedAt: number | null;
  resolvedAt: number | null;
  closedAt: number | null;
  cancelledAt: number | null;
  reopenCount: number;
  /** Reopens that took effect (SPEC §3: from resolved or closed only), ascending. */
  reopenedAt: readonly number[];
  eventCount: number;
  lastEventAt: number | null;
}

export interface MilestoneRow {
  incidentId: string;
  milestone: string;
  cycle: number;
  state: MilestoneState;
  startAt: number | null;
  dueAt: number | null;
  warnAt: readonly number[];
  metAt: number | null;
  breachedAt: number | null;
  pausedMs: number;
  escalatesToTier: number | null;
  /** When the clock stopped ageing (met, settled, paused); see src/domain/milestone-state.ts. */
  stoppedAt: number | null;
  /** Wall ms paused after the deadline (not overdue). */
  overduePausedMs: number;
}

export interface TimerRow {
  key: string;
  generation: number;
  incidentId: string;
  milestone: string;
  cycle: number;
  kind: TimerKind;
  threshold: string | null;
  dueAt: number;
  deadline: number;
}

export interface TimelineRow {
  incidentId: string;
  source: string;
  eventId: string;
  type: string;
  /** The event's own `time` (kept as sent; the SLA uses the effective time). */
  time: number;
  /** When the service accepted it (SPEC §3 "Effective time"). */
  acceptedAt: number;
  data: Record<string, unknown>;
  partition: number;
  offset: bigint;
}

/** An incident_costs row: the effort or cost one event carries (src/domain/costs.ts). */
export interface CostRow {
  incidentId: string;
  source: string;
  eventId: string;
  kind: CostKind;
  /** The event's own `time`. */
  time: number;
  persons: number;
  personDays: number;
  amount: number | null;
  currency: string | null;
}

/** The row of the line (src/domain/costs.ts costLinesOf) an event carries; `time`: its own. */
export function costRow(
  e: { incidentId: string; source: string; eventId: string; time: number },
  line: CostLine,
): CostRow {
  return {
    ...e,
    kind: line.kind,
    persons: line.persons,
    personDays: line.personDays,
    amount: line.cost?.amount ?? null,
    currency: line.cost?.currency ?? null,
  };
}

export interface AppliedRow {
  source: string;
  eventId: string;
  incidentId: string;
  digest: string;
}

export interface EscalationRow {
  incidentId: string;
  toTier: number;
  fromTier: number;
  reason: string;
  eventId: string;
}

/** A timer_fires row, as far as the projector cares. */
export interface FiredTimer {
  timerKey: string;
  generation: number;
  incidentId: string;
  milestone: string;
  cycle: number;
  kind: string;
  dueAt: number;
  /** The sla.breached / sla.warning id; null when the scheduler skipped it as stale. */
  eventId: string | null;
}

/** What the projector knows of an incident before the batch (its row, if any). */
export interface PriorIncident {
  incidentId: string;
  status: IncidentRowStatus;
  tier: number;
  policyId: string | null;
  policyVersion: number | null;
}
