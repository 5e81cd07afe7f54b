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
import { completionRetractsBreach, inspectionTimerSubject } from '../domain';
import type { PoolClient } from '../infra/db';
import { insertOutboxRows } from '../outbox/store';
import { inspectionFields } from '../scheduler/fire-inspections';
import type { DecodedInspection } from './decode';

export async function applyInspectionCompletions(
  client: PoolClient,
  settings: { sideEffects: boolean; topics: { warnings: string; escalations: string } },
  partition: number,
  completions: readonly DecodedInspection[],
  emittedAt: number,
): Promise<{ applied: number; outbox: number }> {
  const subjects = [...new Set(completions.map((c) => inspectionTimerSubject(c.inspectionId)))];
  if (settings.sideEffects) {
    await client.query(
      `SELECT 1 FROM timers WHERE incident_id = ANY ($1::text[]) ORDER BY timer_key FOR UPDATE`,
      [subjects],
    );
  }
  const inserted = await client.query(
    `INSERT INTO inspection_completions (source, event_id, inspection_id, site, report_ref,
       completed_at, time, kafka_partition, kafka_offset)
     SELECT u.source, u.id, u.inspection, u.site, u.ref, u.completed, u.time, $1, u.off
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
                 $8::timestamptz[], $9::bigint[]) AS u(source, id, inspection, site, ref, completed,
                                                      time, off)
     ON CONFLICT (source, event_id) DO NOTHING`,
    [
      partition,
      completions.map((c) => c.source),
      completions.map((c) => c.eventId),
      completions.map((c) => c.inspectionId),
      completions.map((c) => c.site),
      completions.map((c) => c.reportRef),
      completions.map((c) => new Date(c.completedAt)),
      completions.map((c) => new Date(c.time)),
      completions.map((c) => String(c.offset)),
    ],
  );
  const applied = inserted.rowCount ?? 0;
  if (!settings.sideEffects || applied === 0) return { applied, outbox: 0 };

  await client.query(`DELETE FROM timers WHERE incident_id = ANY ($1::text[])`, [subjects]);
  const { rows } = await client.query<{
    event_id: string;
    inspection_id: string;
    schedule_id: string;
    label: string;
    site: string | null;
    customer: string | null;
    escalates_to_tier: number;
    due_at: Date;
    completed_at: Date;
  }>(
    `SELECT f.event_id, i.inspection_id, i.schedule_id, i.label, s.site, s.customer,
            s.escalates_to_tier, i.due_at,
            (SELECT min(completed_at) FROM inspection_completions c
             WHERE c.inspection_id = i.inspection_id) AS completed_at
     FROM timer_fires f
     JOIN inspections i ON f.incident_id = $2 || i.inspection_id
     JOIN inspection_schedules s USING (schedule_id)
     WHERE f.incident_id = ANY ($1::text[]) AND f.kind = 'breach' AND f.event_id IS NOT NULL`,
    [subjects, inspectionTimerSubject('')],
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
