/**
 * The projector's round trips. A batch costs a fixed number of them however many events it holds:
 * one statement locks, one reads everything (arrays in, JSON out), one writes everything (each
 * table's write is an `INSERT … SELECT FROM unnest(...)` or a delete over arrays, combined as
 * data-modifying CTEs). Round trips, not rows, are what small batches pay for: at 2,000 events/s
 * a batch holds a few hundred events, and on a busy machine each round trip waits for a CPU.
 * The SQL of each table (the fragments read, the statements written) is in src/tables; this
 * module only combines it.
 *
 * Table names are unqualified on purpose: a rebuild points `search_path` at its shadow schema
 * first (rebuild.ts), and the same statements then fill the shadow tables, while the
 * scheduler-owned tables (timer_fires, outbox, escalations) and policies resolve to `public`.
 */
import type { IncidentEvent, PagingRecord } from '../domain';
import type { PoolClient } from '../infra/db';
import {
  ESCALATED_OF_INCIDENTS,
  escalatedTiers,
  pagingRecords,
  type EscalatedTuple,
} from '../tables/escalations';
import {
  DIGESTS_OF_EVENTS,
  digestsByKey,
  EVENTS_OF_INCIDENTS,
  eventsByIncident,
  timelineInsert,
  type DigestTuple,
  type EventTuple,
  type TimelineRow,
} from '../tables/incident-events';
import { costsInsert, type CostRow } from '../tables/incident-costs';
import {
  INCIDENTS_LOCK,
  incidentsUpsert,
  PRIOR_OF_INCIDENTS,
  priorByIncident,
  type IncidentRow,
  type PriorIncident,
  type PriorTuple,
} from '../tables/incidents';
import {
  MILESTONES_OF_INCIDENTS,
  milestoneFromTuple,
  milestonesDelete,
  milestonesUpsert,
  type MilestoneRow,
  type MilestoneTuple,
} from '../tables/milestones';
import { POLICY_VERSIONS, policyVersionKeys, type PolicyVersionTuple } from '../tables/policies';
import type { Statement } from '../tables/sql';
import {
  FIRED_OF_INCIDENTS,
  firedFromTuple,
  TIMERS_LOCK,
  TIMERS_OF_INCIDENTS,
  timerFromTuple,
  timersDelete,
  timersUpsert,
  type FiredTimer,
  type FiredTuple,
  type TimerRow,
  type TimerTuple,
} from '../tables/timers';

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
    `WITH i AS (${INCIDENTS_LOCK}), t AS (${TIMERS_LOCK})
     SELECT (SELECT count(*) FROM i) AS incidents, (SELECT count(*) FROM t) AS timers`,
    [incidentIds],
  );
  const { rows } = await client.query<{
    incidents: PriorTuple[];
    events: EventTuple[];
    fired: FiredTuple[];
    milestones: MilestoneTuple[];
    timers: TimerTuple[];
    escalated: EscalatedTuple[];
    policies: PolicyVersionTuple[];
    digests: DigestTuple[];
  }>(
    `SELECT ${PRIOR_OF_INCIDENTS} AS incidents, ${EVENTS_OF_INCIDENTS} AS events,
            ${FIRED_OF_INCIDENTS} AS fired, ${MILESTONES_OF_INCIDENTS} AS milestones,
            ${TIMERS_OF_INCIDENTS} AS timers, ${ESCALATED_OF_INCIDENTS} AS escalated,
            ${POLICY_VERSIONS} AS policies, ${DIGESTS_OF_EVENTS} AS digests`,
    [incidentIds, keys.map((k) => k.source), keys.map((k) => k.eventId)],
  );
  const r = rows[0]!;
  return {
    digests: digestsByKey(r.digests),
    prior: priorByIncident(r.incidents),
    events: eventsByIncident(r.events),
    fired: r.fired.map(firedFromTuple),
    milestones: r.milestones.map(milestoneFromTuple),
    timers: r.timers.map(timerFromTuple),
    escalated: escalatedTiers(r.escalated),
    paging: pagingRecords(r.escalated),
    policyVersions: policyVersionKeys(r.policies),
  };
}

// ---------------------------------------------------------------------------------------------
// Writes: one statement per table (src/tables), combined into one by `writeBatch`.

export interface BatchWrites {
  /** The new events, digests included: their (source, id) is the idempotency key. */
  timeline: TimelineRow[];
  costs: CostRow[];
  incidents: IncidentRow[];
  milestones: { upsert: MilestoneRow[]; remove: MilestoneRow[] };
  timers: { upsert: TimerRow[]; remove: TimerRow[] };
}

/**
 * Every write of a batch in one statement: each table's write becomes a data-modifying CTE
 * (Postgres runs each exactly once, to completion, whether or not it is read). No two of them
 * touch the same row (the diff never both upserts and removes a key), and the milestones' foreign
 * key and the stream triggers run at the end of the statement, when the incidents are in.
 * Returns how many timeline rows were new (each a (source, id) not applied before) and which
 * incidents were inserted rather than updated.
 */
export async function writeBatch(
  client: PoolClient,
  w: BatchWrites,
): Promise<{ applied: number; inserted: Set<string> }> {
  const parts: [string, Statement | null][] = [
    ['w_timeline', w.timeline.length ? timelineInsert(w.timeline) : null],
    ['w_costs', w.costs.length ? costsInsert(w.costs) : null],
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
     SELECT ${has('w_timeline') ? '(SELECT count(*) FROM w_timeline)' : '0'} AS applied,
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
