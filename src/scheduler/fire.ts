/**
 * One firing round: claim the timers that are due on the database clock and fire them, all in ONE
 * transaction (issue 7):
 *
 *   claim due timers, breaches first (FOR UPDATE SKIP LOCKED), read their incidents and milestones
 *   → decide per timer (domain decideFiring) → [lock the incidents that escalate, SKIP LOCKED]
 *   → in one statement: delete the timer rows and record timer_fires, escalations rows +
 *     incidents.tier, outbox rows with deterministic ids → COMMIT
 *
 * Invariants:
 * - Never early: only rows with `due_at <= now()` are claimed, `now()` being the transaction start
 *   on the database clock.
 * - Exactly once: timer_fires' primary key (timer_key, generation) admits one firing; the outbox
 *   rows are written only for fires this transaction inserted, in the same transaction. A crash
 *   before COMMIT leaves the timer row in place to be claimed again, with the same event ids.
 * - Decisions read committed state while the timer row is locked. A projector batch locks the timer
 *   rows of its incidents before it reads them (projector/store.ts): it either holds them first
 *   (this claim skips them, and finds them settled or re-planned afterwards) or waits for this
 *   commit and then reads the firing: "fired, then met" (with sla.breach_retracted when the met
 *   was in time), never a firing the projector did not see.
 * - One page per tier: an incident that escalates is locked (FOR NO KEY UPDATE) and its effective
 *   tier re-read before the escalation is decided, so two instances (or two batches) cannot both
 *   raise it; escalations' primary key (incident_id, to_tier) backs this up.
 * - No waiting on locks: rows locked elsewhere are skipped, never waited for. An escalating
 *   incident the projector (or another instance) is writing right now is "deferred": its timers
 *   are left untouched and claimed again in the next round. Since the scheduler never waits, it
 *   cannot deadlock with the projector (which may wait for a timer row locked here, briefly).
 */
import {
  buildAutomaticEscalation,
  buildSlaBreached,
  buildSlaWarning,
  outboxRow,
  type OutboxRow,
  type PagerFields,
} from '../contracts/sla-events';
import { withTransaction, type Pool, type PoolClient } from '../infra/db';
import {
  asTier,
  decideFiring,
  escalationFor,
  isInspectionTimerSubject,
  isSeverity,
  type ClaimedTimer,
  type IncidentSnapshot,
  type MilestoneSnapshot,
  type InspectionSkipReason,
  type SkipReason,
  type TimerKind,
} from '../domain';
import { outboxInsertSql } from '../outbox/store';
import { decideInspectionTimers } from './fire-inspections';

export interface FireOptions {
  /** Most timers claimed in one transaction. */
  batchSize: number;
  /**
   * Whether the round may claim warnings (when no breach is due); default true. The runner keeps
   * one claim loop for breaches only while another claims warnings (timer-runner.ts).
   */
  claimWarnings?: boolean;
  /** Topic names (config KAFKA_TOPIC_WARNINGS, KAFKA_TOPIC_ESCALATIONS). */
  topics: { warnings: string; escalations: string };
  /**
   * COMMIT without waiting for the WAL flush (config SCHEDULER_ASYNC_COMMIT). Safe because a
   * firing lost in a Postgres crash is redone with the same outcome: the timer row comes back
   * with the rollback of the whole transaction, fires again under the same deterministic ids,
   * and anything the relay already published from it is deduped by id downstream. A later
   * synchronous commit that saw the firing (a projector transaction) flushes it as well, since
   * the WAL is sequential.
   */
  asyncCommit?: boolean;
}

export interface FiredTimer {
  kind: TimerKind;
  timerKey: string;
  dueAt: number;
  eventId: string;
}

export interface FireRoundResult {
  /** Rows claimed (fired + skipped + deferred). */
  claimed: number;
  /**
   * Whether more may be due: the claim was full, or it took breaches while it could have taken
   * warnings (a round with breaches due claims no warnings, CLAIM_SQL), so warnings may wait.
   */
  more: boolean;
  fired: FiredTimer[];
  skipped: { kind: TimerKind; reason: SkipReason | InspectionSkipReason }[];
  /** Timers left for the next round because their incident was locked by another transaction. */
  deferred: number;
  escalations: { incidentId: string; fromTier: number; toTier: number; milestone: string }[];
  /** The database's `now()` the round used (epoch ms). */
  dbNow: number;
}

interface ClaimRow {
  timer_key: string;
  generation: string;
  incident_id: string;
  milestone: string;
  cycle: number;
  kind: TimerKind;
  threshold: string | null;
  due_at: Date;
  deadline: Date;
  db_now: Date;
  status: string | null;
  title: string | null;
  severity: string | null;
  site: string | null;
  assignee: string | null;
  effective_tier: number | null;
  m_state: string | null;
  m_due_matches: boolean | null;
  m_met_at: Date | null;
  m_breached_at: Date | null;
  m_escalates_to_tier: number | null;
  m_stopped_at: Date | null;
}

/**
 * Claims due timers and, in the same statement, reads their incidents (with the effective tier)
 * and milestones. MATERIALIZED: each locking SELECT runs exactly once.
 *
 * Breaches first (migrations/0018): a round claims up to `$1` due breach timers, oldest first,
 * and only when none is due (and `$2`: the runner lets it), up to `$1` due warnings. A breach due now never waits behind overdue
 * warnings, nor shares a transaction with them (a round of 500 warnings took ~100 ms to write at
 * 333 breaching incidents/s; the breaches in it were stamped at its start and published after its
 * commit).
 *
 * One row with only `db_now` when nothing is due (the runner re-arms against the database clock
 * without another round trip).
 *
 * Every lookup is an index probe per claimed row: the statement is prepared, and a generic plan
 * cannot see how few rows the claim returns. A plain LATERAL subquery is pulled up into a join,
 * and the generic plan hashed the whole `milestones` table (every incident ever) on each round:
 * 40 ms per claim with 35,000 rows, growing with the history (issue 12, burst lateness).
 * `LIMIT 1` (the primary key admits one row anyway) keeps each subquery a probe;
 * test/integration/hot-statement-plans.test.ts checks the generic plans.
 */
export const CLAIM_SQL = `
WITH breaches AS MATERIALIZED (
  SELECT timer_key, generation, incident_id, milestone, cycle, kind, threshold, due_at, deadline
  FROM timers
  WHERE kind = 'breach' AND due_at <= now()
  ORDER BY due_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
), warnings AS MATERIALIZED (
  SELECT timer_key, generation, incident_id, milestone, cycle, kind, threshold, due_at, deadline
  FROM timers
  WHERE kind <> 'breach' AND due_at <= now()
  ORDER BY due_at
  LIMIT CASE WHEN NOT $2::boolean OR EXISTS (SELECT FROM breaches) THEN 0 ELSE $1 END
  FOR UPDATE SKIP LOCKED
), claimed AS (
  SELECT * FROM breaches UNION ALL SELECT * FROM warnings
)
SELECT c.timer_key, c.generation::text AS generation, c.incident_id, c.milestone, c.cycle, c.kind,
       c.threshold, c.due_at, c.deadline, n.db_now,
       i.status, i.title, i.severity, i.site, i.assignee, i.effective_tier,
       m.state AS m_state, m.due_at = c.deadline AS m_due_matches, m.met_at AS m_met_at,
       m.breached_at AS m_breached_at, m.escalates_to_tier AS m_escalates_to_tier,
       m.stopped_at AS m_stopped_at
FROM (SELECT now() AS db_now) n
LEFT JOIN claimed c ON true
LEFT JOIN LATERAL (
  SELECT status, title, severity, site, assignee,
         greatest(tier, (SELECT max(to_tier) FROM escalations e
                         WHERE e.incident_id = c.incident_id)) AS effective_tier
  FROM incidents WHERE incident_id = c.incident_id
) i ON true
LEFT JOIN LATERAL (
  SELECT state, due_at, met_at, breached_at, escalates_to_tier, stopped_at FROM milestones
  WHERE incident_id = c.incident_id AND milestone = c.milestone AND cycle = c.cycle
  LIMIT 1
) m ON true
ORDER BY c.due_at, c.timer_key`;

/**
 * Locks incidents about to escalate, without waiting, and re-reads them: the latest committed
 * version, so the effective tier counts every escalation committed before the lock.
 */
export const LOCK_INCIDENTS_SQL = `
SELECT incident_id, status, title, severity, site, assignee,
       greatest(tier, (SELECT max(to_tier) FROM escalations e
                       WHERE e.incident_id = i.incident_id)) AS effective_tier
FROM incidents i
WHERE incident_id = ANY ($1::text[])
FOR NO KEY UPDATE SKIP LOCKED`;

/**
 * Writes a round's outcome in ONE statement (each round trip inside the firing transaction is
 * paid by every firing behind it; issue 12 measured 3–7 ms per statement at load 10). The timer
 * rows are deleted by `= ANY ($1)`, index probes: a join with the unnest let the planner hash the
 * whole `timers` table (every active incident's timers; 22 ms of a 70 ms round of 500 at 40,000
 * rows, growing with the open incidents) (issue 12, burst lateness).
 * - deletes the decided timer rows and records their firing in timer_fires, from the locked rows
 *   themselves; a conflict means the (key, generation) fired before ('already_fired');
 * - records the planned escalations ($4…$9) of incidents with a breach newly fired here, and
 *   raises incidents.tier for those inserted (issue 7: readers of the plain column see the
 *   escalation; the effective tier already counts it; never lowered);
 * - inserts the outbox rows ($10) of the new firings and of the escalations inserted, in order.
 * Returns the timer keys whose firing is new and the incidents escalated.
 */
const WRITE_SQL = `
WITH decided AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS d(timer_key, event_id, skipped_reason)
), gone AS (
  DELETE FROM timers t WHERE t.timer_key = ANY ($1::text[])
  RETURNING t.timer_key, t.generation, t.incident_id, t.milestone, t.cycle, t.kind, t.due_at
), fired AS (
  INSERT INTO timer_fires (timer_key, generation, incident_id, milestone, cycle, kind, due_at,
                           event_id, skipped_reason)
  SELECT g.timer_key, g.generation, g.incident_id, g.milestone, g.cycle, g.kind, g.due_at,
         d.event_id, d.skipped_reason
  FROM gone g JOIN decided d USING (timer_key)
  ON CONFLICT (timer_key, generation) DO NOTHING
  RETURNING timer_key, incident_id, kind, event_id
), escalated AS (
  INSERT INTO escalations (incident_id, to_tier, from_tier, automatic, reason, milestone, event_id)
  SELECT incident_id, to_tier, from_tier, true, reason, milestone, event_id
  FROM unnest($4::text[], $5::smallint[], $6::smallint[], $7::text[], $8::text[], $9::text[])
    AS e(incident_id, to_tier, from_tier, reason, milestone, event_id)
  WHERE EXISTS (SELECT 1 FROM fired f
                WHERE f.incident_id = e.incident_id AND f.kind = 'breach' AND f.event_id IS NOT NULL)
  ON CONFLICT (incident_id, to_tier) DO NOTHING
  RETURNING incident_id, to_tier, event_id
), raised AS (
  UPDATE incidents i SET tier = r.to_tier
  FROM escalated r
  WHERE i.incident_id = r.incident_id AND i.tier < r.to_tier
), published AS (
  ${outboxInsertSql(
    '$10',
    `r->>'id' IN (SELECT event_id FROM fired WHERE event_id IS NOT NULL
                  UNION ALL SELECT event_id FROM escalated)`,
  )}
)
SELECT 'fired' AS what, timer_key AS key FROM fired
UNION ALL
SELECT 'escalated', incident_id FROM escalated`;

export async function fireDueTimers(pool: Pool, options: FireOptions): Promise<FireRoundResult> {
  return withTransaction(pool, (client) => fireInTransaction(client, options), {
    asyncCommit: options.asyncCommit ?? false,
  });
}

async function fireInTransaction(
  client: PoolClient,
  { batchSize, topics, claimWarnings = true }: FireOptions,
): Promise<FireRoundResult> {
  const { claimed, dbNow: now } = await claim(client, batchSize, claimWarnings);
  const result: FireRoundResult = {
    claimed: claimed.length,
    more:
      claimed.length >= batchSize || (claimWarnings && claimed.some((r) => r.kind === 'breach')),
    fired: [],
    skipped: [],
    deferred: 0,
    escalations: [],
    dbNow: now,
  };
  if (claimed.length === 0) return result;
  // Inspection obligations' timers (fire-inspections.ts) share the claim, timer_fires and the
  // outbox; they never escalate an incident (there is none: their page names the schedule's tier).
  const rows = claimed.filter((r) => !isInspectionTimerSubject(r.incident_id));
  const inspections =
    rows.length < claimed.length
      ? await decideInspectionTimers(
          client,
          claimed.filter((r) => isInspectionTimerSubject(r.incident_id)),
          now,
          topics,
        )
      : [];

  let decided = rows.map((row) => decide(row, toIncident(row), now, topics));
  const lock = await lockEscalatingIncidents(client, decided);
  if (lock) {
    // Incidents locked elsewhere wait for the next round, all their timers with them; the
    // locked ones are decided again on their fresh row (its tier, its status).
    result.deferred = decided.filter((d) => lock.busy.has(d.timer.incidentId)).length;
    decided = decided
      .filter((d) => !lock.busy.has(d.timer.incidentId))
      .map((d) => {
        const fresh = lock.locked.get(d.timer.incidentId);
        return fresh ? decide(d.row, fresh, now, topics) : d;
      });
  }
  if (decided.length === 0 && inspections.length === 0) return result;

  // Escalations are planned over the breaches decided to fire; the write keeps those whose
  // incident had a breach fired anew (with a conflict, that firing escalated already).
  const breaches = new Map<string, Fired[]>();
  for (const d of decided) {
    if (d.fire && d.timer.kind === 'breach') {
      breaches.set(d.timer.incidentId, [...(breaches.get(d.timer.incidentId) ?? []), d]);
    }
  }
  const planned = planEscalations(
    breaches,
    lock?.locked ?? new Map<string, IncidentSnapshot>(),
    now,
    topics,
  );
  const outcomes: Outcome[] = [
    ...decided.map(({ timer: { kind, timerKey, dueAt }, ...d }) => ({
      kind,
      timerKey,
      dueAt,
      ...(d.fire ? { outbox: d.outbox, reason: null } : { outbox: null, reason: d.reason }),
    })),
    ...inspections.map(({ outcome, ...d }) => ({
      ...d,
      ...(outcome.fire
        ? { outbox: outcome.outbox, reason: null }
        : { outbox: null, reason: outcome.reason }),
    })),
  ];
  const written = await write(client, outcomes, planned);
  for (const { kind, timerKey, dueAt, outbox, reason } of outcomes) {
    if (!written.fresh.has(timerKey)) result.skipped.push({ kind, reason: 'already_fired' });
    else if (outbox === null) result.skipped.push({ kind, reason: reason! });
    else result.fired.push({ kind, timerKey, dueAt, eventId: outbox.id });
  }
  result.escalations = planned
    .filter((e) => written.escalated.has(e.incidentId))
    .map(({ incidentId, fromTier, toTier, milestone }) => ({
      incidentId,
      fromTier,
      toTier,
      milestone,
    }));
  return result;
}

/** A decided timer as the write records it: its event (fired) or why not (skipped). */
interface Outcome {
  kind: TimerKind;
  timerKey: string;
  dueAt: number;
  outbox: OutboxRow | null;
  reason: SkipReason | InspectionSkipReason | null;
}

/** A claimed timer with its decision; a firing carries its event, ready for the outbox. */
type Decided = { row: ClaimRow; timer: ClaimedTimer } & (
  { fire: true; pager: PagerFields; outbox: OutboxRow } | { fire: false; reason: SkipReason }
);
type Fired = Extract<Decided, { fire: true }>;

async function claim(
  client: PoolClient,
  batchSize: number,
  claimWarnings: boolean,
): Promise<{ claimed: ClaimRow[]; dbNow: number }> {
  // Named statements are prepared once per connection: planning this query cost 1.5–6 ms per
  // round against 0.3 ms of execution (EXPLAIN ANALYZE on this machine).
  const { rows } = await client.query<ClaimRow | (Partial<ClaimRow> & { timer_key: null })>({
    name: 'sla_fire_claim',
    text: CLAIM_SQL,
    values: [batchSize, claimWarnings],
  });
  // The claim's now() is the transaction start: every decision and event time uses it.
  return {
    claimed: rows.filter((r): r is ClaimRow => r.timer_key !== null),
    dbNow: rows[0]!.db_now.getTime(),
  };
}

function decide(
  row: ClaimRow,
  incident: IncidentSnapshot | undefined,
  now: number,
  topics: FireOptions['topics'],
): Decided {
  const timer = toTimer(row);
  const decision = decideFiring(timer, incident, toMilestone(row), now);
  if (!decision.fire) return { row, timer, ...decision };
  const pager = pagerFields(timer.incidentId, incident!);
  const firing = { ...timer, firedAt: now };
  const event =
    timer.kind === 'warning'
      ? buildSlaWarning(pager, { ...firing, threshold: timer.threshold ?? '' })
      : buildSlaBreached(pager, firing);
  return { row, timer, fire: true, pager, outbox: outboxRow(event, topics) };
}

/**
 * Locks the incidents whose breaches would raise the tier (as read unlocked), SKIP LOCKED. Null
 * when no breach escalates: the common case takes no incident lock at all.
 */
async function lockEscalatingIncidents(
  client: PoolClient,
  decided: Decided[],
): Promise<{ locked: Map<string, IncidentSnapshot>; busy: Set<string> } | null> {
  const wanted = new Set<string>();
  for (const d of decided) {
    if (!d.fire || d.timer.kind !== 'breach') continue;
    const target = asTier(d.row.m_escalates_to_tier);
    if (target !== null && target > d.pager.tier) wanted.add(d.timer.incidentId);
  }
  if (wanted.size === 0) return null;
  const { rows } = await client.query<IncidentRow>({
    name: 'sla_fire_lock_incidents',
    text: LOCK_INCIDENTS_SQL,
    values: [[...wanted]],
  });
  const locked = new Map<string, IncidentSnapshot>();
  for (const r of rows) locked.set(r.incident_id, toIncident(r)!);
  const busy = new Set([...wanted].filter((id) => !locked.has(id)));
  return { locked, busy };
}

/**
 * One escalation per locked incident at most (escalationFor over its breaches in this round).
 * Only an incident locked in this transaction may escalate; its pager tier is the fresh one.
 */
function planEscalations(
  breachesByIncident: Map<string, Fired[]>,
  locked: Map<string, IncidentSnapshot>,
  now: number,
  topics: FireOptions['topics'],
): PlannedEscalation[] {
  const planned: PlannedEscalation[] = [];
  for (const [incidentId, breaches] of breachesByIncident) {
    if (!locked.has(incidentId)) continue;
    const { pager } = breaches[0]!;
    const escalation = escalationFor(
      pager.tier,
      breaches.map((b) => ({
        milestone: b.timer.milestone,
        escalatesToTier: asTier(b.row.m_escalates_to_tier),
      })),
    );
    if (!escalation) continue;
    const reason = `${escalation.milestone} breached`;
    const event = buildAutomaticEscalation(pager, { ...escalation, reason, emittedAt: now });
    planned.push({ incidentId, ...escalation, reason, outbox: outboxRow(event, topics) });
  }
  return planned;
}

interface PlannedEscalation {
  incidentId: string;
  fromTier: number;
  toTier: number;
  milestone: string;
  reason: string;
  outbox: OutboxRow;
}

/** WRITE_SQL: returns the timer keys whose firing is new and the incidents escalated. */
async function write(
  client: PoolClient,
  decided: Outcome[],
  planned: PlannedEscalation[],
): Promise<{ fresh: Set<string>; escalated: Set<string> }> {
  // After the breaches: the relay publishes in (created_at, seq) order.
  const outbox = [
    ...decided.flatMap((d) => (d.outbox ? [d.outbox] : [])),
    ...planned.map((e) => e.outbox),
  ];
  // Not a named (prepared) statement: a generic plan guesses the arrays' length and may hash-join
  // a sequential scan of incidents (seen with EXPLAIN on tables never analyzed); a custom plan
  // sees the arrays and probes incidents_pkey.
  const { rows } = await client.query<{ what: 'fired' | 'escalated'; key: string }>({
    text: WRITE_SQL,
    values: [
      decided.map((d) => d.timerKey),
      decided.map((d) => d.outbox?.id ?? null),
      decided.map((d) => d.reason),
      planned.map((e) => e.incidentId),
      planned.map((e) => e.toTier),
      planned.map((e) => e.fromTier),
      planned.map((e) => e.reason),
      planned.map((e) => e.milestone),
      planned.map((e) => e.outbox.id),
      JSON.stringify(outbox),
    ],
  });
  const fresh = new Set<string>();
  const escalated = new Set<string>();
  for (const r of rows) (r.what === 'fired' ? fresh : escalated).add(r.key);
  return { fresh, escalated };
}

function toTimer(row: ClaimRow): ClaimedTimer {
  return {
    timerKey: row.timer_key,
    generation: row.generation,
    incidentId: row.incident_id,
    milestone: row.milestone,
    cycle: row.cycle,
    kind: row.kind,
    threshold: row.threshold,
    dueAt: row.due_at.getTime(),
    deadline: row.deadline.getTime(),
  };
}

/** The incident columns, as the claim and the lock return them. */
type IncidentRow = Pick<
  ClaimRow,
  'status' | 'title' | 'severity' | 'site' | 'assignee' | 'effective_tier'
> & { incident_id: string };

function toIncident(row: Omit<IncidentRow, 'incident_id'>): IncidentSnapshot | undefined {
  if (row.status === null) return undefined;
  return {
    status: row.status,
    title: row.title,
    severity: row.severity,
    site: row.site,
    assignee: row.assignee,
    effectiveTier: asTier(row.effective_tier) ?? 1,
  };
}

function toMilestone(row: ClaimRow): MilestoneSnapshot | undefined {
  if (row.m_state === null) return undefined;
  return {
    state: row.m_state,
    dueMatches: row.m_due_matches === true,
    metAt: row.m_met_at?.getTime() ?? null,
    breachedAt: row.m_breached_at?.getTime() ?? null,
    escalatesToTier: asTier(row.m_escalates_to_tier),
    stoppedAt: row.m_stopped_at?.getTime() ?? null,
  };
}

function pagerFields(incidentId: string, incident: IncidentSnapshot): PagerFields {
  return {
    incidentId,
    title: incident.title,
    severity: isSeverity(incident.severity) ? incident.severity : null,
    site: incident.site,
    tier: incident.effectiveTier,
    assignee: incident.assignee,
  };
}
