/**
 * The follow-up section of the monthly report (§4.5.7.6 回访: after every fault is handled, a call,
 * a visit or a satisfaction form; follow-up rate 100 %; §4.5.3.3 item 7: a satisfaction survey
 * after each service).
 *
 * - Owed follow-ups are the `follow_up` milestones (every cycle) whose clock started in the month,
 *   i.e. faults handled (resolved or closed) in the month, of incidents not cancelled. A cycle
 *   ended by a reopen before its limit is not applicable (the fault was not handled; the next
 *   resolution owes a new one) and is left out. Outcomes as the milestone statistics count them
 *   (../tables/milestones.ts `milestoneSql`): met or met late is followed up, breached and unmet
 *   is missed.
 * - Satisfaction counts the scores of the `incident.followed_up` events that happened in the
 *   month (event time), as the field section counts dispatches.
 */
import type { FollowUpStats } from '../contracts/read';
import type { Pool } from '../infra/db';
import { milestoneSql } from '../tables/milestones';

/** The milestone id SPEC §2 gives follow-ups (the default policy's; met by incident.followed_up). */
export const FOLLOW_UP = 'follow_up';

const { breached: BREACHED, clockStarted: CLOCK_STARTED } = milestoneSql('$3');

/** The section for the month [from, to) as it stands at `now` (epoch ms; ./reports.ts period). */
export async function followUpSection(
  pool: Pool,
  { from, to, now }: { from: Date; to: Date; now: number },
): Promise<FollowUpStats> {
  const [owed, scores] = await Promise.all([
    pool.query<{ done: number; on_time: number; missed: number; pending: number }>(
      `WITH f AS (
         SELECT CASE WHEN m.state IN ('met', 'met_late') THEN 'done'
                     WHEN ${BREACHED} THEN 'missed'
                     WHEN m.state = 'not_applicable' THEN 'na'
                     ELSE 'pending' END AS outcome,
                m.state
         FROM milestones m JOIN incidents i ON i.incident_id = m.incident_id
         WHERE m.milestone = $4 AND m.start_at >= $1 AND m.start_at < $2
           AND i.status <> 'cancelled' AND ${CLOCK_STARTED}
       )
       SELECT count(*) FILTER (WHERE outcome = 'done')::int AS done,
              count(*) FILTER (WHERE state = 'met')::int AS on_time,
              count(*) FILTER (WHERE outcome = 'missed')::int AS missed,
              count(*) FILTER (WHERE outcome = 'pending')::int AS pending
       FROM f`,
      [from, to, new Date(now), FOLLOW_UP],
    ),
    pool.query<{ responses: number; mean: string | null }>(
      `SELECT count(e.data->'satisfaction')::int AS responses,
              round(avg((e.data->>'satisfaction')::numeric), 2) AS mean
       FROM incident_events e
       WHERE e.type = 'incident.followed_up' AND e.time >= $1 AND e.time < $2
         AND NOT EXISTS (SELECT 1 FROM incidents i
                         WHERE i.incident_id = e.incident_id AND i.status = 'cancelled')`,
      [from, to],
    ),
  ]);
  const r = owed.rows[0] ?? { done: 0, on_time: 0, missed: 0, pending: 0 };
  const s = scores.rows[0];
  const settled = r.done + r.missed;
  return {
    due: r.done + r.missed + r.pending,
    followedUp: r.done,
    onTime: r.on_time,
    missed: r.missed,
    pending: r.pending,
    ratePct: settled === 0 ? null : Math.round((1000 * r.done) / settled) / 10,
    satisfaction: {
      responses: s?.responses ?? 0,
      mean: s?.mean == null ? null : Number(s.mean),
    },
  };
}
