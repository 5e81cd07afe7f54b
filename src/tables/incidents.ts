/**
 * Table `incidents` (migrations 0001, 0006, 0008): one row per incident as of its latest event.
 * Written by the projector (an upsert per batch, after locking the rows it will rewrite); read by
 * it (what it knew before the batch) and by the read API (list, detail).
 */
import type { IncidentSummary, ListIncidentsQuery, ListSort } from '../contracts/read';
import type { ServiceKind } from '../domain';
import { milestoneSql } from './milestones';
import { isoArray, Params, ts, type Statement } from './sql';

export type IncidentRowStatus = 'pending' | 'open' | 'resolved' | 'closed' | 'cancelled';

/** The row the projector writes; instants in epoch ms. */
export interface IncidentRow {
  incidentId: string;
  status: IncidentRowStatus;
  severity: string | null;
  title: string | null;
  category: string | null;
  customer: string | null;
  site: string | null;
  reporter: string | null;
  /** after_sales until a report says otherwise (migration 0012). */
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

// ---------------------------------------------------------------------------------------------
// The projector

/** Locks the rows of the incidents `$1::text[]`, in id order (with TIMERS_LOCK, see store.ts). */
export const INCIDENTS_LOCK = `SELECT 1 FROM incidents WHERE incident_id = ANY($1::text[])
  ORDER BY incident_id FOR UPDATE`;

/** A JSON array of the incidents `$1::text[]` that have a row, as PriorTuple. */
export const PRIOR_OF_INCIDENTS = `(SELECT coalesce(json_agg(json_build_array(
    incident_id, status, tier, policy_id, policy_version)), '[]')
  FROM incidents WHERE incident_id = ANY($1::text[]))`;

/** What the projector knows of an incident before the batch (its row, if any). */
export interface PriorIncident {
  incidentId: string;
  status: IncidentRowStatus;
  tier: number;
  policyId: string | null;
  policyVersion: number | null;
}

export type PriorTuple = [string, IncidentRowStatus, number, string | null, number | null];

export function priorByIncident(tuples: PriorTuple[]): Map<string, PriorIncident> {
  return new Map(
    tuples.map(([incidentId, status, tier, policyId, policyVersion]) => [
      incidentId,
      { incidentId, status, tier, policyId, policyVersion },
    ]),
  );
}

/** How many incidents have events but no report yet (status pending), as `n`. */
export const PENDING_INCIDENTS: Statement = {
  text: `SELECT count(*) AS n FROM incidents WHERE status = 'pending'`,
  values: [],
};

/** RETURNING the incident ids and whether each row was inserted (not updated). */
export function incidentsUpsert(rows: IncidentRow[]): Statement {
  return {
    text: `INSERT INTO incidents AS i (incident_id, status, severity, title, category, customer, site,
         reporter, assignee, tier, policy_id, policy_version, reported_at, resolved_at, closed_at,
         cancelled_at, reopen_count, event_count, last_event_at, reopened_at, service_kind)
       SELECT u.i, u.st, u.sev, u.ti, u.cat, u.cu, u.si, u.rep, u.asg, u.tier, u.pid, u.pv, u.ra,
              u.rsa, u.cla, u.caa, u.rc, u.ec, u.lea, u.roa::timestamptz[], u.sk
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
         $7::text[], $8::text[], $9::text[], $10::smallint[], $11::text[], $12::int[],
         $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], $17::int[],
         $18::int[], $19::timestamptz[], $20::text[], $21::text[])
         AS u(i, st, sev, ti, cat, cu, si, rep, asg, tier, pid, pv, ra, rsa, cla, caa, rc, ec, lea,
              roa, sk)
       ON CONFLICT (incident_id) DO UPDATE SET
         status = EXCLUDED.status, severity = EXCLUDED.severity, title = EXCLUDED.title,
         category = EXCLUDED.category, customer = EXCLUDED.customer, site = EXCLUDED.site,
         reporter = EXCLUDED.reporter, assignee = EXCLUDED.assignee, tier = EXCLUDED.tier,
         policy_id = EXCLUDED.policy_id, policy_version = EXCLUDED.policy_version,
         reported_at = EXCLUDED.reported_at, resolved_at = EXCLUDED.resolved_at,
         closed_at = EXCLUDED.closed_at, cancelled_at = EXCLUDED.cancelled_at,
         reopen_count = EXCLUDED.reopen_count, event_count = EXCLUDED.event_count,
         last_event_at = EXCLUDED.last_event_at, reopened_at = EXCLUDED.reopened_at,
         service_kind = EXCLUDED.service_kind, updated_at = now()
       RETURNING incident_id, (xmax = 0) AS inserted`,
    values: [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.status),
      rows.map((r) => r.severity),
      rows.map((r) => r.title),
      rows.map((r) => r.category),
      rows.map((r) => r.customer),
      rows.map((r) => r.site),
      rows.map((r) => r.reporter),
      rows.map((r) => r.assignee),
      rows.map((r) => r.tier),
      rows.map((r) => r.policyId),
      rows.map((r) => r.policyVersion),
      rows.map((r) => ts(r.reportedAt)),
      rows.map((r) => ts(r.resolvedAt)),
      rows.map((r) => ts(r.closedAt)),
      rows.map((r) => ts(r.cancelledAt)),
      rows.map((r) => r.reopenCount),
      rows.map((r) => r.eventCount),
      rows.map((r) => ts(r.lastEventAt)),
      rows.map((r) => isoArray(r.reopenedAt)),
      rows.map((r) => r.serviceKind),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// The read API

/** Effective tier (team contract): escalation never lowers it. */
export const SQL_EFFECTIVE_TIER = `greatest(i.tier,
  coalesce((SELECT max(e.to_tier) FROM escalations e WHERE e.incident_id = i.incident_id), 1))`;

/** An incident as the read API selects it (INCIDENT_COLUMNS). */
export interface IncidentRecord {
  incident_id: string;
  status: IncidentSummary['status'];
  severity: IncidentSummary['severity'];
  title: string | null;
  category: string | null;
  customer: string | null;
  site: string | null;
  service_kind: IncidentSummary['serviceKind'];
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
  i.site, i.service_kind, i.reporter, i.assignee, ${SQL_EFFECTIVE_TIER} AS effective_tier,
  i.policy_id, i.policy_version, i.reported_at, i.resolved_at, i.closed_at, i.cancelled_at, i.reopen_count,
  i.event_count, i.last_event_at, i.updated_at,
  (extract(epoch FROM i.reported_at) * 1000000)::bigint::text AS reported_us`;

export function incidentById(incidentId: string): Statement {
  return {
    text: `SELECT ${INCIDENT_COLUMNS} FROM incidents i WHERE i.incident_id = $1`,
    values: [incidentId],
  };
}

export function incidentExists(incidentId: string): Statement {
  return { text: 'SELECT 1 FROM incidents WHERE incident_id = $1', values: [incidentId] };
}

/** Where a page of the list starts: after this (reported_at in epoch µs, id, severity). */
export interface ListPosition {
  sort: ListSort;
  reportedUs: string;
  id: string;
  severity?: string;
}

/** A listed incident with its flags at `now` (IncidentRecord plus these columns). */
export interface ListedIncident extends IncidentRecord {
  breached: boolean;
  at_risk: boolean;
  next_due_at: Date | null;
}

const ORDER: Record<ListSort, string> = {
  '-reportedAt': 'i.reported_at DESC, i.incident_id DESC',
  reportedAt: 'i.reported_at ASC, i.incident_id ASC',
  severity: 'i.severity ASC, i.reported_at DESC, i.incident_id DESC',
};

/**
 * GET /v1/incidents: one page (keyset on (reported_at, incident_id), so rows arriving meanwhile
 * never shift a page; one row more than `q.limit` tells whether a next page exists) and the
 * total matching count. Only reported incidents are listed; "breached" and "at risk" at `now`
 * are the milestone rule's SQL twin (milestoneSql).
 */
export function incidentList(
  q: ListIncidentsQuery,
  now: number,
  after: ListPosition | undefined,
): { page: Statement; count: Statement } {
  const { breached, openAhead, atRisk } = milestoneSql(':now');
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
    [q.breached, breached],
    [q.atRisk, atRisk],
  ] as const) {
    if (flag === undefined) continue;
    where.push(
      `${flag ? '' : 'NOT '}EXISTS (SELECT 1 FROM milestones m
        WHERE m.incident_id = i.incident_id AND ${predicate.replaceAll(':now', at())})`,
    );
  }
  const count = {
    text: `SELECT count(*)::int AS n FROM incidents i WHERE ${where.join(' AND ')}`,
    values: [...p.values],
  };

  if (after !== undefined) where.push(keyset(after, p));
  const limit = p.add(q.limit + 1);
  const text = `
    SELECT ${INCIDENT_COLUMNS}, f.breached, f.at_risk, f.next_due_at
    FROM incidents i
    LEFT JOIN LATERAL (
      SELECT coalesce(bool_or(${breached}), false) AS breached,
             coalesce(bool_or(${atRisk}), false) AS at_risk,
             min(m.due_at) FILTER (WHERE ${openAhead}) AS next_due_at
      FROM milestones m WHERE m.incident_id = i.incident_id
    ) f ON true
    WHERE ${where.join(' AND ')}
    ORDER BY ${ORDER[q.sort]}
    LIMIT ${limit}`.replaceAll(':now', at());
  return { page: { text, values: p.values }, count };
}

/** The WHERE term that starts a page after `c` in the order of `c.sort`. */
function keyset(c: ListPosition, p: Params): string {
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
