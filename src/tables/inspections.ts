/**
 * Tables `inspection_schedules`, `inspections` and `inspection_completions` (migration 0014).
 * Schedules and their obligations are written by the admin API (application/inspections.ts),
 * never rebuilt; completions by the projector (projector/apply-inspections.ts), insert-only and
 * idempotent per (source, id). Read by the read API, the monthly report and the scheduler
 * (scheduler/fire-inspections.ts). Their timers are rows of `timers` (./timers.ts).
 */
import type { InspectionObligation } from '../domain';
import { ts, type Statement } from './sql';

/** Serializes creation per schedule id (a transaction-scoped advisory lock). */
export function lockScheduleCreation(scheduleId: string): Statement {
  return {
    text: 'SELECT pg_advisory_xact_lock(hashtext($1))',
    values: [`inspection-schedule:${scheduleId}`],
  };
}

/** `{ same }`: whether the stored document of the schedule equals `document` (no row: none). */
export function scheduleDocumentEquals(scheduleId: string, document: unknown): Statement {
  return {
    text: 'SELECT document = $2::jsonb AS same FROM inspection_schedules WHERE schedule_id = $1',
    values: [scheduleId, JSON.stringify(document)],
  };
}

export interface ScheduleInsert {
  id: string;
  site: string | null;
  customer: string | null;
  timeZone: string;
  quarterly: boolean;
  from: string;
  until: string;
  warnBefore: string;
  escalatesToTier: number;
  /** The request as accepted, defaults filled in. */
  document: unknown;
  createdBy: string | null;
}

export function scheduleInsert(s: ScheduleInsert): Statement {
  return {
    text: `INSERT INTO inspection_schedules (schedule_id, site, customer, time_zone, quarterly,
         from_date, until_date, warn_before, escalates_to_tier, document, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    values: [
      s.id,
      s.site,
      s.customer,
      s.timeZone,
      s.quarterly,
      s.from,
      s.until,
      s.warnBefore,
      s.escalatesToTier,
      JSON.stringify(s.document),
      s.createdBy,
    ],
  };
}

export function obligationsInsert(
  scheduleId: string,
  obligations: readonly InspectionObligation[],
): Statement {
  return {
    text: `INSERT INTO inspections (inspection_id, schedule_id, kind, label, due_at, warn_at)
       SELECT u.id, $1, u.kind, u.label, u.due, u.warn
       FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
         AS u(id, kind, label, due, warn)`,
    values: [
      scheduleId,
      obligations.map((o) => o.inspectionId),
      obligations.map((o) => o.kind),
      obligations.map((o) => o.label),
      obligations.map((o) => ts(o.dueAt)),
      obligations.map((o) => ts(o.warnAt)),
    ],
  };
}

/** A schedule row (ScheduleRow), dates as ISO text. */
export interface ScheduleRow {
  schedule_id: string;
  site: string | null;
  customer: string | null;
  time_zone: string;
  quarterly: boolean;
  from_date: string;
  until_date: string;
  warn_before: string;
  escalates_to_tier: number;
  created_at: Date;
  created_by: string | null;
}

const SCHEDULE_COLUMNS = `schedule_id, site, customer, time_zone, quarterly, from_date::text,
  until_date::text, warn_before, escalates_to_tier, created_at, created_by`;

export function scheduleById(scheduleId: string): Statement {
  return {
    text: `SELECT ${SCHEDULE_COLUMNS} FROM inspection_schedules WHERE schedule_id = $1`,
    values: [scheduleId],
  };
}

/**
 * Schedules by id, those after `after` (keyset paging), of a site and / or customer when given;
 * `limit` rows at most.
 */
export function schedulesPage(f: {
  site?: string;
  customer?: string;
  after?: string;
  limit: number;
}): Statement {
  return {
    text: `SELECT ${SCHEDULE_COLUMNS} FROM inspection_schedules
       WHERE ($1::text IS NULL OR site = $1) AND ($2::text IS NULL OR customer = $2)
         AND ($3::text IS NULL OR schedule_id > $3)
       ORDER BY schedule_id LIMIT $4`,
    values: [f.site ?? null, f.customer ?? null, f.after ?? null, f.limit],
  };
}

/** An obligation with its schedule's fields and its earliest completion known at `at`. */
export interface ObligationRow {
  inspection_id: string;
  schedule_id: string;
  kind: 'quarterly' | 'listed';
  label: string;
  site: string | null;
  customer: string | null;
  escalates_to_tier: number;
  due_at: Date;
  warn_at: Date | null;
  completed_at: Date | null;
  report_ref: string | null;
}

export interface ObligationFilter {
  site?: string;
  customer?: string;
  scheduleId?: string;
  /** Instants (ISO) bounding the deadline: [dueFrom, dueBefore). */
  dueFrom?: string;
  dueBefore?: string;
  /** done: a completion is known at `at`; due: none is. */
  status?: 'due' | 'done' | 'all';
  limit?: number;
}

/**
 * Obligations as ObligationRow, by deadline. The completion counted is the earliest whose
 * effective time is at or before `at` (domain inspectionStateAt: one not happened yet is unknown).
 */
export function obligations(at: number, f: ObligationFilter): Statement {
  return {
    text: `SELECT i.inspection_id, i.schedule_id, i.kind, i.label, s.site, s.customer,
         s.escalates_to_tier, i.due_at, i.warn_at, c.completed_at, c.report_ref
       FROM inspections i
       JOIN inspection_schedules s USING (schedule_id)
       LEFT JOIN LATERAL (
         SELECT completed_at, report_ref FROM inspection_completions c
         WHERE c.inspection_id = i.inspection_id AND c.completed_at <= $1
         ORDER BY completed_at, source, event_id LIMIT 1
       ) c ON true
       WHERE ($2::text IS NULL OR s.site = $2) AND ($3::text IS NULL OR s.customer = $3)
         AND ($4::text IS NULL OR i.schedule_id = $4)
         AND ($5::timestamptz IS NULL OR i.due_at >= $5)
         AND ($6::timestamptz IS NULL OR i.due_at < $6)
         AND ($7::text = 'all' OR ($7::text = 'done') = (c.completed_at IS NOT NULL))
       ORDER BY i.due_at, i.inspection_id
       LIMIT $8`,
    values: [
      ts(at),
      f.site ?? null,
      f.customer ?? null,
      f.scheduleId ?? null,
      f.dueFrom ?? null,
      f.dueBefore ?? null,
      f.status ?? 'all',
      f.limit ?? null,
    ],
  };
}

/**
 * The obligations `ids` as ObligationRow with their earliest completion whenever it happened (the
 * scheduler's decision compares it with its own now).
 */
export function obligationsByIds(ids: readonly string[]): Statement {
  return {
    text: `SELECT i.inspection_id, i.schedule_id, i.kind, i.label, s.site, s.customer,
         s.escalates_to_tier, i.due_at, i.warn_at, c.completed_at, NULL AS report_ref
       FROM inspections i
       JOIN inspection_schedules s USING (schedule_id)
       LEFT JOIN LATERAL (
         SELECT min(completed_at) AS completed_at FROM inspection_completions c
         WHERE c.inspection_id = i.inspection_id
       ) c ON true
       WHERE i.inspection_id = ANY ($1::text[])`,
    values: [ids],
  };
}

export interface CompletionInsert {
  source: string;
  eventId: string;
  inspectionId: string;
  site: string;
  reportRef: string | null;
  completedAt: number;
  time: number;
  offset: bigint;
}

/** Records completions once per (source, id); rowCount says how many were new. */
export function completionsInsert(partition: number, rows: readonly CompletionInsert[]): Statement {
  return {
    text: `INSERT INTO inspection_completions (source, event_id, inspection_id, site, report_ref,
         completed_at, time, kafka_partition, kafka_offset)
       SELECT u.source, u.id, u.inspection, u.site, u.ref, u.completed, u.time, $1, u.off
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                   $7::timestamptz[], $8::timestamptz[], $9::bigint[])
         AS u(source, id, inspection, site, ref, completed, time, off)
       ON CONFLICT (source, event_id) DO NOTHING`,
    values: [
      partition,
      rows.map((c) => c.source),
      rows.map((c) => c.eventId),
      rows.map((c) => c.inspectionId),
      rows.map((c) => c.site),
      rows.map((c) => c.reportRef),
      rows.map((c) => ts(c.completedAt)),
      rows.map((c) => ts(c.time)),
      rows.map((c) => String(c.offset)),
    ],
  };
}

/**
 * The breaches fired for the timers of `subjects` (timer_fires), with their obligation and its
 * earliest completion: ObligationRow & { event_id }.
 */
export function firedInspectionBreaches(subjects: readonly string[], prefix: string): Statement {
  return {
    text: `SELECT f.event_id, i.inspection_id, i.schedule_id, i.kind, i.label, s.site, s.customer,
         s.escalates_to_tier, i.due_at, i.warn_at, NULL AS report_ref,
         (SELECT min(completed_at) FROM inspection_completions c
          WHERE c.inspection_id = i.inspection_id) AS completed_at
       FROM timer_fires f
       JOIN inspections i ON f.incident_id = $2 || i.inspection_id
       JOIN inspection_schedules s USING (schedule_id)
       WHERE f.incident_id = ANY ($1::text[]) AND f.kind = 'breach' AND f.event_id IS NOT NULL`,
    values: [subjects, prefix],
  };
}
