/**
 * The projector's SQL: every load and write of a batch is one statement over arrays (`unnest`), so
 * a batch costs a fixed number of round trips however many events it holds. Table names are
 * unqualified on purpose: a rebuild points `search_path` at its shadow schema first (rebuild.ts),
 * and the same statements then fill the shadow tables, while the scheduler-owned tables
 * (timer_fires, outbox, escalations) and policies resolve to `public`.
 */
import type { IncidentEvent } from '../domain';
import type { PoolClient } from '../infra/db';
import type {
  AppliedRow,
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
const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());

/** Digests of already-applied (source, id) pairs among `keys`. Key: `${source}\0${id}`. */
export async function loadAppliedDigests(
  client: PoolClient,
  keys: { source: string; eventId: string }[],
): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const { rows } = await client.query<{ source: string; event_id: string; digest: string }>(
    `SELECT a.source, a.event_id, a.digest
     FROM applied_events a
     JOIN unnest($1::text[], $2::text[]) AS k(source, event_id)
       ON a.source = k.source AND a.event_id = k.event_id`,
    [keys.map((k) => k.source), keys.map((k) => k.eventId)],
  );
  return new Map(rows.map((r) => [`${r.source}\u0000${r.event_id}`, r.digest]));
}

/**
 * Locks the incidents the batch changes (FOR UPDATE, in id order) and returns the rows that exist.
 * Two batches touching one incident (possible only if records of one incident reach two
 * partitions) therefore run one after the other, each on the other's committed events.
 */
export async function lockIncidents(
  client: PoolClient,
  incidentIds: string[],
): Promise<Map<string, PriorIncident>> {
  const { rows } = await client.query<{
    incident_id: string;
    tier: number;
    policy_id: string | null;
    policy_version: number | null;
  }>(
    `SELECT incident_id, tier, policy_id, policy_version FROM incidents
     WHERE incident_id = ANY($1::text[]) ORDER BY incident_id FOR UPDATE`,
    [incidentIds],
  );
  return new Map(
    rows.map((r) => [
      r.incident_id,
      {
        incidentId: r.incident_id,
        tier: r.tier,
        policyId: r.policy_id,
        policyVersion: r.policy_version,
      },
    ]),
  );
}

/** Every event already applied to these incidents (the aggregate's whole state). */
export async function loadIncidentEvents(
  client: PoolClient,
  incidentIds: string[],
): Promise<Map<string, IncidentEvent[]>> {
  const { rows } = await client.query<{
    incident_id: string;
    source: string;
    event_id: string;
    type: string;
    time: Date;
    data: Record<string, unknown>;
  }>(
    `SELECT incident_id, source, event_id, type, time, data FROM incident_events
     WHERE incident_id = ANY($1::text[])`,
    [incidentIds],
  );
  const out = new Map<string, IncidentEvent[]>();
  for (const r of rows) {
    const event = {
      id: r.event_id,
      source: r.source,
      type: r.type,
      incidentId: r.incident_id,
      at: r.time.getTime(),
      data: r.data,
    } as IncidentEvent; // written by this projector from validated events only
    const list = out.get(r.incident_id);
    if (list) list.push(event);
    else out.set(r.incident_id, [event]);
  }
  return out;
}

export async function loadFiredTimers(
  client: PoolClient,
  incidentIds: string[],
): Promise<FiredTimer[]> {
  const { rows } = await client.query<{
    timer_key: string;
    generation: string;
    incident_id: string;
    milestone: string;
    cycle: number;
    kind: string;
    due_at: Date;
    event_id: string | null;
  }>(
    `SELECT timer_key, generation, incident_id, milestone, cycle, kind, due_at, event_id
     FROM timer_fires WHERE incident_id = ANY($1::text[])`,
    [incidentIds],
  );
  return rows.map((r) => ({
    timerKey: r.timer_key,
    generation: Number(r.generation),
    incidentId: r.incident_id,
    milestone: r.milestone,
    cycle: r.cycle,
    kind: r.kind,
    dueAt: r.due_at.getTime(),
    eventId: r.event_id,
  }));
}

/** Highest tier each incident reached through the escalations table. */
export async function loadEscalatedTiers(
  client: PoolClient,
  incidentIds: string[],
): Promise<Map<string, number>> {
  const { rows } = await client.query<{ incident_id: string; tier: number }>(
    `SELECT incident_id, max(to_tier)::int AS tier FROM escalations
     WHERE incident_id = ANY($1::text[]) GROUP BY incident_id`,
    [incidentIds],
  );
  return new Map(rows.map((r) => [r.incident_id, r.tier]));
}

export async function insertTimeline(client: PoolClient, rows: TimelineRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO incident_events
       (incident_id, source, event_id, type, time, data, kafka_partition, kafka_offset)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                          $6::jsonb[], $7::int[], $8::bigint[])
     ON CONFLICT DO NOTHING`,
    [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.source),
      rows.map((r) => r.eventId),
      rows.map((r) => r.type),
      rows.map((r) => iso(r.time)),
      rows.map((r) => JSON.stringify(r.data)),
      rows.map((r) => r.partition),
      rows.map((r) => r.offset.toString()),
    ],
  );
}

/** Returns how many rows were new; fewer than given means another writer got there first. */
export async function insertApplied(client: PoolClient, rows: AppliedRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const result = await client.query(
    `INSERT INTO applied_events (source, event_id, incident_id, digest)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
     ON CONFLICT DO NOTHING`,
    [
      rows.map((r) => r.source),
      rows.map((r) => r.eventId),
      rows.map((r) => r.incidentId),
      rows.map((r) => r.digest),
    ],
  );
  return result.rowCount ?? 0;
}

/** Upserts incident rows; returns the ids that were inserted (not updated). */
export async function upsertIncidents(
  client: PoolClient,
  rows: IncidentRow[],
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { rows: result } = await client.query<{ incident_id: string; inserted: boolean }>(
    `INSERT INTO incidents AS i (incident_id, status, severity, title, category, customer, site,
       reporter, assignee, tier, policy_id, policy_version, reported_at, resolved_at, closed_at,
       cancelled_at, reopen_count, event_count, last_event_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
       $7::text[], $8::text[], $9::text[], $10::smallint[], $11::text[], $12::int[],
       $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], $17::int[],
       $18::int[], $19::timestamptz[])
     ON CONFLICT (incident_id) DO UPDATE SET
       status = EXCLUDED.status, severity = EXCLUDED.severity, title = EXCLUDED.title,
       category = EXCLUDED.category, customer = EXCLUDED.customer, site = EXCLUDED.site,
       reporter = EXCLUDED.reporter, assignee = EXCLUDED.assignee, tier = EXCLUDED.tier,
       policy_id = EXCLUDED.policy_id, policy_version = EXCLUDED.policy_version,
       reported_at = EXCLUDED.reported_at, resolved_at = EXCLUDED.resolved_at,
       closed_at = EXCLUDED.closed_at, cancelled_at = EXCLUDED.cancelled_at,
       reopen_count = EXCLUDED.reopen_count, event_count = EXCLUDED.event_count,
       last_event_at = EXCLUDED.last_event_at, updated_at = now()
     RETURNING incident_id, (xmax = 0) AS inserted`,
    [
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
    ],
  );
  return new Set(result.filter((r) => r.inserted).map((r) => r.incident_id));
}

/** The stored milestone rows of these incidents (to write only what changed). */
export async function loadMilestones(
  client: PoolClient,
  incidentIds: string[],
): Promise<MilestoneRow[]> {
  const { rows } = await client.query<{
    incident_id: string;
    milestone: string;
    cycle: number;
    state: MilestoneRow['state'];
    start_at: Date | null;
    due_at: Date | null;
    warn_at: Date[];
    met_at: Date | null;
    breached_at: Date | null;
    paused_ms: string;
    escalates_to_tier: number | null;
  }>(
    `SELECT incident_id, milestone, cycle, state, start_at, due_at, warn_at, met_at, breached_at,
            paused_ms, escalates_to_tier
     FROM milestones WHERE incident_id = ANY($1::text[])`,
    [incidentIds],
  );
  return rows.map((r) => ({
    incidentId: r.incident_id,
    milestone: r.milestone,
    cycle: r.cycle,
    state: r.state,
    startAt: ms(r.start_at),
    dueAt: ms(r.due_at),
    warnAt: r.warn_at.map((d) => d.getTime()),
    metAt: ms(r.met_at),
    breachedAt: ms(r.breached_at),
    pausedMs: Number(r.paused_ms),
    escalatesToTier: r.escalates_to_tier,
  }));
}

/** The stored timer rows of these incidents. */
export async function loadTimers(client: PoolClient, incidentIds: string[]): Promise<TimerRow[]> {
  const { rows } = await client.query<{
    timer_key: string;
    generation: string;
    incident_id: string;
    milestone: string;
    cycle: number;
    kind: TimerRow['kind'];
    threshold: string | null;
    due_at: Date;
    deadline: Date;
  }>(
    `SELECT timer_key, generation, incident_id, milestone, cycle, kind, threshold, due_at, deadline
     FROM timers WHERE incident_id = ANY($1::text[])`,
    [incidentIds],
  );
  return rows.map((r) => ({
    key: r.timer_key,
    generation: Number(r.generation),
    incidentId: r.incident_id,
    milestone: r.milestone,
    cycle: r.cycle,
    kind: r.kind,
    threshold: r.threshold,
    dueAt: r.due_at.getTime(),
    deadline: r.deadline.getTime(),
  }));
}

/**
 * Writes new and changed milestone rows. Callers pass only rows that differ from what is stored
 * (see diff.ts); the WHERE clause still keeps an unchanged row from being rewritten, so triggers
 * and dashboards only ever see real changes.
 */
export async function upsertMilestones(client: PoolClient, rows: MilestoneRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO milestones AS m (incident_id, milestone, cycle, state, start_at, due_at, warn_at,
       met_at, breached_at, paused_ms, escalates_to_tier)
     SELECT u.i, u.ms, u.c, u.st, u.sa, u.da, u.wa::timestamptz[], u.ma, u.ba, u.pm, u.et
     FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[],
                 $6::timestamptz[], $7::text[], $8::timestamptz[], $9::timestamptz[],
                 $10::bigint[], $11::smallint[])
          AS u(i, ms, c, st, sa, da, wa, ma, ba, pm, et)
     ON CONFLICT (incident_id, milestone, cycle) DO UPDATE SET
       state = EXCLUDED.state, start_at = EXCLUDED.start_at, due_at = EXCLUDED.due_at,
       warn_at = EXCLUDED.warn_at, met_at = EXCLUDED.met_at, breached_at = EXCLUDED.breached_at,
       paused_ms = EXCLUDED.paused_ms, escalates_to_tier = EXCLUDED.escalates_to_tier,
       updated_at = now()
     WHERE (m.state, m.start_at, m.due_at, m.warn_at, m.met_at, m.breached_at, m.paused_ms,
            m.escalates_to_tier)
       IS DISTINCT FROM
           (EXCLUDED.state, EXCLUDED.start_at, EXCLUDED.due_at, EXCLUDED.warn_at,
            EXCLUDED.met_at, EXCLUDED.breached_at, EXCLUDED.paused_ms,
            EXCLUDED.escalates_to_tier)`,
    [
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
    ],
  );
}

export async function deleteMilestones(
  client: PoolClient,
  keys: { incidentId: string; milestone: string; cycle: number }[],
): Promise<void> {
  if (keys.length === 0) return;
  await client.query(
    `DELETE FROM milestones m
     USING unnest($1::text[], $2::text[], $3::int[]) AS k(i, ms, c)
     WHERE m.incident_id = k.i AND m.milestone = k.ms AND m.cycle = k.c`,
    [keys.map((k) => k.incidentId), keys.map((k) => k.milestone), keys.map((k) => k.cycle)],
  );
}

/**
 * Writes new and re-planned timers (callers pass only those, and never a fired (key, generation)).
 * The NOT EXISTS repeats the fired guard in SQL for a firing committed since we looked; one
 * committed during this very statement is caught by timer_fires' primary key in the scheduler
 * ("already_fired").
 */
export async function upsertTimers(client: PoolClient, rows: TimerRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO timers AS t (timer_key, generation, incident_id, milestone, cycle, kind,
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
    [
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
  );
}

/** Deletes timers by key, but only the generation we saw: a row re-planned meanwhile stays. */
export async function deleteTimers(
  client: PoolClient,
  rows: { key: string; generation: number }[],
): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `DELETE FROM timers t USING unnest($1::text[], $2::bigint[]) AS k(key, g)
     WHERE t.timer_key = k.key AND t.generation = k.g`,
    [rows.map((r) => r.key), rows.map((r) => r.generation)],
  );
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
