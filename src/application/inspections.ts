/**
 * Inspection schedules (issue 15 item 5): creating one (admin), listing obligations, and the
 * monthly report's inspection section. Obligations and their timers are written in ONE
 * transaction, so the scheduler (the same timer runner as for milestones) knows every deadline
 * the moment the API answers 201. States are the domain's rule (inspectionStateAt), applied to
 * the stored deadline and the earliest completion; SQL only says whether a completion exists.
 */
import { randomUUID } from 'node:crypto';
import { DateTime, Duration } from 'luxon';
import {
  inspectionScheduleBody,
  MAX_SCHEDULE_YEARS,
  type InspectionReportSection,
  type InspectionScheduleView,
  type InspectionsQuery,
  type InspectionView,
} from '../contracts/inspections';
import { parseInput } from '../contracts/read';
import {
  inspectionStateAt,
  inspectionTimers,
  INSPECTION_MILESTONE,
  planInspections,
  type InspectionObligation,
  type InspectionSchedule,
} from '../domain';
import { AppError, NotFoundError, ValidationError } from '../errors';
import { withTransaction, type Pool, type PoolClient } from '../infra/db';

/** The id is taken by a schedule with another document. */
export class ScheduleConflictError extends AppError {
  constructor(message: string) {
    super('schedule_conflict', message);
  }
}

/**
 * Creates a schedule with its obligations and their timers. Idempotent: the same document again
 * (defaults filled in) answers the existing schedule with `created: false`; another document under
 * the same id is a ScheduleConflictError. Quarters whose deadline has passed are not created (a
 * schedule never pages about the past); a listed date in the past is a ValidationError.
 */
export async function createInspectionSchedule(
  pool: Pool,
  body: unknown,
  opts: { createdBy: string | null; now: number; defaultTimeZone: string },
): Promise<{ created: boolean; schedule: InspectionScheduleView }> {
  const input = parseInput(inspectionScheduleBody, body, 'body field');
  const timeZone = input.timeZone ?? opts.defaultTimeZone;
  const from = input.from ?? DateTime.fromMillis(opts.now, { zone: timeZone }).toISODate()!;
  const until =
    input.until ??
    DateTime.fromISO(from, { zone: timeZone })
      .startOf('quarter')
      .plus({ quarters: 4 })
      .minus({ days: 1 })
      .toISODate()!;
  if (until < from) throw fieldError('until', `must not be before from (${from})`);
  if (DateTime.fromISO(from).plus({ years: MAX_SCHEDULE_YEARS }) <= DateTime.fromISO(until)) {
    throw fieldError('until', `a schedule covers at most ${MAX_SCHEDULE_YEARS} years`);
  }
  const dates = input.dates.map((d, i) => {
    const dueAt = Date.parse(d.dueAt);
    if (dueAt <= opts.now) throw fieldError(`dates.${i}.dueAt`, 'must be in the future');
    const id = d.id ?? DateTime.fromMillis(dueAt, { zone: timeZone }).toISODate()!;
    return { id, dueAt, label: d.label };
  });
  const seen = new Set<string>();
  dates.forEach((d, i) => {
    if (seen.has(d.id)) {
      throw fieldError(
        `dates.${i}.id`,
        `duplicate id ${JSON.stringify(d.id)}; give each date an id`,
      );
    }
    seen.add(d.id);
  });

  const document = {
    id: input.id ?? randomUUID(),
    site: input.site ?? null,
    customer: input.customer ?? null,
    timeZone,
    quarterly: input.quarterly,
    from,
    until,
    dates: dates.map((d) => ({ ...d, dueAt: new Date(d.dueAt).toISOString() })),
    warnBefore: input.warnBefore,
    escalatesToTier: input.escalatesToTier,
  };
  const schedule: InspectionSchedule = {
    id: document.id,
    timeZone,
    quarterly: input.quarterly,
    from,
    until,
    dates,
    warnBeforeMs: Duration.fromISO(input.warnBefore).as('milliseconds'),
  };
  const obligations = planInspections(schedule).filter((o) => o.dueAt > opts.now);

  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      `inspection-schedule:${document.id}`,
    ]);
    const existing = await client.query<{ same: boolean }>(
      'SELECT document = $2::jsonb AS same FROM inspection_schedules WHERE schedule_id = $1',
      [document.id, JSON.stringify(document)],
    );
    if (existing.rows[0]) {
      if (!existing.rows[0].same) {
        throw new ScheduleConflictError(
          `inspection schedule ${JSON.stringify(document.id)} exists with another document`,
        );
      }
      return { created: false, schedule: await loadSchedule(client, document.id, opts.now) };
    }
    await client.query(
      `INSERT INTO inspection_schedules (schedule_id, site, customer, time_zone, quarterly,
         from_date, until_date, warn_before, escalates_to_tier, document, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        document.id,
        document.site,
        document.customer,
        timeZone,
        document.quarterly,
        from,
        until,
        document.warnBefore,
        document.escalatesToTier,
        JSON.stringify(document),
        opts.createdBy,
      ],
    );
    await insertObligations(client, document.id, obligations, input.warnBefore);
    return { created: true, schedule: await loadSchedule(client, document.id, opts.now) };
  });
}

/** The obligations and their warning and breach timers (timers: see domain/inspections.ts). */
async function insertObligations(
  client: PoolClient,
  scheduleId: string,
  obligations: InspectionObligation[],
  warnBefore: string,
): Promise<void> {
  if (obligations.length === 0) return;
  await client.query(
    `INSERT INTO inspections (inspection_id, schedule_id, kind, label, due_at, warn_at)
     SELECT u.id, $1, u.kind, u.label, u.due, u.warn
     FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
       AS u(id, kind, label, due, warn)`,
    [
      scheduleId,
      obligations.map((o) => o.inspectionId),
      obligations.map((o) => o.kind),
      obligations.map((o) => o.label),
      obligations.map((o) => new Date(o.dueAt)),
      obligations.map((o) => (o.warnAt === null ? null : new Date(o.warnAt))),
    ],
  );
  const timers = obligations.flatMap((o) => inspectionTimers(o, warnBefore));
  await client.query(
    `INSERT INTO timers (timer_key, generation, incident_id, milestone, cycle, kind, threshold,
       due_at, deadline)
     SELECT u.k, u.g, u.s, $1, 0, u.kind, u.th, u.da, u.dl
     FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                 $7::timestamptz[], $8::timestamptz[]) AS u(k, g, s, kind, th, da, dl)
     ON CONFLICT (timer_key) DO NOTHING`,
    [
      INSPECTION_MILESTONE,
      timers.map((t) => t.timerKey),
      timers.map((t) => t.generation),
      timers.map((t) => t.subject),
      timers.map((t) => t.kind),
      timers.map((t) => t.threshold),
      timers.map((t) => new Date(t.dueAt)),
      timers.map((t) => new Date(t.deadline)),
    ],
  );
}

interface ObligationRow {
  inspection_id: string;
  schedule_id: string;
  kind: 'quarterly' | 'listed';
  label: string;
  site: string | null;
  customer: string | null;
  due_at: Date;
  warn_at: Date | null;
  completed_at: Date | null;
  report_ref: string | null;
}

/**
 * Obligations with their earliest completion known at `$1` (the request time). Filters are
 * appended by the callers; parameters from $2.
 */
const OBLIGATIONS_SQL = `
SELECT i.inspection_id, i.schedule_id, i.kind, i.label, s.site, s.customer, i.due_at, i.warn_at,
       c.completed_at, c.report_ref
FROM inspections i
JOIN inspection_schedules s USING (schedule_id)
LEFT JOIN LATERAL (
  SELECT completed_at, report_ref FROM inspection_completions c
  WHERE c.inspection_id = i.inspection_id AND c.completed_at <= $1
  ORDER BY completed_at, source, event_id LIMIT 1
) c ON true`;

function view(r: ObligationRow, now: number): InspectionView {
  const dueAt = r.due_at.getTime();
  const completedAt = r.completed_at?.getTime() ?? null;
  return {
    inspectionId: r.inspection_id,
    scheduleId: r.schedule_id,
    kind: r.kind,
    label: r.label,
    site: r.site,
    customer: r.customer,
    dueAt: r.due_at.toISOString(),
    warnAt: r.warn_at?.toISOString() ?? null,
    state: inspectionStateAt({ dueAt, warnAt: r.warn_at?.getTime() ?? null }, completedAt, now),
    remainingSeconds: completedAt === null ? Math.floor((dueAt - now) / 1000) : null,
    completedAt: r.completed_at?.toISOString() ?? null,
    reportRef: r.report_ref,
  };
}

/** GET /v1/inspections: due and done inspections, by deadline. */
export async function listInspections(
  pool: Pool,
  q: InspectionsQuery,
  now: number,
): Promise<InspectionView[]> {
  const { rows } = await pool.query<ObligationRow>(
    `${OBLIGATIONS_SQL}
     WHERE ($2::text IS NULL OR s.site = $2) AND ($3::text IS NULL OR s.customer = $3)
       AND ($4::text IS NULL OR i.schedule_id = $4)
       AND ($5::timestamptz IS NULL OR i.due_at >= $5) AND ($6::timestamptz IS NULL OR i.due_at < $6)
       AND ($7 = 'all' OR ($7 = 'done') = (c.completed_at IS NOT NULL))
     ORDER BY i.due_at, i.inspection_id
     LIMIT $8`,
    [
      new Date(now),
      q.site ?? null,
      q.customer ?? null,
      q.scheduleId ?? null,
      q.dueFrom ?? null,
      q.dueBefore ?? null,
      q.status,
      q.limit,
    ],
  );
  return rows.map((r) => view(r, now));
}

/** GET /v1/inspection-schedules/{id}: the schedule and every obligation it created. */
export async function getInspectionSchedule(
  pool: Pool,
  id: string,
  now: number,
): Promise<InspectionScheduleView> {
  const client = await pool.connect();
  try {
    return await loadSchedule(client, id, now);
  } finally {
    client.release();
  }
}

async function loadSchedule(
  client: PoolClient,
  id: string,
  now: number,
): Promise<InspectionScheduleView> {
  const { rows } = await client.query<{
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
  }>(
    `SELECT site, customer, time_zone, quarterly, from_date::text, until_date::text, warn_before,
            escalates_to_tier, created_at, created_by
     FROM inspection_schedules WHERE schedule_id = $1`,
    [id],
  );
  const s = rows[0];
  if (!s) throw new NotFoundError(`no inspection schedule ${JSON.stringify(id)}`);
  const obligations = await client.query<ObligationRow>(
    `${OBLIGATIONS_SQL} WHERE i.schedule_id = $2 ORDER BY i.due_at, i.inspection_id`,
    [new Date(now), id],
  );
  return {
    id,
    site: s.site,
    customer: s.customer,
    timeZone: s.time_zone,
    quarterly: s.quarterly,
    from: s.from_date,
    until: s.until_date,
    warnBefore: s.warn_before,
    escalatesToTier: s.escalates_to_tier,
    createdAt: s.created_at.toISOString(),
    createdBy: s.created_by,
    inspections: obligations.rows.map((r) => view(r, now)),
  };
}

/**
 * The monthly report's inspection section: inspections due in [from, to), as they stand at
 * `now` (as the milestone statistics do), overall and per site.
 */
export async function inspectionReport(
  pool: Pool,
  from: Date,
  to: Date,
  now: number,
): Promise<InspectionReportSection> {
  const { rows } = await pool.query<ObligationRow>(
    `${OBLIGATIONS_SQL} WHERE i.due_at >= $2 AND i.due_at < $3
     ORDER BY s.site NULLS LAST, s.customer NULLS LAST`,
    [new Date(now), from, to],
  );
  const total = emptyCounts();
  const bySite = new Map<
    string,
    ReturnType<typeof emptyCounts> & { site: string | null; customer: string | null }
  >();
  for (const r of rows) {
    const state = view(r, now).state;
    const key = JSON.stringify([r.site, r.customer]);
    let site = bySite.get(key);
    if (!site) bySite.set(key, (site = { site: r.site, customer: r.customer, ...emptyCounts() }));
    for (const c of [total, site]) count(c, state);
  }
  return { ...withPct(total), bySite: [...bySite.values()].map(withPct) };
}

function emptyCounts() {
  return { due: 0, metOnTime: 0, breached: 0, metLate: 0, open: 0 };
}

function count(c: ReturnType<typeof emptyCounts>, state: InspectionView['state']): void {
  c.due++;
  if (state === 'met') c.metOnTime++;
  else if (state === 'breached') c.breached++;
  else if (state === 'met_late') {
    c.breached++;
    c.metLate++;
  } else c.open++;
}

function withPct<T extends ReturnType<typeof emptyCounts>>(
  c: T,
): T & { compliancePct: number | null } {
  const decided = c.metOnTime + c.breached;
  return {
    ...c,
    compliancePct: decided === 0 ? null : Math.round((1000 * c.metOnTime) / decided) / 10,
  };
}

function fieldError(path: string, message: string): ValidationError {
  return new ValidationError(`invalid body field '${path}': ${message}`, [{ path, message }]);
}
