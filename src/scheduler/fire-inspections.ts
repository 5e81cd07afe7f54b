/**
 * Inspection timers in a firing round (issue 15 item 5). The timer runner claims them with the
 * milestone timers (one claim, one transaction: fire.ts); this decides them against their
 * obligation and its earliest completion (domain decideInspectionFiring), records the firing in
 * timer_fires (the exactly-once guard, as for milestones) and returns the outbox rows to insert in
 * the same transaction. Ids are deterministic (same timer, generation and kind → same id).
 *
 * A completion and a firing never miss each other: the projector locks the inspection's timer
 * rows before it records a completion (projector/apply-inspections.ts), as it does for incidents.
 */
import {
  buildInspectionFiring,
  outboxRow,
  type InspectionFields,
  type OutboxRow,
  type SlaTier,
} from '../contracts/sla-events';
import {
  decideInspectionFiring,
  INSPECTION_TIMER_PREFIX,
  type InspectionSkipReason,
  type TimerKind,
} from '../domain';
import type { PoolClient } from '../infra/db';
import { obligationsByIds, type ObligationRow } from '../tables/inspections';

/** The columns of a claimed timer row this needs (fire.ts's claim returns more). */
export interface ClaimedInspectionTimer {
  timer_key: string;
  generation: string;
  incident_id: string;
  kind: TimerKind;
  threshold: string | null;
  due_at: Date;
  deadline: Date;
}

export interface InspectionDecision {
  timerKey: string;
  kind: TimerKind;
  dueAt: number;
  /** The event to publish, or why not. */
  outcome: { fire: true; outbox: OutboxRow } | { fire: false; reason: InspectionSkipReason };
}

export async function decideInspectionTimers(
  client: PoolClient,
  rows: readonly ClaimedInspectionTimer[],
  now: number,
  topics: { warnings: string; escalations: string },
): Promise<InspectionDecision[]> {
  const ids = rows.map((r) => r.incident_id.slice(INSPECTION_TIMER_PREFIX.length));
  const { rows: found } = await client.query<ObligationRow>(obligationsByIds(ids));
  const byId = new Map(found.map((o) => [o.inspection_id, o]));
  return rows.map((row, i): InspectionDecision => {
    const o = byId.get(ids[i]!);
    const timer = { kind: row.kind, deadline: row.deadline.getTime() };
    const decision = decideInspectionFiring(
      timer,
      o && { dueAt: o.due_at.getTime() },
      o?.completed_at?.getTime() ?? null,
      now,
    );
    const base = { timerKey: row.timer_key, kind: row.kind, dueAt: row.due_at.getTime() };
    if (!decision.fire) return { ...base, outcome: decision };
    const event = buildInspectionFiring(inspectionFields(o!), {
      timerKey: row.timer_key,
      generation: row.generation,
      kind: row.kind,
      threshold: row.threshold,
      dueAt: row.due_at.getTime(),
      deadline: timer.deadline,
      firedAt: now,
    });
    return { ...base, outcome: { fire: true, outbox: outboxRow(event, topics) } };
  });
}

export function inspectionFields(o: {
  inspection_id: string;
  schedule_id: string;
  label: string;
  site: string | null;
  customer: string | null;
  escalates_to_tier: number;
}): InspectionFields {
  return {
    obligation: 'inspection',
    inspectionId: o.inspection_id,
    scheduleId: o.schedule_id,
    label: o.label,
    site: o.site,
    customer: o.customer,
    tier: Math.min(3, Math.max(1, o.escalates_to_tier)) as SlaTier,
  };
}
