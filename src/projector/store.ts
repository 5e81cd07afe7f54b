/**
 * The projector's SQL. A batch costs a fixed number of round trips however many events it holds:
 * one statement locks, one reads everything (arrays in, JSON out), one writes everything (each
 * table's write is an `INSERT … SELECT FROM unnest(...)` or a delete over arrays, combined as
 * data-modifying CTEs). Round trips, not rows, are what small batches pay for: at 2,000 events/s
 * a batch holds a few hundred events, and on a busy machine each round trip waits for a CPU.
 *
 * Table names are unqualified on purpose: a rebuild points `search_path` at its shadow schema
 * first (rebuild.ts), and the same statements then fill the shadow tables, while the
 * scheduler-owned tables (timer_fires, outbox, escalations) and policies resolve to `public`.
 */
import { effectiveTime, type IncidentEvent, type PagingRecord } from '../domain';
import type { PoolClient } from '../infra/db';
import type {
  AppliedRow,
  CostRow,
  EscalationRow,
  FiredTimer,
  IncidentRow,
  MilestoneRow,
  PriorIncident,
  TimelineRow,
  TimerRow,
} from './rows';

const ts = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));
const iso = (t: number): string => new Date(t).toISOString();

/** Everything stored about the incidents of a batch, and which of its events were applied before. */
export interface BatchContext {
  /** Digests of already-applied (source, id) pairs among the batch's; key `${source}\0${id}`. */
  digests: Map<string, string>;
  prior: Map<string, PriorIncident>;
  events: Map<string, IncidentEvent[]>;
  fired: FiredTimer[];
  milestones: MilestoneRow[];
  timers: TimerRow[];
  /** Highest tier each incident reached through the escalations table. */
  escalated: Map<string, number>;
  /** Latest automatic escalation and latest stand-down per incident (those with escalations). */
  paging: Map<string, PagingRecord>;
  /** (policy_id, version) of every stored policy. */
  policyVersions: { policyId: string; version: number }[];
}

/**
 * The read side of a batch, in two round trips.
 *
 * First the locks, in a statement of their own: every incident the batch names (FOR UPDATE, in
 * id order, so two batches touching one incident, possible only if its records reach two
 * partitions, run one after the other) and every stored timer of those incidents. The timer rows
 * are what the scheduler claims (FOR UPDATE SKIP LOCKED) before it fires: holding them, no firing
 * of these incidents can start until this transaction ends, and one that had started (its claim
 * holds a row) finishes first, since we wait for it.
 *
 * Then everything else, read after the locks were granted: in READ COMMITTED a new statement
 * takes a new snapshot, so it sees a firing or another batch's events committed while we waited.
 * (Read in the locking statement itself, a breach committed during the wait would be missed, and
 * a late event proving it wrong would emit no sla.breach_retracted.) That read: the digests of the
 * batch's (source, id) pairs already applied; for every incident, its events, fired timers,
 * stored milestones and timers, escalations; and the policy versions. An incident whose events
 * all turn out to be duplicates was read (and locked) for nothing: rare, and cheaper than a round
 * trip. Instants travel as epoch ms inside JSON: no Date parsing, and exact to the millisecond.
 */
export async function loadBatchContext(
  client: PoolClient,
  keys: { source: string; eventId: string }[],
  incidentIds: string[],
): Promise<BatchContext> {
  await client.query(
    `WITH i AS (
       SELECT 1 FROM incidents WHERE incident_id = ANY($1::text[]) ORDER BY incident_id FOR UPDATE
     ), t AS (
       SELECT 1 FROM timers WHERE incident_id = ANY($1::text[]) ORDER BY timer_key FOR UPDATE
     )
     SELECT (SELECT count(*) FROM i) AS incidents, (SELECT count(*) FROM t) AS timers`,
    [incidentIds],
  );
  const { rows } = await client.query<{
    incidents: [string, PriorIncident['status'], number, string | null, number | null][];
    events: [string, string, string, string, number, Record<string, unknown>, number | null][];
    fired: [string, string, string, string, number, string, number, string | null][];
    milestones: [
      string,
      string,
      number,
      MilestoneRow['state'],
      N,
      N,
      number[],
      N,
      N,
      number,
      N,
      N,
      number,
    ][];
    timers: [
      string,
      string,
      string,
      string,
      number,
      TimerRow['kind'],
      string | null,
      number,
      number,
    ][];
    escalated: [string, number, number | null, number | null][];
    policies: [string, number][];
    digests: [string, string, string][];
  }>(
    `SELECT
       (SELECT coalesce(json_agg(json_build_array(incident_id, status, tier, policy_id,
                                                  policy_version)), '[]')
          FROM incidents WHERE incident_id = ANY($1::text[])) AS incidents,
       (SELECT coalesce(json_agg(json_build_array(e.incident_id, e.source, e.event_id, e.type,
                                                  ${epochMs('e.time')}, e.data,
                                                  ${epochMs('e.accepted_at')})), '[]')
          FROM incident_events e WHERE e.incident_id = ANY($1::text[])) AS events,
       (SELECT coalesce(json_agg(json_build_array(f.timer_key, f.generation::text, f.incident_id,
                                                  f.milestone, f.cycle, f.kind,
                                                  ${epochMs('f.due_at')}, f.event_id)), '[]')
          FROM timer_fires f WHERE f.incident_id = ANY($1::text[])) AS fired,
       (SELECT coalesce(json_agg(json_build_array(m.incident_id, m.milestone, m.cycle, m.state,
                  ${epochMs('m.start_at')}, ${epochMs('m.due_at')},
                  (SELECT coalesce(json_agg(${epochMs('w')} ORDER BY w), '[]') FROM unnest(m.warn_at) w),
                  ${epochMs('m.met_at')}, ${epochMs('m.breached_at')}, m.paused_ms,
                  m.escalates_to_tier, ${epochMs('m.stopped_at')}, m.overdue_paused_ms)), '[]')
          FROM milestones m WHERE m.incident_id = ANY($1::text[])) AS milestones,
       (SELECT coalesce(json_agg(json_build_array(t.timer_key, t.generation::text, t.incident_id,
                  t.milestone, t.cycle, t.kind, t.threshold, ${epochMs('t.due_at')},
                  ${epochMs('t.deadline')})), '[]')
          FROM timers t WHERE t.incident_id = ANY($1::text[])) AS timers,
       (SELECT coalesce(json_agg(json_build_array(x.incident_id, x.tier, x.auto_at,
                                                  x.stood_down_at)), '[]') FROM (
          SELECT e.incident_id, max(e.to_tier) AS tier,
                 ${epochMs('max(e.escalated_at) FILTER (WHERE e.automatic)')} AS auto_at,
                 (SELECT ${epochMs('max(o.created_at)')} FROM outbox o
                  WHERE o.message_key = e.incident_id AND o.type = 'sla.stand_down') AS stood_down_at
          FROM escalations e
          WHERE e.incident_id = ANY($1::text[]) GROUP BY e.incident_id) x) AS escalated,
       (SELECT coalesce(json_agg(json_build_array(policy_id, version)), '[]') FROM policies)
          AS policies,
       (SELECT coalesce(json_agg(json_build_array(a.source, a.event_id, encode(a.digest, 'hex'))), '[]')
          FROM applied_events a
          JOIN unnest($2::text[], $3::text[]) AS k(source, event_id)
            ON a.source = k.source AND a.event_id = k.event_id) AS digests`,
    [incidentIds, keys.map((k) => k.source), keys.map((k) => k.eventId)],
  );
  const r = rows[0]!;
  const events = new Map<string, IncidentEvent[]>();
  for (const [incidentId, source, id, type, time, data, acceptedAt] of r.events) {
    // Written by this projector from validated events only. The SLA uses the effective time.
    const at = effectiveTime(time, acceptedAt);
    const event = { id, source, type, incidentId, at, data } as IncidentEvent;
    const list = events.get(incidentId);
    if (list) list.push(event);
    else events.set(incidentId, [event]);
  }
  return {
    digests: new Map(r.digests.map(([source, id, digest]) => [`${source}\u0000${id}`, digest])),
    prior: new Map(
      r.incidents.map(([incidentId, status, tier, policyId, policyVersion]) => [
        incidentId,
        { incidentId, status, tier, policyId, policyVersion },
      ]),
    ),
    events,
    fired: r.fired.map(
      ([timerKey, generation, incidentId, milestone, cycle, kind, dueAt, eventId]) => ({
        timerKey,
        generation: Number(generation),
        incidentId,
        milestone,
        cycle,
        kind,
        dueAt,
        eventId,
      }),
    ),
    milestones: r.milestones.map((m) => ({
      incidentId: m[0],
      milestone: m[1],
      cycle: m[2],
      state: m[3],
      startAt: m[4],
      dueAt: m[5],
      warnAt: m[6],
      metAt: m[7],
      breachedAt: m[8],
      pausedMs: Number(m[9]),
      escalatesToTier: m[10],
      stoppedAt: m[11],
      overduePausedMs: Number(m[12]),
    })),
    timers: r.timers.map((t) => ({
      key: t[0],
      generation: Number(t[1]),
      incidentId: t[2],
      milestone: t[3],
      cycle: t[4],
      kind: t[5],
      threshold: t[6],
      dueAt: t[7],
      deadline: t[8],
    })),
    escalated: new Map(r.escalated.map(([id, tier]) => [id, tier])),
    paging: new Map(
      r.escalated.map(([id, , lastAutomaticAt, lastStandDownAt]) => [
        id,
        { lastAutomaticAt, lastStandDownAt },
      ]),
    ),
    policyVersions: r.policies.map(([policyId, version]) => ({ policyId, version })),
  };
}

type N = number | null;

/** A timestamptz as integer epoch milliseconds (null stays null). */
function epochMs(column: string): string {
  return `(extract(epoch FROM ${column}) * 1000)::bigint`;
}

// ---------------------------------------------------------------------------------------------
// Writes: one builder per table, combined into one statement by `writeBatch`.

/** A parameterised statement; placeholders are numbered from $1 within it. */
export interface Statement {
  text: string;
  values: unknown[];
}

export function timelineInsert(rows: TimelineRow[]): Statement {
  return {
    text: `INSERT INTO incident_events
         (incident_id, source, event_id, type, time, data, kafka_partition, kafka_offset,
          accepted_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                            $6::jsonb[], $7::int[], $8::bigint[], $9::timestamptz[])
       ON CONFLICT DO NOTHING`,
    values: [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.source),
      rows.map((r) => r.eventId),
      rows.map((r) => r.type),
      rows.map((r) => iso(r.time)),
      rows.map((r) => JSON.stringify(r.data)),
      rows.map((r) => r.partition),
      rows.map((r) => r.offset.toString()),
      rows.map((r) => iso(r.acceptedAt)),
    ],
  };
}

/** RETURNING one row per new id: fewer than given means another writer got there first. */
export function appliedInsert(rows: AppliedRow[]): Statement {
  return {
    // The digest is sha256 hex (eventDigest), stored as its 32 bytes (migrations/0011).
    text: `INSERT INTO applied_events (source, event_id, incident_id, digest)
       SELECT u.s, u.e, u.i, decode(u.d, 'hex')
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(s, e, i, d)
       ON CONFLICT DO NOTHING
       RETURNING 1`,
    values: [
      rows.map((r) => r.source),
      rows.map((r) => r.eventId),
      rows.map((r) => r.incidentId),
      rows.map((r) => r.digest),
    ],
  };
}

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
      rows.map((r) => `{${r.reopenedAt.map(iso).join(',')}}`),
      rows.map((r) => r.serviceKind),
    ],
  };
}

/** Effort and cost lines of new events (insert-only, like the timeline). */
export function costsInsert(rows: CostRow[]): Statement {
  return {
    text: `INSERT INTO incident_costs
         (incident_id, source, event_id, kind, time, persons, person_days, amount, currency)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                            $6::int[], $7::int[], $8::bigint[], $9::text[])
       ON CONFLICT DO NOTHING`,
    values: [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.source),
      rows.map((r) => r.eventId),
      rows.map((r) => r.kind),
      rows.map((r) => iso(r.time)),
      rows.map((r) => r.persons),
      rows.map((r) => r.personDays),
      rows.map((r) => r.amount),
      rows.map((r) => r.currency),
    ],
  };
}

/**
 * New and changed milestone rows (callers pass only rows that differ from what is stored, see
 * diff.ts); the WHERE clause still keeps an unchanged row from being rewritten, so triggers and
 * dashboards only ever see real changes.
 */
export function milestonesUpsert(rows: MilestoneRow[]): Statement {
  return {
    text: `INSERT INTO milestones AS m (incident_id, milestone, cycle, state, start_at, due_at, warn_at,
         met_at, breached_at, paused_ms, escalates_to_tier, stopped_at, overdue_paused_ms)
       SELECT u.i, u.ms, u.c, u.st, u.sa, u.da, u.wa::timestamptz[], u.ma, u.ba, u.pm, u.et, u.so,
              u.op
       FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[],
                   $6::timestamptz[], $7::text[], $8::timestamptz[], $9::timestamptz[],
                   $10::bigint[], $11::smallint[], $12::timestamptz[], $13::bigint[])
            AS u(i, ms, c, st, sa, da, wa, ma, ba, pm, et, so, op)
       ON CONFLICT (incident_id, milestone, cycle) DO UPDATE SET
         state = EXCLUDED.state, start_at = EXCLUDED.start_at, due_at = EXCLUDED.due_at,
         warn_at = EXCLUDED.warn_at, met_at = EXCLUDED.met_at, breached_at = EXCLUDED.breached_at,
         paused_ms = EXCLUDED.paused_ms, escalates_to_tier = EXCLUDED.escalates_to_tier,
         stopped_at = EXCLUDED.stopped_at, overdue_paused_ms = EXCLUDED.overdue_paused_ms,
         updated_at = now()
       WHERE (m.state, m.start_at, m.due_at, m.warn_at, m.met_at, m.breached_at, m.paused_ms,
              m.escalates_to_tier, m.stopped_at, m.overdue_paused_ms)
         IS DISTINCT FROM
             (EXCLUDED.state, EXCLUDED.start_at, EXCLUDED.due_at, EXCLUDED.warn_at,
              EXCLUDED.met_at, EXCLUDED.breached_at, EXCLUDED.paused_ms,
              EXCLUDED.escalates_to_tier, EXCLUDED.stopped_at, EXCLUDED.overdue_paused_ms)`,
    values: [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.milestone),
      rows.map((r) => r.cycle),
      rows.map((r) => r.state),
      rows.map((r) => ts(r.startAt)),
      rows.map((r) => ts(r.dueAt)),
      rows.map((r) => `{${r.warnAt.map(iso).join(',')}}`),
      rows.map((r) => ts(r.metAt)),
      rows.map((r) => ts(r.breachedAt)),
      rows.map((r) => r.pausedMs),
      rows.map((r) => r.escalatesToTier),
      rows.map((r) => ts(r.stoppedAt)),
      rows.map((r) => r.overduePausedMs),
    ],
  };
}

export function milestonesDelete(
  keys: { incidentId: string; milestone: string; cycle: number }[],
): Statement {
  return {
    text: `DELETE FROM milestones m
       USING unnest($1::text[], $2::text[], $3::int[]) AS k(i, ms, c)
       WHERE m.incident_id = k.i AND m.milestone = k.ms AND m.cycle = k.c`,
    values: [keys.map((k) => k.incidentId), keys.map((k) => k.milestone), keys.map((k) => k.cycle)],
  };
}

/**
 * New and re-planned timers (callers pass only those, and never a fired (key, generation)). The
 * NOT EXISTS repeats the fired guard in SQL for a firing committed since we looked; one committed
 * during this very statement is caught by timer_fires' primary key in the scheduler
 * ("already_fired").
 */
export function timersUpsert(rows: TimerRow[]): Statement {
  return {
    text: `INSERT INTO timers AS t (timer_key, generation, incident_id, milestone, cycle, kind,
         threshold, due_at, deadline)
       SELECT u.k, u.g, u.i, u.ms, u.c, u.kind, u.th, u.da, u.dl
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::text[],
                   $7::text[], $8::timestamptz[], $9::timestamptz[])
            AS u(k, g, i, ms, c, kind, th, da, dl)
       WHERE NOT EXISTS (SELECT 1 FROM timer_fires f WHERE f.timer_key = u.k AND f.generation = u.g)
       ON CONFLICT (timer_key) DO UPDATE SET
         generation = EXCLUDED.generation, incident_id = EXCLUDED.incident_id,
         milestone = EXCLUDED.milestone, cycle = EXCLUDED.cycle, kind = EXCLUDED.kind,
         threshold = EXCLUDED.threshold, due_at = EXCLUDED.due_at, deadline = EXCLUDED.deadline,
         updated_at = now()
       WHERE (t.generation, t.due_at, t.deadline, t.threshold)
         IS DISTINCT FROM (EXCLUDED.generation, EXCLUDED.due_at, EXCLUDED.deadline,
                           EXCLUDED.threshold)`,
    values: [
      rows.map((r) => r.key),
      rows.map((r) => r.generation),
      rows.map((r) => r.incidentId),
      rows.map((r) => r.milestone),
      rows.map((r) => r.cycle),
      rows.map((r) => r.kind),
      rows.map((r) => r.threshold),
      rows.map((r) => ts(r.dueAt)),
      rows.map((r) => ts(r.deadline)),
    ],
  };
}

/** Deletes timers by key, but only the generation we saw: a row re-planned meanwhile stays. */
export function timersDelete(rows: { key: string; generation: number }[]): Statement {
  return {
    text: `DELETE FROM timers t USING unnest($1::text[], $2::bigint[]) AS k(key, g)
       WHERE t.timer_key = k.key AND t.generation = k.g`,
    values: [rows.map((r) => r.key), rows.map((r) => r.generation)],
  };
}

export interface BatchWrites {
  timeline: TimelineRow[];
  costs: CostRow[];
  applied: AppliedRow[];
  incidents: IncidentRow[];
  milestones: { upsert: MilestoneRow[]; remove: MilestoneRow[] };
  timers: { upsert: TimerRow[]; remove: TimerRow[] };
}

/**
 * Every write of a batch in one statement: each table's write becomes a data-modifying CTE
 * (Postgres runs each exactly once, to completion, whether or not it is read). No two of them
 * touch the same row (the diff never both upserts and removes a key), and the milestones' foreign
 * key and the stream triggers run at the end of the statement, when the incidents are in.
 * Returns how many applied ids were new and which incidents were inserted rather than updated.
 */
export async function writeBatch(
  client: PoolClient,
  w: BatchWrites,
): Promise<{ applied: number; inserted: Set<string> }> {
  const parts: [string, Statement | null][] = [
    ['w_timeline', w.timeline.length ? timelineInsert(w.timeline) : null],
    ['w_costs', w.costs.length ? costsInsert(w.costs) : null],
    ['w_applied', w.applied.length ? appliedInsert(w.applied) : null],
    ['w_incidents', w.incidents.length ? incidentsUpsert(w.incidents) : null],
    ['w_milestones_up', w.milestones.upsert.length ? milestonesUpsert(w.milestones.upsert) : null],
    ['w_milestones_rm', w.milestones.remove.length ? milestonesDelete(w.milestones.remove) : null],
    ['w_timers_rm', w.timers.remove.length ? timersDelete(w.timers.remove) : null],
    ['w_timers_up', w.timers.upsert.length ? timersUpsert(w.timers.upsert) : null],
  ];
  const present = parts.filter((p): p is [string, Statement] => p[1] !== null);
  if (present.length === 0) return { applied: 0, inserted: new Set() };
  const values: unknown[] = [];
  const ctes = present.map(([name, stmt]) => {
    const offset = values.length;
    values.push(...stmt.values);
    const text = stmt.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
    return `${name} AS (${text})`;
  });
  const has = (name: string) => present.some(([n]) => n === name);
  const { rows } = await client.query<{ applied: string; inserted: string[] }>(
    `WITH ${ctes.join(',\n')}
     SELECT ${has('w_applied') ? '(SELECT count(*) FROM w_applied)' : '0'} AS applied,
            ${
              has('w_incidents')
                ? `(SELECT coalesce(array_agg(incident_id), '{}') FROM w_incidents WHERE inserted)`
                : `'{}'::text[]`
            } AS inserted`,
    values,
  );
  return { applied: Number(rows[0]!.applied), inserted: new Set(rows[0]!.inserted) };
}

/** One builder's statement on its own (the benchmark's ceiling writes table by table). */
export async function execute(client: PoolClient, stmt: Statement): Promise<void> {
  await client.query(stmt.text, stmt.values);
}

/** Inserts escalation rows; returns the `${incidentId}/${toTier}` of those that were new. */
export async function insertEscalations(
  client: PoolClient,
  rows: EscalationRow[],
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { rows: inserted } = await client.query<{ incident_id: string; to_tier: number }>(
    `INSERT INTO escalations (incident_id, to_tier, from_tier, automatic, reason, milestone, event_id)
     SELECT u.i, u.t, u.f, false, u.r, NULL, u.e
     FROM unnest($1::text[], $2::smallint[], $3::smallint[], $4::text[], $5::text[])
          AS u(i, t, f, r, e)
     ON CONFLICT (incident_id, to_tier) DO NOTHING
     RETURNING incident_id, to_tier`,
    [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.toTier),
      rows.map((r) => r.fromTier),
      rows.map((r) => r.reason),
      rows.map((r) => r.eventId),
    ],
  );
  return new Set(inserted.map((r) => `${r.incident_id}/${r.to_tier}`));
}
