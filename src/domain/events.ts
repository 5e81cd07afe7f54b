/**
 * Incident lifecycle events (SPEC §3) as the domain sees them: the CloudEvent envelope reduced to
 * what the SLA logic needs, with `time` already parsed to epoch ms. A discriminated union on `type`.
 */

export const SEVERITIES = ['I', 'II', 'III', 'IV'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Escalation tier: 1 first line, 2 second line, 3 third line and vendor support (SPEC §2). */
export type Tier = 1 | 2 | 3;

/** `incident.reported` `serviceKind`: installation work is counted apart (seed §4.5.3.6, ./costs.ts). */
export const SERVICE_KINDS = ['after_sales', 'installation'] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

/** `incident.cost_recorded` `kind`, and the kind of every stored line. */
export const COST_KINDS = ['installation', 'dispatch', 'material', 'transport', 'other'] as const;
export type CostKind = (typeof COST_KINDS)[number];

/** An amount in integer minor units of `currency` (ISO 4217, e.g. 12050 CNY = ¥120.50). */
export interface Money {
  readonly amount: number;
  readonly currency: string;
}

export interface EventDataByType {
  'incident.reported': {
    severity: Severity;
    title: string;
    category?: string;
    customer?: string;
    site?: string;
    reporter?: string;
    policyId?: string;
    /** Installation work is counted apart in the monthly statistics (default after-sales). */
    serviceKind?: ServiceKind;
  };
  'incident.acknowledged': { by?: string };
  /** Effort and cost: see costLinesOf (./costs.ts). */
  'incident.dispatched': {
    engineers?: string[];
    persons?: number;
    days?: number;
    travelCost?: Money;
  };
  'incident.arrived': { engineer?: string; travelCost?: Money };
  'incident.diagnosed': { cause?: string };
  'incident.solution_provided': { kind: 'solution' | 'workaround'; detail?: string };
  'incident.spare_parts_provided': {
    parts?: string[];
    materialCost?: Money;
    transportCost?: Money;
  };
  'incident.assigned': { assignee: string; tier?: Tier };
  /** `fromTier`/`automatic` are set when the service's own escalations are fed back into the log. */
  'incident.escalated': { toTier: Tier; reason: string; fromTier?: Tier; automatic?: boolean };
  'incident.severity_changed': { severity: Severity; reason: string };
  'incident.paused': { reason: string };
  'incident.resumed': { reason: string };
  'incident.resolved': { resolution?: string };
  'incident.closed': { confirmedBy?: string };
  'incident.reopened': { reason: string };
  'incident.cancelled': { reason: string };
  /** A cost outside the events above (seed §4.5.3.6); no effect on the SLA. */
  'incident.cost_recorded': { kind: CostKind; amount: number; currency: string; note?: string };
}

export type IncidentEventType = keyof EventDataByType;

export const INCIDENT_EVENT_TYPES: readonly IncidentEventType[] = [
  'incident.reported',
  'incident.acknowledged',
  'incident.dispatched',
  'incident.arrived',
  'incident.diagnosed',
  'incident.solution_provided',
  'incident.spare_parts_provided',
  'incident.assigned',
  'incident.escalated',
  'incident.severity_changed',
  'incident.paused',
  'incident.resumed',
  'incident.resolved',
  'incident.closed',
  'incident.reopened',
  'incident.cancelled',
  'incident.cost_recorded',
];

/** Event types a policy may name as "meets this milestone". */
export type MeetingEventType =
  | 'incident.acknowledged'
  | 'incident.dispatched'
  | 'incident.arrived'
  | 'incident.diagnosed'
  | 'incident.solution_provided'
  | 'incident.spare_parts_provided'
  | 'incident.assigned';

export const MEETING_EVENT_TYPES: readonly MeetingEventType[] = [
  'incident.acknowledged',
  'incident.dispatched',
  'incident.arrived',
  'incident.diagnosed',
  'incident.solution_provided',
  'incident.spare_parts_provided',
  'incident.assigned',
];

interface EventOf<T extends IncidentEventType> {
  /** CloudEvent id: unique per source. (source, id) is the idempotency key. */
  readonly id: string;
  readonly source: string;
  readonly type: T;
  /** CloudEvent subject. */
  readonly incidentId: string;
  /** CloudEvent `time` in epoch ms: when it happened. The SLA clock uses this, never arrival time. */
  readonly at: number;
  readonly data: Readonly<EventDataByType[T]>;
}

export type IncidentEvent = { [T in IncidentEventType]: EventOf<T> }[IncidentEventType];
export type IncidentEventOf<T extends IncidentEventType> = Extract<IncidentEvent, { type: T }>;

/** The idempotency key of an event (SPEC §3: `id` is unique per source). */
export function eventKey(e: { source: string; id: string }): string {
  return `${e.source}\u0000${e.id}`;
}

/**
 * SPEC §3 "Effective time": an event takes effect at the earlier of its `time` and the moment the
 * service accepted it, so a producer clock running ahead can neither meet a milestone before the
 * fact arrives nor show a `metAt` in the future. `acceptedAt` null (unknown): its `time`.
 */
export function effectiveTime(time: number, acceptedAt: number | null): number {
  return acceptedAt !== null && acceptedAt < time ? acceptedAt : time;
}

/** Whether a text is one of the severities. */
export function isSeverity(value: string | null | undefined): value is Severity {
  return value === 'I' || value === 'II' || value === 'III' || value === 'IV';
}
