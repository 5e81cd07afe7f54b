/**
 * The pure heart of the projector: one incident's events in, the rows that describe it out.
 * No I/O and no clock: the same events (and policies, and fired breaches) always give the same
 * rows, which is what makes a rebuild from offset 0 identical to the live tables.
 */
import {
  allCycles,
  DEFAULT_SERVICE_KIND,
  evaluate,
  evolve,
  initialState,
  retractions,
  type Evaluation,
  type IncidentEvent,
  type IncidentState,
  type MilestoneView,
  type Policy,
  type TimerPlan,
  type WarningThreshold,
} from '../domain';
import type { IncidentRow, PriorIncident } from '../tables/incidents';
import type { MilestoneRow } from '../tables/milestones';
import type { FiredTimer, TimerRow } from '../tables/timers';

export interface IncidentInput {
  incidentId: string;
  /** Events applied before this batch, in any order. */
  existing: readonly IncidentEvent[];
  /** Events this batch applies (already deduplicated), in any order. */
  added: readonly IncidentEvent[];
  prior: PriorIncident | undefined;
  /**
   * The policy for this incident: the version recorded on its row when it has one (an incident
   * keeps the version it was reported under), else every known version (the domain picks by
   * policyId and report time).
   */
  policies: Policy | readonly Policy[];
  /** timer_fires rows of this incident. */
  fired: readonly FiredTimer[];
}

export interface ProjectedRetraction {
  breachEventId: string;
  milestone: string;
  cycle: number;
  dueAt: number;
  metAt: number;
}

export interface IncidentOutput {
  state: IncidentState;
  evaluation: Evaluation;
  incident: IncidentRow;
  milestones: MilestoneRow[];
  /**
   * Planned timers minus those whose (key, generation) already fired, and minus every timer of a
   * milestone and cycle whose breach was already reported.
   */
  timers: TimerRow[];
  /** Breaches already emitted that the events now prove wrong (SPEC §4 "Retraction"). */
  retractions: ProjectedRetraction[];
}

export function projectIncident(input: IncidentInput): IncidentOutput {
  let state = initialState(input.incidentId);
  for (const e of input.existing) state = evolve(state, e);
  for (const e of input.added) state = evolve(state, e);

  // The evaluation instant is the latest event time, never the wall clock: the stored rows are
  // then a function of the events alone (replays agree), and what changes with the mere passage
  // of time (pending → warned → breached) is derived at read time by the views and by the
  // scheduler's timers. Warnings whose deadline passed after that instant are still planned; the
  // scheduler skips them at fire time (SPEC §4 "Discovered late").
  const at = lastEventAt(state);
  const evaluation = evaluate(state, input.policies, at ?? 0);
  const view = evaluation.incident;

  const incident: IncidentRow = view
    ? {
        incidentId: input.incidentId,
        status: view.status,
        severity: view.severity,
        title: view.title,
        category: view.category,
        customer: view.customer,
        site: view.site,
        reporter: view.reporter,
        serviceKind: view.serviceKind,
        assignee: view.assignee,
        tier: view.tier,
        policyId: view.policyId,
        policyVersion: view.policyVersion,
        reportedAt: view.reportedAt,
        resolvedAt: view.resolvedAt,
        closedAt: view.closedAt,
        cancelledAt: view.cancelledAt,
        reopenCount: view.reopenCount,
        reopenedAt: view.reopenedAt,
        eventCount: state.events.length,
        lastEventAt: at,
      }
    : pendingRow(input.incidentId, state, at);

  const firedKeys = new Set(input.fired.map((f) => `${f.timerKey}\u0000${f.generation}`));
  // One sla.breached per milestone and cycle: once a breach was reported, a later deadline (a
  // late pause, a re-grade down) plans nothing more for it. The breach stands (SPEC §4), and a
  // second page for the same miss would only be noise. A breach the scheduler skipped (no event
  // id: paused or settled when due) does not count.
  const breached = new Set(
    input.fired
      .filter((f) => f.kind === 'breach' && f.eventId !== null)
      .map((f) => `${f.milestone}\u0000${f.cycle}`),
  );
  const timers = evaluation.timers
    .filter(
      (t) =>
        !firedKeys.has(`${t.key}\u0000${t.generation}`) &&
        !breached.has(`${t.milestone}\u0000${t.cycle}`),
    )
    .map((t) => timerRow(input.incidentId, t));

  const milestones = allCycles(evaluation).map((m) =>
    milestoneRow(input.incidentId, m, evaluation.timers),
  );

  const reported = input.fired.filter((f) => f.kind === 'breach' && f.eventId !== null);
  const proven =
    reported.length === 0
      ? []
      : retractions(
          reported.map((f) => ({ milestone: f.milestone, cycle: f.cycle, dueAt: f.dueAt })),
          evaluation,
        ).flatMap((r) => {
          const breach = reported.find(
            (f) => f.milestone === r.milestone && f.cycle === r.cycle && f.dueAt === r.dueAt,
          );
          return breach?.eventId ? [{ ...r, breachEventId: breach.eventId }] : [];
        });

  assertStorable(input.incidentId, milestones, timers);
  return { state, evaluation, incident, milestones, timers, retractions: proven };
}

/** The latest instant a JS Date (and so a timestamptz written from one) holds: ±8.64e15 ms. */
const MAX_INSTANT_MS = 8.64e15;

/**
 * Throws a RangeError naming the incident, milestone and field when an instant of its rows is
 * not a storable timestamp (NaN, ±Infinity: a calendar without working time ahead; beyond a
 * Date's range: a duration of millennia). The caller counts it as an evaluation failure (the
 * events are recorded, the incident's rows stay as they were) instead of the write failing the
 * whole batch and stalling the partition on retries (a tester's policy with P99999999999999D
 * did; policies are now bounded at creation, src/contracts/policy.ts, but a stored one may not be).
 */
function assertStorable(incidentId: string, milestones: MilestoneRow[], timers: TimerRow[]): void {
  const check = (what: string, t: number | null) => {
    if (t !== null && !(Math.abs(t) <= MAX_INSTANT_MS)) {
      throw new RangeError(`incident ${incidentId}: ${what} is not a storable instant (${t})`);
    }
  };
  for (const m of milestones) {
    const at = `${m.milestone}/${m.cycle}`;
    check(`${at} startAt`, m.startAt);
    check(`${at} dueAt`, m.dueAt);
    m.warnAt.forEach((w, i) => check(`${at} warnAt[${i}]`, w));
    check(`${at} metAt`, m.metAt);
    check(`${at} breachedAt`, m.breachedAt);
    check(`${at} stoppedAt`, m.stoppedAt);
  }
  for (const t of timers) {
    check(`timer ${t.key} dueAt`, t.dueAt);
    check(`timer ${t.key} deadline`, t.deadline);
  }
}

function lastEventAt(state: IncidentState): number | null {
  let max: number | null = null;
  for (const e of state.events) if (max === null || e.at > max) max = e.at;
  return max;
}

/** Events wait for their report: the incident exists, as `pending`, with nothing evaluated. */
function pendingRow(incidentId: string, state: IncidentState, at: number | null): IncidentRow {
  return {
    incidentId,
    status: 'pending',
    severity: null,
    title: null,
    category: null,
    customer: null,
    site: null,
    reporter: null,
    serviceKind: DEFAULT_SERVICE_KIND,
    assignee: null,
    tier: 1,
    policyId: null,
    policyVersion: null,
    reportedAt: null,
    resolvedAt: null,
    closedAt: null,
    cancelledAt: null,
    reopenCount: 0,
    reopenedAt: [],
    eventCount: state.events.length,
    lastEventAt: at,
  };
}

function milestoneRow(
  incidentId: string,
  m: MilestoneView,
  plans: readonly TimerPlan[],
): MilestoneRow {
  let dueAt = m.dueAt;
  let warnAt: readonly number[] = m.warnAt;
  if (dueAt === null && m.state === 'pending') {
    // A clock that has not started yet (spare_parts: 24 h after the report) has no deadline in
    // the domain's view, but its timers are planned. Store the planned deadline and warnings, so
    // that dashboards see it coming and the scheduler's "timer deadline = milestone due_at"
    // check holds when it fires.
    const mine = plans.filter((p) => p.milestone === m.milestone && p.cycle === m.cycle);
    const breach = mine.find((p) => p.kind === 'breach');
    if (breach) {
      dueAt = breach.deadline;
      warnAt = mine.filter((p) => p.kind === 'warning').map((p) => p.dueAt);
    }
  }
  return {
    incidentId,
    milestone: m.milestone,
    cycle: m.cycle,
    state: m.state,
    startAt: m.startAt,
    dueAt,
    warnAt,
    metAt: m.metAt,
    breachedAt: m.breachedAt,
    pausedMs: m.pausedMs,
    escalatesToTier: m.escalatesToTier,
    stoppedAt: m.stoppedAt,
    overduePausedMs: m.overduePausedMs,
  };
}

function timerRow(incidentId: string, t: TimerPlan): TimerRow {
  return {
    key: t.key,
    generation: t.generation,
    incidentId,
    milestone: t.milestone,
    cycle: t.cycle,
    kind: t.kind,
    threshold: t.threshold ? thresholdText(t.threshold) : null,
    dueAt: t.dueAt,
    deadline: t.deadline,
  };
}

/** As the policy states it (sla.warning `threshold`): "0.8", or a lead time such as "PT5M". */
export function thresholdText(w: WarningThreshold): string {
  if (w.kind === 'fraction') return String(w.value);
  const h = Math.floor(w.ms / 3_600_000);
  const m = Math.floor((w.ms % 3_600_000) / 60_000);
  const s = (w.ms % 60_000) / 1000;
  return `PT${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s || (!h && !m) ? `${s}S` : ''}`;
}
