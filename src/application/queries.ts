/**
 * The read API's queries: incident list, detail, timeline, at-risk list, policies, from rows to
 * the contracts of src/contracts/read.ts. Reads only; every time-dependent answer takes `now`
 * (epoch ms, from the Clock) as an argument, so "warned" and "breached" are computed at request
 * time from the stored times (migrations/0001_core.sql: milestones.state is the state at
 * projection time, and nothing rewrites a row when a deadline passes). The SQL is in src/tables,
 * by the table it reads.
 *
 * What "breached", "warned" and "at risk" mean is decided once, in the domain's milestoneAt and
 * onAtRiskList (src/domain/milestone-state.ts), and their SQL twins.
 */
import {
  type AtRiskItem,
  type AtRiskQuery,
  type IncidentDetail,
  type IncidentList,
  type IncidentSummary,
  type ListIncidentsQuery,
  type ListSort,
  type PolicyVersion,
  textParam,
  type TimelineEntry,
} from '../contracts/read';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors';
import type { Pool } from '../infra/db';
import { escalationsOfIncident, type EscalationRecord } from '../tables/escalations';
import { timelineOf, type TimelineEntryRow } from '../tables/incident-events';
import {
  incidentById,
  incidentExists,
  incidentList,
  SQL_EFFECTIVE_TIER,
  type IncidentRecord,
  type ListedIncident,
  type ListPosition,
} from '../tables/incidents';
import { atRiskMilestones, milestonesOfIncident, type MilestoneRecord } from '../tables/milestones';
import {
  POLICY_LIST,
  policyVersionsOf,
  type PolicyRow,
  type PolicySummaryRecord,
} from '../tables/policies';
import type { Statement } from '../tables/sql';
import { iso, milestoneView } from './milestone-state';

// ---------------------------------------------------------------------------------------------
// Cursors: opaque to clients, exact for us (microseconds, since Postgres keeps them and a JS Date
// would round them away and skip or repeat rows).

type Cursor = ListPosition;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([1, c.sort, c.reportedUs, c.id, c.severity ?? null])).toString(
    'base64url',
  );
}

/**
 * A decoded cursor: [version 1, sort, reported_at in µs, incident id, severity or null]. The texts
 * are checked as a text parameter is (a NUL must not reach Postgres: it refuses it with a 500).
 */
const CURSOR = z.tuple([
  z.literal(1),
  z.string(),
  // Microseconds since 1970 within the years 1000–9999 (Postgres refuses more: a 500 before).
  z
    .string()
    .regex(/^-?\d{1,18}$/)
    .refine(
      (us) => BigInt(us) >= -30_610_224_000_000_000n && BigInt(us) < 253_402_300_800_000_000n,
    ),
  textParam,
  textParam.nullable(),
]);

export function decodeCursor(text: string, sort: ListSort): Cursor {
  const bad = (why: string) =>
    new ValidationError(`invalid query parameter 'cursor': ${why}`, [
      { path: 'cursor', message: why },
    ]);
  let parts: z.output<typeof CURSOR>;
  try {
    parts = CURSOR.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
  } catch {
    throw bad('not a cursor from this API');
  }
  if (parts[1] !== sort) throw bad(`made for sort=${parts[1]}, not sort=${sort}`);
  const cursor: Cursor = { sort, reportedUs: parts[2], id: parts[3] };
  if (sort === 'severity') {
    if (parts[4] === null) throw bad('not a cursor from this API');
    cursor.severity = parts[4];
  }
  return cursor;
}

// ---------------------------------------------------------------------------------------------
// Rows

function summary(
  r: IncidentRecord,
  flags: { breached: boolean; atRisk: boolean; nextDueAt: Date | null },
): IncidentSummary {
  return {
    id: r.incident_id,
    status: r.status,
    severity: r.severity,
    title: r.title,
    category: r.category,
    customer: r.customer,
    site: r.site,
    serviceKind: r.service_kind,
    assignee: r.assignee,
    tier: r.effective_tier,
    policy:
      r.policy_id !== null && r.policy_version !== null
        ? { id: r.policy_id, version: r.policy_version }
        : null,
    reportedAt: iso(r.reported_at),
    resolvedAt: iso(r.resolved_at),
    closedAt: iso(r.closed_at),
    cancelledAt: iso(r.cancelled_at),
    reopenCount: r.reopen_count,
    breached: flags.breached,
    atRisk: flags.atRisk,
    nextDueAt: iso(flags.nextDueAt),
    updatedAt: r.updated_at.toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------

export class ReadQueries {
  constructor(private readonly pool: Pool) {}

  private async rows<T>(stmt: Statement): Promise<T[]> {
    return (await this.pool.query<T & Record<string, unknown>>(stmt.text, stmt.values)).rows;
  }

  /**
   * One page of incidents (keyset on (reported_at, incident_id), so rows arriving meanwhile never
   * shift a page) and the total matching count. Only reported incidents are listed.
   */
  async listIncidents(q: ListIncidentsQuery, now: number): Promise<IncidentList> {
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, q.sort);
    const { page, count } = incidentList(q, now, after);
    const [listed, counted] = await Promise.all([
      this.rows<ListedIncident>(page),
      this.rows<{ n: number }>(count),
    ]);
    const rows = listed.slice(0, q.limit);
    const last = rows.at(-1);
    const nextCursor =
      listed.length > q.limit && last
        ? encodeCursor({
            sort: q.sort,
            reportedUs: last.reported_us!,
            id: last.incident_id,
            ...(q.sort === 'severity' ? { severity: last.severity ?? '' } : {}),
          })
        : null;
    return {
      items: rows.map((r) =>
        summary(r, { breached: r.breached, atRisk: r.at_risk, nextDueAt: r.next_due_at }),
      ),
      total: counted[0]?.n ?? 0,
      nextCursor,
      asOf: new Date(now).toISOString(),
    };
  }

  /** The incident with every milestone (state at `now`) and its escalations. */
  async getIncident(id: string, now: number): Promise<IncidentDetail> {
    const [incident, milestones, escalations] = await Promise.all([
      this.rows<IncidentRecord>(incidentById(id)),
      this.rows<MilestoneRecord>(milestonesOfIncident(id)),
      this.rows<EscalationRecord>(escalationsOfIncident(id)),
    ]);
    const row = incident[0];
    if (!row) throw new NotFoundError(`incident ${JSON.stringify(id)} not found`);
    const views = milestones.map((m) => milestoneView(m, now));
    const ahead = views
      .filter((v) => (v.state === 'pending' || v.state === 'warned') && v.dueAt !== null)
      .map((v) => v.dueAt!)
      .sort();
    return {
      ...summary(row, {
        breached: views.some((v) => v.breachedAt !== null),
        atRisk: views.some((v) => v.state === 'warned'),
        nextDueAt: ahead[0] ? new Date(ahead[0]) : null,
      }),
      reporter: row.reporter,
      eventCount: row.event_count,
      lastEventAt: iso(row.last_event_at),
      milestones: views,
      escalations: escalations.map((e) => ({
        fromTier: e.from_tier,
        toTier: e.to_tier,
        automatic: e.automatic,
        reason: e.reason,
        milestone: e.milestone,
        escalatedAt: e.escalated_at.toISOString(),
      })),
      asOf: new Date(now).toISOString(),
    };
  }

  /**
   * Lifecycle events (by event time) and the SLA events about the incident (by emission time),
   * merged in time order. Bounded: an incident with more than `limit` entries shows the first ones.
   */
  async timeline(id: string, limit = 2000): Promise<TimelineEntry[]> {
    const rows = await this.rows<TimelineEntryRow>(timelineOf(id, limit));
    if (rows.length === 0 && (await this.rows(incidentExists(id))).length === 0) {
      throw new NotFoundError(`incident ${JSON.stringify(id)} not found`);
    }
    return rows.map((r) => ({
      kind: r.kind,
      at: r.at.toISOString(),
      type: r.type,
      id: r.id,
      source: r.source ?? '',
      data: r.data ?? {},
      recordedAt: r.recorded_at.toISOString(),
      topic: r.topic,
      publishedAt: iso(r.sent_at),
    }));
  }

  /** GET /v1/sla/at-risk: what the domain's onAtRiskList lists at `now` (tables/milestones.ts). */
  async atRisk(q: AtRiskQuery, now: number): Promise<AtRiskItem[]> {
    const rows = await this.rows<
      MilestoneRecord & {
        title: string | null;
        severity: AtRiskItem['severity'];
        site: string | null;
        assignee: string | null;
        effective_tier: number;
      }
    >(atRiskMilestones(q, now, SQL_EFFECTIVE_TIER));
    return rows.map((r) => {
      const v = milestoneView(r, now);
      return {
        incidentId: r.incident_id,
        title: r.title,
        severity: r.severity,
        site: r.site,
        assignee: r.assignee,
        tier: r.effective_tier,
        milestone: r.milestone,
        cycle: r.cycle,
        state: v.state,
        dueAt: v.dueAt!,
        warnAt: v.warnAt,
        remainingSeconds: v.remainingSeconds!,
      };
    });
  }

  async listPolicies() {
    const rows = await this.rows<PolicySummaryRecord>(POLICY_LIST);
    return rows.map((r) => ({
      id: r.policy_id,
      name: r.name,
      latestVersion: r.versions.at(-1)!,
      versions: r.versions,
      updatedAt: r.updated_at.toISOString(),
    }));
  }

  async getPolicy(id: string): Promise<{ id: string; versions: PolicyVersion[] }> {
    const rows = await this.rows<PolicyRow>(policyVersionsOf(id));
    if (rows.length === 0) throw new NotFoundError(`policy ${JSON.stringify(id)} not found`);
    return { id, versions: rows.map(policyVersionView) };
  }
}

export function policyVersionView(r: PolicyRow): PolicyVersion {
  return {
    id: r.policy_id,
    version: r.version,
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
    document: r.document,
  };
}
