/**
 * One batch of one partition → one Postgres transaction, in five round trips however large:
 *
 *   1. BEGIN and advance projector_offsets (compare-and-set on epoch and position: the fence;
 *      first, so a fenced member stops before doing any work and the row lock orders competing
 *      writers)
 *   2. lock every incident named and its timer rows (so no firing of them runs meanwhile); then
 *      read which events were applied before (digests), and for every incident its earlier
 *      events, fired timers, stored milestones and timers, escalations (store.ts)
 *   3. split new events from duplicates and digest conflicts; fold and evaluate every incident
 *      with new events (pure: project-incident.ts); diff against the stored rows
 *   4. write timeline (with digests), incidents, changed milestones and timers in one statement;
 *      with side effects on (and only when there are any), the escalation rows and outbox rows
 *      of forwarded manual escalations, of retractions and of stand-downs; COMMIT
 *
 * Either all of it commits, offsets included, or none of it: a crash anywhere means the batch is
 * read again from the stored offset and applied as if for the first time.
 */
import { insertOutboxRows } from '../outbox/store';
import {
  buildBreachRetracted,
  buildManualEscalation,
  buildStandDown,
  forwardedEventId,
  outboxRow,
  type OutboxRow,
  type PagerFields,
  type SlaTier,
} from '../contracts/sla-events';
import {
  asTier,
  costLinesOf,
  eventKey,
  forwardedEscalations,
  standDownFor,
  stoodDown,
  type IncidentEvent,
  type IncidentEventOf,
  type PagingRecord,
  type Policy,
  type StandDown,
} from '../domain';
import { withTransaction, type Pool, type PoolClient } from '../infra/db';
import type { Logger } from '../infra/logger';
import type { PolicyStore } from '../application/policy-store';
import type { DecodedEvent, DecodedInspection } from './decode';
import { applyInspectionCompletions } from './apply-inspections';
import { CpuSlice } from './cpu-slice';
import { beginAndAdvance, type OffsetsKey } from './offsets';
import { projectIncident, type IncidentOutput } from './project-incident';
import { insertEscalations, type EscalationRow } from '../tables/escalations';
import { costRow, type CostRow } from '../tables/incident-costs';
import type { TimelineRow } from '../tables/incident-events';
import type { IncidentRow, PriorIncident } from '../tables/incidents';
import type { MilestoneRow } from '../tables/milestones';
import type { TimerRow } from '../tables/timers';
import { loadBatchContext, writeBatch, type BatchContext } from './store';
import { diffMilestones, diffTimers } from './diff';

export interface ProjectionSettings {
  offsets: OffsetsKey;
  /**
   * Live projection forwards manual escalations and emits retractions (outbox + escalations).
   * A rebuild does not: those tables are never rebuilt, and the live projector already did it.
   */
  sideEffects: boolean;
  topics: { warnings: string; escalations: string };
  /** A rebuild writes into this schema (its tables shadow the public ones via search_path). */
  schema?: string;
}

export interface ProjectionDeps {
  pool: Pool;
  policies: PolicyStore;
  log: Logger;
  /** Emission time of outgoing events (envelope `time`). */
  now(): number;
}

export interface BatchInput {
  partition: number;
  epoch: bigint;
  fromOffset: bigint;
  /** The offset after the batch's last record (poison records included). */
  nextOffset: bigint;
  /** The batch's valid events in offset order. */
  events: DecodedEvent[];
  /** The batch's `inspection.completed` events (apply-inspections.ts). */
  inspections?: DecodedInspection[];
}

export interface DigestConflict {
  source: string;
  eventId: string;
  incidentId: string;
  offset: bigint;
}

export type BatchResult =
  | {
      kind: 'ok';
      applied: number;
      duplicates: number;
      conflicts: DigestConflict[];
      incidents: number;
      outbox: number;
      /** Incidents whose evaluation threw (their events are recorded, their rows unchanged). */
      failed: string[];
      /** Milliseconds per phase (dedupe, load, evaluate, write), for debug logs and tuning. */
      timings: Record<string, number>;
    }
  | { kind: 'fenced' }
  | { kind: 'moved'; nextOffset: bigint };

/** Another transaction wrote the same incident or event id meanwhile: run the batch again. */
export class ConcurrentWriteError extends Error {
  readonly retriable = true;
  constructor(message: string) {
    super(message);
    this.name = 'ConcurrentWriteError';
  }
}

export async function projectBatch(
  deps: ProjectionDeps,
  settings: ProjectionSettings,
  input: BatchInput,
): Promise<BatchResult> {
  return withTransaction(
    deps.pool,
    async (client) => {
      const advanced = await beginAndAdvance(client, settings.offsets, {
        partition: input.partition,
        epoch: input.epoch,
        from: input.fromOffset,
        to: input.nextOffset,
        schema: settings.schema,
      });
      // Fenced or moved: the fence's UPDATE matched no row, so the transaction wrote nothing and
      // its COMMIT changes nothing.
      if (advanced.kind !== 'ok') return advanced;
      const inspections = input.inspections?.length
        ? await applyInspectionCompletions(
            client,
            settings,
            input.partition,
            input.inspections,
            deps.now(),
          )
        : null;
      const result = await applyEvents(client, deps, settings, input);
      if (!inspections) return result;
      return {
        ...result,
        applied: result.applied + inspections.applied,
        outbox: result.outbox + inspections.outbox,
      };
    },
    { callerBegins: true },
  );
}

async function applyEvents(
  client: PoolClient,
  deps: ProjectionDeps,
  settings: ProjectionSettings,
  input: BatchInput,
): Promise<BatchResult & { kind: 'ok' }> {
  const phases = new PhaseTimer();

  // -- 2. lock, then read everything ----------------------------------------------------------
  const context = await loadBatchContext(
    client,
    input.events.map((d) => ({ source: d.event.source, eventId: d.event.id })),
    [...new Set(input.events.map((d) => d.event.incidentId))].sort(),
  );
  const policies = await deps.policies.resolve(context.policyVersions, client);
  phases.lap('load');

  // -- 3. new, duplicate or conflicting; fold and evaluate ----------------------------------------
  const { added, duplicates, conflicts } = sortOut(input.events, context.digests);
  phases.lap('dedupe');
  const ok = {
    kind: 'ok' as const,
    duplicates,
    conflicts,
    applied: 0,
    incidents: 0,
    outbox: 0,
    failed: [] as string[],
    timings: phases.timings,
  };
  if (added.size === 0) return ok;

  const emittedAt = deps.now();
  const batch = await evaluateIncidents(deps, settings, context, policies, {
    partition: input.partition,
    added,
    emittedAt,
  });
  phases.lap('evaluate');

  // -- 4. write, in one round trip (plus one for rare side effects) ------------------------------
  await writeProjection(client, context, batch);
  phases.lap('write');
  let outbox = 0;
  if (settings.sideEffects && hasSideEffects(batch.effects)) {
    outbox = await writeSideEffects(client, batch.effects, settings.topics, emittedAt);
    phases.lap('sideEffects');
  }
  return {
    ...ok,
    applied: batch.timeline.length,
    incidents: batch.evaluated.size,
    outbox,
    failed: batch.failed,
  };
}

/** Milliseconds per phase since the previous lap (0.1 ms resolution). */
class PhaseTimer {
  readonly timings: Record<string, number> = {};
  private mark = performance.now();

  lap(phase: string): void {
    const t = performance.now();
    this.timings[phase] = Math.round((t - this.mark) * 10) / 10;
    this.mark = t;
  }
}

/**
 * The batch's events that were not applied before, per incident in batch order; a copy with the
 * digest already applied is a duplicate, one with another digest a conflict (the same id reused
 * for different content). Each new digest is added to `known`, so a second copy within the batch
 * is a duplicate of the first.
 */
function sortOut(
  events: readonly DecodedEvent[],
  known: Map<string, string>,
): { added: Map<string, DecodedEvent[]>; duplicates: number; conflicts: DigestConflict[] } {
  const added = new Map<string, DecodedEvent[]>();
  const conflicts: DigestConflict[] = [];
  let duplicates = 0;
  for (const d of events) {
    const key = eventKey(d.event);
    const digest = known.get(key);
    if (digest === undefined) {
      known.set(key, d.digest);
      const list = added.get(d.event.incidentId);
      if (list) list.push(d);
      else added.set(d.event.incidentId, [d]);
    } else if (digest === d.digest) {
      duplicates++;
    } else {
      conflicts.push({
        source: d.event.source,
        eventId: d.event.id,
        incidentId: d.event.incidentId,
        offset: d.offset,
      });
    }
  }
  return { added, duplicates, conflicts };
}

/** A manual escalation to forward, once its tier is known to be new (insertEscalations). */
interface PendingEscalation {
  row: EscalationRow;
  pager: PagerFields;
  event: IncidentEventOf<'incident.escalated'>;
}

/** The outgoing events of a batch (live projection only). */
interface SideEffects {
  escalations: PendingEscalation[];
  retractions: OutboxRow[];
  standDowns: OutboxRow[];
}

/** The rows evaluating a batch's incidents gives, and which incidents it evaluated. */
interface EvaluatedBatch {
  timeline: TimelineRow[];
  /** Effort and cost lines of the new events (src/domain/costs.ts). */
  costs: CostRow[];
  incidents: IncidentRow[];
  milestones: MilestoneRow[];
  timers: TimerRow[];
  effects: SideEffects;
  evaluated: Set<string>;
  /** Incidents whose evaluation threw (their events are recorded, their rows unchanged). */
  failed: string[];
}

/** Folds and evaluates every incident with new events (pure), collecting the rows to write. */
async function evaluateIncidents(
  deps: ProjectionDeps,
  settings: ProjectionSettings,
  context: BatchContext,
  policies: readonly Policy[],
  {
    partition,
    added,
    emittedAt,
  }: {
    partition: number;
    /** New events per incident, in batch order (sortOut). */
    added: Map<string, DecodedEvent[]>;
    emittedAt: number;
  },
): Promise<EvaluatedBatch> {
  const batch: EvaluatedBatch = {
    timeline: [],
    costs: [],
    incidents: [],
    milestones: [],
    timers: [],
    effects: { escalations: [], retractions: [], standDowns: [] },
    evaluated: new Set(),
    failed: [],
  };
  const fired = groupBy(context.fired, (f) => f.incidentId);
  // Between incidents the loop may serve HTTP and fire timers: a big batch is no stall.
  const slice = new CpuSlice();
  for (const incidentId of [...added.keys()].sort()) {
    await slice.pause();
    const decoded = added.get(incidentId)!;
    const before = context.prior.get(incidentId);
    recordEvents(batch, incidentId, partition, decoded);
    let out: IncidentOutput;
    try {
      out = projectIncident({
        incidentId,
        existing: context.events.get(incidentId) ?? [],
        added: decoded.map((d) => d.event),
        prior: before,
        policies: choosePolicies(before, policies, decoded),
        fired: fired.get(incidentId) ?? [],
      });
    } catch (err) {
      // A bug in evaluation must not stop the partition: the events are still recorded (the
      // timeline rows above), the incident's rows stay as they were, and a fixed version picks
      // it up at its next event or with a rebuild. Loud, and counted.
      deps.log.error(
        { err, incidentId },
        'evaluation failed; events recorded, read model not updated',
      );
      batch.failed.push(incidentId);
      continue;
    }
    batch.evaluated.add(incidentId);
    batch.incidents.push(out.incident);
    batch.milestones.push(...out.milestones);
    batch.timers.push(...out.timers);
    if (settings.sideEffects) {
      collectSideEffects(batch.effects, out, {
        before,
        added: decoded.map((d) => d.event),
        tier: Math.max(before?.tier ?? 1, context.escalated.get(incidentId) ?? 1),
        paging: context.paging.get(incidentId) ?? { lastAutomaticAt: null, lastStandDownAt: null },
        topics: settings.topics,
        emittedAt,
      });
    }
  }
  return batch;
}

/**
 * The timeline row (with its digest: the record that the id was applied) and the effort or cost
 * lines of each new event (recorded even if evaluation fails).
 */
function recordEvents(
  batch: EvaluatedBatch,
  incidentId: string,
  partition: number,
  decoded: readonly DecodedEvent[],
): void {
  for (const d of decoded) {
    batch.timeline.push({
      incidentId,
      source: d.event.source,
      eventId: d.event.id,
      type: d.event.type,
      time: d.time,
      acceptedAt: d.acceptedAt,
      data: d.data,
      partition,
      offset: d.offset,
      digest: d.digest,
    });
    for (const line of costLinesOf(d.event)) {
      batch.costs.push(
        costRow({ incidentId, source: d.event.source, eventId: d.event.id, time: d.time }, line),
      );
    }
  }
}

/**
 * One evaluated incident's outgoing events: the manual escalations among its new events that
 * raise the tier (SPEC §4: every escalation reaches sla.escalations; one page per tier change,
 * never down), a stand-down when a paged incident settles, and retractions of breaches a late
 * event disproved. Nothing but the stand-down follows a stand-down for that cycle.
 */
function collectSideEffects(
  into: SideEffects,
  out: IncidentOutput,
  at: {
    before: PriorIncident | undefined;
    added: readonly IncidentEvent[];
    /** The highest tier stored for the incident (its row or the escalations table). */
    tier: number;
    paging: PagingRecord;
    topics: ProjectionSettings['topics'];
    emittedAt: number;
  },
): void {
  const view = out.evaluation.incident;
  const standDown =
    view && standDownFor(at.before?.status, view.status, view.reopenCount, at.paging);
  const quiet = view !== null && stoodDown(view.status, standDown, at.paging);
  let tier = asTier(at.tier) ?? 1;
  for (const f of quiet ? [] : forwardedEscalations(tier, at.added)) {
    into.escalations.push({
      row: {
        incidentId: out.incident.incidentId,
        toTier: f.toTier,
        fromTier: f.fromTier,
        reason: f.event.data.reason,
        eventId: forwardedEventId(f.event.source, f.event.id),
      },
      pager: pagerFields(out, f.toTier),
      event: f.event,
    });
    tier = f.toTier;
  }
  const pager = pagerFields(out, Math.max(tier, out.incident.tier));
  if (standDown) {
    const reason = standDownReason(out, standDown);
    const event = buildStandDown(pager, { ...standDown, reason, emittedAt: at.emittedAt });
    into.standDowns.push(outboxRow(event, at.topics));
  }
  for (const r of quiet ? [] : out.retractions) {
    const event = buildBreachRetracted(pager, {
      breachEventId: r.breachEventId,
      milestone: r.milestone,
      cycle: r.cycle,
      reason: `a late event shows ${r.milestone} was met at ${new Date(r.metAt).toISOString()}, by its deadline`,
      dueAt: r.dueAt,
      metAt: r.metAt,
      emittedAt: at.emittedAt,
    });
    into.retractions.push(outboxRow(event, at.topics));
  }
}

/**
 * Timeline (the applied ids), incidents, and the milestones and timers that changed, in one round
 * trip. Stored rows of incidents whose evaluation failed are left alone (not diffed against
 * nothing). Throws ConcurrentWriteError when another transaction applied one of the events or
 * created one of the incidents meanwhile.
 */
async function writeProjection(
  client: PoolClient,
  context: BatchContext,
  batch: EvaluatedBatch,
): Promise<void> {
  const mine = <T extends { incidentId: string }>(rows: T[]) =>
    rows.filter((r) => batch.evaluated.has(r.incidentId));
  const written = await writeBatch(client, {
    timeline: batch.timeline,
    costs: batch.costs,
    incidents: batch.incidents,
    milestones: diffMilestones(mine(context.milestones), batch.milestones),
    timers: diffTimers(mine(context.timers), batch.timers),
  });
  if (written.applied !== batch.timeline.length) {
    throw new ConcurrentWriteError('an event id of this batch was applied by another transaction');
  }
  for (const row of batch.incidents) {
    // We found no row, so we must have inserted it; an update means another transaction created
    // the incident since (from events we did not load): our evaluation is incomplete.
    if (!context.prior.has(row.incidentId) && !written.inserted.has(row.incidentId)) {
      throw new ConcurrentWriteError(`incident ${row.incidentId} was created concurrently`);
    }
  }
}

function hasSideEffects(e: SideEffects): boolean {
  return e.escalations.length > 0 || e.retractions.length > 0 || e.standDowns.length > 0;
}

/**
 * The escalation rows, then the outbox rows: forwarded manual escalations whose tier the incident
 * did not have yet (it may have been reached meanwhile by an automatic escalation of the
 * scheduler), retractions and stand-downs. Returns how many outbox rows were inserted.
 */
async function writeSideEffects(
  client: PoolClient,
  effects: SideEffects,
  topics: ProjectionSettings['topics'],
  emittedAt: number,
): Promise<number> {
  const newTiers = await insertEscalations(
    client,
    effects.escalations.map((e) => e.row),
  );
  const forwarded = effects.escalations
    .filter((e) => newTiers.has(`${e.row.incidentId}/${e.row.toTier}`))
    .map((e) =>
      outboxRow(
        buildManualEscalation(e.pager, {
          fromTier: e.row.fromTier as SlaTier,
          toTier: e.row.toTier as SlaTier,
          reason: e.row.reason,
          emittedAt,
          source: e.event.source,
          eventId: e.event.id,
        }),
        topics,
      ),
    );
  return insertOutboxRows(client, [...forwarded, ...effects.retractions, ...effects.standDowns]);
}

/**
 * An incident keeps the policy version it was reported under: once its row records one, that
 * version is used (unless the report now names another policy, which only an earlier report
 * arriving late can do). Otherwise the domain picks from every stored version by policyId and
 * report time, which a replay repeats exactly because versions never start in the past.
 */
function choosePolicies(
  prior: { policyId: string | null; policyVersion: number | null } | undefined,
  all: readonly Policy[],
  added: DecodedEvent[],
): Policy | readonly Policy[] {
  if (!prior?.policyId || prior.policyVersion === null) return all;
  const recorded = all.find((p) => p.id === prior.policyId && p.version === prior.policyVersion);
  if (!recorded) return all;
  const reportNamesOther = added.some(
    (d) =>
      d.event.type === 'incident.reported' &&
      (d.event.data.policyId ?? recorded.id) !== recorded.id &&
      d.event.data.policyId !== undefined,
  );
  return reportNamesOther ? all : recorded;
}

function pagerFields(out: IncidentOutput, tier: number): PagerFields {
  const view = out.evaluation.incident;
  return {
    incidentId: out.incident.incidentId,
    title: view?.title ?? null,
    severity: view?.severity ?? null,
    site: view?.site ?? null,
    tier: Math.min(3, Math.max(1, tier)) as SlaTier,
    assignee: view?.assignee ?? null,
  };
}

/** "incident resolved", or with the settling event's reason: "incident cancelled: duplicate". */
function standDownReason(out: IncidentOutput, s: StandDown): string {
  const type = `incident.${s.settledAs}`;
  let detail: string | undefined;
  for (const e of out.state.events) {
    if (e.type !== type) continue;
    if (e.type === 'incident.cancelled') detail = e.data.reason;
    else if (e.type === 'incident.resolved') detail = e.data.resolution;
  }
  return detail ? `incident ${s.settledAs}: ${detail}` : `incident ${s.settledAs}`;
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}
