/**
 * `inspection.completed` events of a batch (issue 15 item 5), in the batch's transaction:
 *
 *   1. lock the inspections' timer rows (live only), so no firing of them runs meanwhile: a
 *      firing holding them first commits before we read timer_fires; one after us finds the
 *      completion and skips (the same handshake as for incidents, see scheduler/fire.ts);
 *   2. record the completions, once per (source, id) (insert-only: a replay adds nothing);
 *   3. live only: delete the met inspections' timers, and retract a breach already fired when
 *      the earliest completion shows the inspection was done by its deadline (SPEC §4).
 *
 * A rebuild records nothing new (the table is not rebuilt) and has no side effects; its timers
 * table gets the pending inspection timers at the swap (rebuild.ts).
 */
import { buildInspectionBreachRetracted, outboxRow, type OutboxRow } from '../contracts/sla-events';
import {
  completionRetractsBreach,
  inspectionTimerSubject,
  INSPECTION_TIMER_PREFIX,
} from '../domain';
import type { PoolClient } from '../infra/db';
import { insertOutboxRows } from '../outbox/store';
import { inspectionFields } from '../scheduler/fire-inspections';
import {
  completionsInsert,
  firedInspectionBreaches,
  type ObligationRow,
} from '../tables/inspections';
import { TIMERS_LOCK, timersOfSubjectsDelete } from '../tables/timers';
import type { DecodedInspection } from './decode';

export async function applyInspectionCompletions(
  client: PoolClient,
  settings: { sideEffects: boolean; topics: { warnings: string; escalations: string } },
  partition: number,
  completions: readonly DecodedInspection[],
  emittedAt: number,
): Promise<{ applied: number; outbox: number }> {
  const subjects = [...new Set(completions.map((c) => inspectionTimerSubject(c.inspectionId)))];
  if (settings.sideEffects) await client.query(TIMERS_LOCK, [subjects]);
  const inserted = await client.query(completionsInsert(partition, completions));
  const applied = inserted.rowCount ?? 0;
  if (!settings.sideEffects || applied === 0) return { applied, outbox: 0 };

  await client.query(timersOfSubjectsDelete(subjects));
  const { rows } = await client.query<ObligationRow & { event_id: string; completed_at: Date }>(
    firedInspectionBreaches(subjects, INSPECTION_TIMER_PREFIX),
  );
  const retractions: OutboxRow[] = rows
    .filter((r) => completionRetractsBreach(r.completed_at.getTime(), r.due_at.getTime()))
    .map((r) =>
      outboxRow(
        buildInspectionBreachRetracted(inspectionFields(r), {
          breachEventId: r.event_id,
          dueAt: r.due_at.getTime(),
          metAt: r.completed_at.getTime(),
          emittedAt,
        }),
        settings.topics,
      ),
    );
  return { applied, outbox: await insertOutboxRows(client, retractions) };
}
