/**
 * Table `timers` (migrations 0001, 0004): the durable timers, one row per stable key, re-planned
 * by upsert (a new generation) and cancelled by delete. Written by the projector from the
 * domain's timer plan; claimed and fired by the scheduler (src/scheduler, its own SQL). Also the
 * projector's reads of `timer_fires`, the scheduler's record of what fired.
 */
import type { TimerKind } from '../domain';
import { epochMs, ts, type Statement } from './sql';

/** The row the projector writes; instants in epoch ms. */
export interface TimerRow {
  key: string;
  generation: number;
  incidentId: string;
  milestone: string;
  cycle: number;
  kind: TimerKind;
  threshold: string | null;
  dueAt: number;
  deadline: number;
}

/**
 * Locks every timer of the incidents `$1::text[]`, in key order: the rows the scheduler claims
 * (FOR UPDATE SKIP LOCKED) before it fires, so no firing of these incidents runs meanwhile.
 */
export const TIMERS_LOCK = `SELECT 1 FROM timers WHERE incident_id = ANY($1::text[])
  ORDER BY timer_key FOR UPDATE`;

/** A JSON array of the timers of the incidents `$1::text[]`, as TimerTuple. */
export const TIMERS_OF_INCIDENTS = `(SELECT coalesce(json_agg(json_build_array(
    t.timer_key, t.generation::text, t.incident_id, t.milestone, t.cycle, t.kind, t.threshold,
    ${epochMs('t.due_at')}, ${epochMs('t.deadline')})), '[]')
  FROM timers t WHERE t.incident_id = ANY($1::text[]))`;

export type TimerTuple = [
  string,
  string,
  string,
  string,
  number,
  TimerKind,
  string | null,
  number,
  number,
];

export function timerFromTuple(t: TimerTuple): TimerRow {
  return {
    key: t[0],
    generation: Number(t[1]),
    incidentId: t[2],
    milestone: t[3],
    cycle: t[4],
    kind: t[5],
    threshold: t[6],
    dueAt: t[7],
    deadline: t[8],
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

/** Deletes every timer of these subjects (incidents, or `inspection/<id>`: domain/inspections.ts). */
export function timersOfSubjectsDelete(subjects: readonly string[]): Statement {
  return { text: 'DELETE FROM timers WHERE incident_id = ANY($1::text[])', values: [subjects] };
}

// ---------------------------------------------------------------------------------------------
// timer_fires (written by the scheduler), as the projector reads it

/** A timer_fires row, as far as the projector cares. */
export interface FiredTimer {
  timerKey: string;
  generation: number;
  incidentId: string;
  milestone: string;
  cycle: number;
  kind: string;
  dueAt: number;
  /** The sla.breached / sla.warning id; null when the scheduler skipped it as stale. */
  eventId: string | null;
}

/** A JSON array of the timer_fires rows of the incidents `$1::text[]`, as FiredTuple. */
export const FIRED_OF_INCIDENTS = `(SELECT coalesce(json_agg(json_build_array(
    f.timer_key, f.generation::text, f.incident_id, f.milestone, f.cycle, f.kind,
    ${epochMs('f.due_at')}, f.event_id)), '[]')
  FROM timer_fires f WHERE f.incident_id = ANY($1::text[]))`;

export type FiredTuple = [string, string, string, string, number, string, number, string | null];

export function firedFromTuple([
  timerKey,
  generation,
  incidentId,
  milestone,
  cycle,
  kind,
  dueAt,
  eventId,
]: FiredTuple): FiredTimer {
  return {
    timerKey,
    generation: Number(generation),
    incidentId,
    milestone,
    cycle,
    kind,
    dueAt,
    eventId,
  };
}
