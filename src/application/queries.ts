/**
 * The read side's SQL: incident list, detail, timeline, at-risk list, policies. Reads only; every
 * time-dependent answer takes `now` (epoch ms, from the Clock) as an argument, so "warned" and
 * "breached" are computed at request time from the stored times (migrations/0001_core.sql:
 * milestones.state is the state at projection time, and nothing rewrites a row when a deadline
 * passes).
 *
 * What "breached", "warned" and "at risk" mean is decided once, in ./milestone-state.ts.
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
  type TimelineEntry,
} from '../contracts/read';
import { NotFoundError, ValidationError } from '../errors';
import type { Pool } from '../infra/db';
import { iso, milestoneSql, milestoneView, type MilestoneRow } from './milestone-state';

const {
  breached: SQL_BREACHED,
  openAhead: SQL_OPEN_AHEAD,
  atRisk: SQL_AT_RISK,
} = milestoneSql(':now');
/** Effective tier (team contract): escalation never lowers it. */
export const SQL_EFFECTIVE_TIER = `greatest(i.tier,
  coalesce((SELECT max(e.to_tier) FROM escalations e WHERE e.incident_id = i.incident_id), 1))`;

/** Positional parameters collected while a statement is assembled. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Cursors: opaque to clients, exact for us (microseconds, since Postgres keeps them and a JS Date
// would round them away and skip or repeat rows).

interface Cursor {
  sort: ListSort;
  /** reported_at in epoch microseconds, as a decimal string. */
  reportedUs: string;
  id: string;
  severity?: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([1, c.sort, c.reportedUs, c.id, c.severity ?? null])).toString(
    'base64url',
  );
}

export function decodeCursor(text: string, sort: ListSort): Cursor {
  const bad = (why: string) =>
    new ValidationError(`invalid query parameter 'cursor': ${why}`, [
      { path: 'cursor', message: why },
    ]);
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw bad('not a cursor from this API');
  }
  if (
    !Array.isArray(parts) ||
    parts[0] !== 1 ||
    typeof parts[1] !== 'string' ||
    typeof parts[2] !== 'string' ||
    !/^-?\d{1,20}$/.test(parts[2]) ||
    typeof parts[3] !== 'string' ||
    (parts[4] !== null && typeof parts[4] !== 'string')
  ) {
    throw bad('not a cursor from this API');
  }
  if (parts[1] !== sort) throw bad(`made for sort=${parts[1]}, not sort=${sort}`);
  const cursor: Cursor = { sort, reportedUs: parts[2], id: parts[3] };
  if (sort === 'severity') {
    if (typeof parts[4] !== 'string') throw bad('not a cursor from this API');
    cursor.severity = parts[4];
  }
  return cursor;
}

// ---------------------------------------------------------------------------------------------
// Rows

interface IncidentRow {
  incident_id: string;
  status: IncidentSummary['status'];
  severity: IncidentSummary['severity'];
  title: string | null;
  category: string | null;
  customer: string | null;
  site: string | null;
  reporter: string | null;
  assignee: string | null;
  effective_tier: number;
  policy_id: string | null;
  policy_version: number | null;
  reported_at: Date | null;
  resolved_at: Date | null;
  closed_at: Date | null;
  cancelled_at: Date | null;
  reopen_count: number;
  event_count: number;
  last_event_at: Date | null;
  updated_at: Date;
  reported_us: string | null;
}

const INCIDENT_COLUMNS = `i.incident_id, i.status, i.severity, i.title, i.category, i.customer,
  i.site, i.reporter, i.assignee, ${SQL_EFFECTIVE_TIER} AS effective_tier, i.policy_id,
  i.policy_version, i.reported_at, i.resolved_at, i.closed_at, i.cancelled_at, i.reopen_count,
  i.event_count, i.last_event_at, i.updated_at,
  (extract(epoch FROM i.reported_at) * 1000000)::bigint::text AS reported_us`;

function summary(
  r: IncidentRow,
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

const ORDER: Record<ListSort, string> = {
  '-reportedAt': 'i.reported_at DESC, i.incident_id DESC',
  reportedAt: 'i.reported_at ASC, i.incident_id ASC',
  severity: 'i.severity ASC, i.reported_at DESC, i.incident_id DESC',
};

/** Default-policy milestones in the policy's order; others follow by deadline. */
const MILESTONE_ORDER = `array_position(
  ARRAY['response', 'dispatch', 'arrival', 'diagnosis', 'solution', 'spare_parts'], m.milestone)`;

export class ReadQueries {
  constructor(private readonly pool: Pool) {}

  /**
   * One page of incidents (keyset on (reported_at, incident_id), so rows arriving meanwhile never
   * shift a page) and the total matching count. Only reported incidents are listed.
   */
  async listIncidents(q: ListIncidentsQuery, now: number): Promise<IncidentList> {
    const p = new Params();
    // Added on first use: Postgres refuses a parameter that no statement references.
    let nowParam: string | undefined;
    const at = () => (nowParam ??= p.add(new Date(now)));
    const where = ['i.reported_at IS NOT NULL'];
    if (q.status) where.push(`i.status = ANY(${p.add(q.status)}::text[])`);
    if (q.severity) where.push(`i.severity = ANY(${p.add(q.severity)}::text[])`);
    if (q.site !== undefined) where.push(`i.site = ${p.add(q.site)}`);
    if (q.tier) where.push(`${SQL_EFFECTIVE_TIER} = ANY(${p.add(q.tier)}::int[])`);
    if (q.reportedFrom) where.push(`i.reported_at >= ${p.add(q.reportedFrom)}::timestamptz`);
    if (q.reportedTo) where.push(`i.reported_at < ${p.add(q.reportedTo)}::timestamptz`);
    for (const [flag, predicate] of [
      [q.breached, SQL_BREACHED],
      [q.atRisk, SQL_AT_RISK],
    ] as const) {
      if (flag === undefined) continue;
      where.push(
        `${flag ? '' : 'NOT '}EXISTS (SELECT 1 FROM milestones m
          WHERE m.incident_id = i.incident_id AND ${predicate.replaceAll(':now', at())})`,
      );
    }
    const countParams = [...p.values];
    const countSql = `SELECT count(*)::int AS n FROM incidents i WHERE ${where.join(' AND ')}`;

    if (q.cursor !== undefined) where.push(keyset(decodeCursor(q.cursor, q.sort), p));
    const limit = p.add(q.limit + 1);
    const pageSql = `
      SELECT ${INCIDENT_COLUMNS}, f.breached, f.at_risk, f.next_due_at
      FROM incidents i
      LEFT JOIN LATERAL (
        SELECT coalesce(bool_or(${SQL_BREACHED}), false) AS breached,
               coalesce(bool_or(${SQL_AT_RISK}), false) AS at_risk,
               min(m.due_at) FILTER (WHERE ${SQL_OPEN_AHEAD}) AS next_due_at
        FROM milestones m WHERE m.incident_id = i.incident_id
      ) f ON true
      WHERE ${where.join(' AND ')}
      ORDER BY ${ORDER[q.sort]}
      LIMIT ${limit}`.replaceAll(':now', at());

    const [page, count] = await Promise.all([
      this.pool.query<
        IncidentRow & { breached: boolean; at_risk: boolean; next_due_at: Date | null }
      >(pageSql, p.values),
      this.pool.query<{ n: number }>(countSql, countParams),
    ]);
    const rows = page.rows.slice(0, q.limit);
    const last = rows.at(-1);
    const nextCursor =
      page.rows.length > q.limit && last
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
      total: count.rows[0]?.n ?? 0,
      nextCursor,
      asOf: new Date(now).toISOString(),
    };
  }

  /** The incident with every milestone (state at `now`) and its escalations. */
  async getIncident(id: string, now: number): Promise<IncidentDetail> {
    const [incident, milestones, escalations] = await Promise.all([
      this.pool.query<IncidentRow>(
        `SELECT ${INCIDENT_COLUMNS} FROM incidents i WHERE i.incident_id = $1`,
        [id],
      ),
      this.pool.query<MilestoneRow>(
        `SELECT m.* FROM milestones m WHERE m.incident_id = $1
         ORDER BY m.cycle, ${MILESTONE_ORDER} NULLS LAST, m.due_at NULLS LAST, m.milestone`,
        [id],
      ),
      this.pool.query<{
        from_tier: number;
        to_tier: number;
        automatic: boolean;
        reason: string;
        milestone: string | null;
        escalated_at: Date;
      }>(
        `SELECT from_tier, to_tier, automatic, reason, milestone, escalated_at
         FROM escalations WHERE incident_id = $1 ORDER BY to_tier`,
        [id],
      ),
    ]);
    const row = incident.rows[0];
    if (!row) throw new NotFoundError(`incident ${JSON.stringify(id)} not found`);
    const views = milestones.rows.map((m) => milestoneView(m, now));
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
      escalations: escalations.rows.map((e) => ({
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
    const { rows } = await this.pool.query<{
      kind: 'lifecycle' | 'sla';
      at: Date;
      type: string;
      id: string;
      source: string | null;
      data: Record<string, unknown> | null;
      recorded_at: Date;
      topic: string | null;
      sent_at: Date | null;
    }>(
      `SELECT * FROM (
         SELECT 'lifecycle' AS kind, e.time AS at, e.type, e.event_id AS id, e.source, e.data,
                e.recorded_at, NULL::text AS topic, NULL::timestamptz AS sent_at
         FROM incident_events e WHERE e.incident_id = $1
         UNION ALL
         SELECT 'sla', o.created_at, o.type, o.id, o.payload->>'source', o.payload->'data',
                o.created_at, o.topic, s.sent_at
         FROM outbox o LEFT JOIN outbox_sent s ON s.id = o.id
         -- Inspection events are keyed by site (migrations/0014): never an incident's.
         WHERE o.message_key = $1 AND NOT (o.payload->'data' ? 'obligation')
       ) t
       ORDER BY at, recorded_at, kind, id
       LIMIT $2`,
      [id, limit],
    );
    if (rows.length === 0) {
      const exists = await this.pool.query('SELECT 1 FROM incidents WHERE incident_id = $1', [id]);
      if (exists.rowCount === 0)
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

  /**
   * Open milestones of open incidents due within the horizon, least time left first: the domain's
   * `onAtRiskList` at `now`, through its SQL twin `sla_milestone_at_risk` (0016). Paused
   * milestones are not at risk (their clock stands).
   *
   * The terms before the twin only narrow the scan to milestones_running_due_idx (0016): each is
   * implied by the rule (listed rows run, so stopped_at is NULL and the stored state is pending,
   * warned or breached; without includeBreached the deadline is ahead).
   *
   * The LIMIT is applied to milestones before incidents are joined: open milestones belong to
   * open incidents (resolve/close/cancel settles them), so the join only decorates. Joining
   * first made Postgres probe an incident for every milestone in the horizon (bench/read: 2,293
   * probes for 100 rows shown). Incident filters run inside, as a semi-join.
   */
  async atRisk(q: AtRiskQuery, now: number): Promise<AtRiskItem[]> {
    const p = new Params();
    const at = p.add(new Date(now));
    const until = p.add(new Date(now + q.horizon * 1000));
    const where = [
      `m.stopped_at IS NULL AND m.state IN ('pending', 'warned', 'breached')`,
      `m.due_at <= ${until}`,
      `sla_milestone_at_risk(m.state, m.start_at, m.due_at, m.warn_at, m.stopped_at, ${at},
        ${until}, ${p.add(q.includeBreached)})`,
    ];
    if (!q.includeBreached) where.push(`m.due_at > ${at}`);
    const byIncident: string[] = [];
    if (q.severity) byIncident.push(`f.severity = ANY(${p.add(q.severity)}::text[])`);
    if (q.site !== undefined) byIncident.push(`f.site = ${p.add(q.site)}`);
    if (byIncident.length) {
      where.push(`m.incident_id IN (SELECT f.incident_id FROM incidents f
        WHERE f.status = 'open' AND ${byIncident.join(' AND ')})`);
    }
    const order = 'm.due_at, m.incident_id, m.milestone, m.cycle';
    const { rows } = await this.pool.query<
      MilestoneRow & {
        title: string | null;
        severity: AtRiskItem['severity'];
        site: string | null;
        assignee: string | null;
        effective_tier: number;
      }
    >(
      `SELECT m.*, i.title, i.severity, i.site, i.assignee, ${SQL_EFFECTIVE_TIER} AS effective_tier
       FROM (SELECT m.* FROM milestones m WHERE ${where.join(' AND ')}
             ORDER BY ${order} LIMIT ${p.add(q.limit)}) m
       JOIN incidents i ON i.incident_id = m.incident_id
       WHERE i.status = 'open'
       ORDER BY ${order}`,
      p.values,
    );
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
    const { rows } = await this.pool.query<{
      policy_id: string;
      name: string | null;
      versions: number[];
      updated_at: Date;
    }>(
      `SELECT policy_id, array_agg(version ORDER BY version) AS versions,
              (array_agg(document->>'name' ORDER BY version DESC))[1] AS name,
              max(created_at) AS updated_at
       FROM policies GROUP BY policy_id ORDER BY policy_id`,
    );
    return rows.map((r) => ({
      id: r.policy_id,
      name: r.name,
      latestVersion: r.versions.at(-1)!,
      versions: r.versions,
      updatedAt: r.updated_at.toISOString(),
    }));
  }

  async getPolicy(id: string): Promise<{ id: string; versions: PolicyVersion[] }> {
    const { rows } = await this.pool.query<PolicyRow>(
      `SELECT policy_id, version, document, created_at, created_by
       FROM policies WHERE policy_id = $1 ORDER BY version`,
      [id],
    );
    if (rows.length === 0) throw new NotFoundError(`policy ${JSON.stringify(id)} not found`);
    return { id, versions: rows.map(policyVersionView) };
  }
}

export interface PolicyRow {
  policy_id: string;
  version: number;
  document: Record<string, unknown>;
  created_at: Date;
  created_by: string | null;
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

/** The WHERE term that starts a page after `c` in the order of `c.sort`. */
function keyset(c: Cursor, p: Params): string {
  const reported = `(timestamptz 'epoch' + ${p.add(c.reportedUs)}::bigint * interval '1 microsecond')`;
  const id = p.add(c.id);
  switch (c.sort) {
    case '-reportedAt':
      return `(i.reported_at, i.incident_id) < (${reported}, ${id})`;
    case 'reportedAt':
      return `(i.reported_at, i.incident_id) > (${reported}, ${id})`;
    case 'severity': {
      const sev = p.add(c.severity);
      return `(i.severity > ${sev} OR (i.severity = ${sev}
        AND (i.reported_at, i.incident_id) < (${reported}, ${id})))`;
    }
  }
}
