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
  type InspectionScheduleSummary,
  type InspectionScheduleView,
  type InspectionsQuery,
  type InspectionView,
  type SchedulesQuery,
} from '../contracts/inspections';
import { parseInput } from '../contracts/read';
import {
  inspectionStateAt,
  inspectionTimers,
  INSPECTION_MILESTONE,
  planInspections,
  type InspectionSchedule,
} from '../domain';
import { AppError, NotFoundError, ValidationError } from '../errors';
import { withTransaction, type Pool, type PoolClient } from '../infra/db';
import {
  lockScheduleCreation,
  obligations,
  obligationsInsert,
  scheduleById,
  scheduleDocumentEquals,
  scheduleInsert,
  schedulesPage,
  type ObligationRow,
  type ScheduleRow,
} from '../tables/inspections';
import { timersUpsert } from '../tables/timers';

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
  const planned = planInspections(schedule).filter((o) => o.dueAt > opts.now);

  return withTransaction(pool, async (client) => {
    await client.query(lockScheduleCreation(document.id));
    const existing = await client.query<{ same: boolean }>(
      scheduleDocumentEquals(document.id, document),
    );
    if (existing.rows[0]) {
      if (!existing.rows[0].same) {
        throw new ScheduleConflictError(
          `inspection schedule ${JSON.stringify(document.id)} exists with another document`,
        );
      }
      return { created: false, schedule: await loadSchedule(client, document.id, opts.now) };
    }
    await client.query(scheduleInsert({ ...document, document, createdBy: opts.createdBy }));
    if (planned.length > 0) {
      await client.query(obligationsInsert(document.id, planned));
      // The timer runner's own rows (domain inspectionTimers), beside the milestones' timers.
      await client.query(
        timersUpsert(
          planned
            .flatMap((o) => inspectionTimers(o, input.warnBefore))
            .map((t) => ({
              key: t.timerKey,
              generation: t.generation,
              incidentId: t.subject,
              milestone: INSPECTION_MILESTONE,
              cycle: 0,
              kind: t.kind,
              threshold: t.threshold,
              dueAt: t.dueAt,
              deadline: t.deadline,
            })),
        ),
      );
    }
    return { created: true, schedule: await loadSchedule(client, document.id, opts.now) };
  });
}

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
  const { rows } = await pool.query<ObligationRow>(obligations(now, q));
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
  const { rows } = await client.query<ScheduleRow>(scheduleById(id));
  const s = rows[0];
  if (!s) throw new NotFoundError(`no inspection schedule ${JSON.stringify(id)}`);
  const listed = await client.query<ObligationRow>(obligations(now, { scheduleId: id }));
  return { ...summary(s), inspections: listed.rows.map((r) => view(r, now)) };
}

function summary(s: ScheduleRow): InspectionScheduleSummary {
  return {
    id: s.schedule_id,
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
  };
}

/**
 * GET /v1/inspection-schedules: the schedules by id (of a site and / or customer when asked),
 * `q.limit` per page; `next` is the last id of a full page (pass it as `after`), else null.
 * Their inspections: GET /v1/inspections?scheduleId=….
 */
export async function listInspectionSchedules(
  pool: Pool,
  q: SchedulesQuery,
): Promise<{ items: InspectionScheduleSummary[]; next: string | null }> {
  const { rows } = await pool.query<ScheduleRow>(schedulesPage(q));
  const full = rows.length === q.limit;
  return { items: rows.map(summary), next: full ? rows.at(-1)!.schedule_id : null };
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
    obligations(now, { dueFrom: from.toISOString(), dueBefore: to.toISOString() }),
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
  // Sites by name, customer-wide schedules (no site) after them.
  const order = (x: { site: string | null; customer: string | null }) =>
    `${x.site === null ? '1' : '0'}${x.site ?? ''}\u0000${x.customer ?? ''}`;
  const sites = [...bySite.values()].sort((a, b) => (order(a) < order(b) ? -1 : 1));
  return { ...withPct(total), bySite: sites.map(withPct) };
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
