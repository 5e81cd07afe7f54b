/**
 * `npm run bench -- deadlines [--seconds N]`: incident evaluations per second of the pure deadline
 * engine (src/domain), for a realistic open incident — 15 lifecycle events (two pauses, a regrade,
 * reassignments, a manual escalation), 6 milestones — on the default 7×24 policy and on a
 * business-hours calendar (Asia/Shanghai, lunch break, holidays and make-up days).
 *
 * One evaluation = `evaluate(state, policy, now)`: the fold over the sorted events, every
 * milestone view and the timer plan. `now` moves on every call so nothing can be reused. Also
 * reported: "replay", which rebuilds the state with `evolve` (15 events) before evaluating.
 * Targets (issue #4): ≥ 100,000/s on 7×24, ≥ 20,000/s on a business calendar.
 */
import { performance } from 'node:perf_hooks';
import {
  DEFAULT_POLICY,
  DEFAULT_ZONE,
  MINUTE,
  evaluate,
  evolve,
  initialState,
  parseInstant,
  type EventDataByType,
  type IncidentEvent,
  type IncidentEventType,
  type IncidentState,
  type Policy,
  type TimeRange,
} from '../src/domain';

const office: TimeRange[] = [
  { from: 9 * 60, to: 12 * 60 },
  { from: 13 * 60, to: 18 * 60 },
];

const BUSINESS: Policy = {
  ...DEFAULT_POLICY,
  id: 'cn-office',
  calendar: {
    kind: 'business',
    zone: DEFAULT_ZONE,
    weekly: { 1: office, 2: office, 3: office, 4: office, 5: office },
    holidays: ['2026-10-01', '2026-10-02', '2026-10-05', '2026-10-06', '2026-10-07'],
    makeUpDays: ['2026-09-20', '2026-10-10'],
    makeUpHours: office,
  },
};

function incident(reportIso: string): IncidentEvent[] {
  const t0 = parseInstant(reportIso);
  if (t0 === null) throw new Error(reportIso);
  let n = 0;
  const e = <T extends IncidentEventType>(type: T, minutes: number, data: EventDataByType[T]) =>
    ({
      id: `ev-${++n}`,
      source: '/servicedesk',
      type,
      incidentId: 'INC-BENCH',
      at: t0 + minutes * MINUTE,
      data,
    }) as IncidentEvent;
  return [
    e('incident.reported', 0, {
      severity: 'II',
      title: 'Core switch down',
      site: '长葛 data centre',
    }),
    e('incident.assigned', 1, { assignee: 'wang', tier: 1 }),
    e('incident.acknowledged', 3, { by: 'wang' }),
    e('incident.dispatched', 4, { engineers: ['li'] }),
    e('incident.arrived', 14, { engineer: 'li' }),
    e('incident.paused', 20, { reason: 'waiting for rack access' }),
    e('incident.severity_changed', 30, { severity: 'I', reason: 'second site affected' }),
    e('incident.resumed', 35, { reason: 'access granted' }),
    e('incident.assigned', 40, { assignee: 'zhao', tier: 2 }),
    e('incident.escalated', 41, { toTier: 2, reason: 'needs second line' }),
    e('incident.diagnosed', 55, { cause: 'failed PSU' }),
    e('incident.paused', 70, { reason: 'waiting for customer approval' }),
    e('incident.resumed', 80, { reason: 'approved' }),
    e('incident.solution_provided', 95, { kind: 'workaround', detail: 'traffic moved to standby' }),
    e('incident.assigned', 100, { assignee: 'li', tier: 2 }),
  ];
}

function stateOf(events: readonly IncidentEvent[]): IncidentState {
  return events.reduce((s, ev) => evolve(s, ev), initialState('INC-BENCH'));
}

/** Runs `fn(i)` for about `seconds` after a warm-up; returns calls per second. */
function measure(seconds: number, fn: (i: number) => number): { perSecond: number; sink: number } {
  let sink = 0;
  const warmUntil = performance.now() + 300;
  for (let i = 0; performance.now() < warmUntil; i++) sink += fn(i);
  let calls = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  // Check the clock every 256 calls so that reading it costs nothing measurable.
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++) sink += fn(calls++);
  }
  return { perSecond: (calls * 1000) / (performance.now() - start), sink };
}

export async function run(args: string[]): Promise<void> {
  const i = args.indexOf('--seconds');
  const seconds = i >= 0 ? Number(args[i + 1]) : 3;
  const scenarios = [
    // Tuesday morning, open two hours later: every kind of milestone state at once.
    {
      name: '7x24',
      policy: DEFAULT_POLICY,
      reportIso: '2026-11-24T10:00:00+08:00',
      target: 100_000,
    },
    // Friday afternoon before the weekend: deadlines roll over to Monday.
    {
      name: 'business (Asia/Shanghai)',
      policy: BUSINESS,
      reportIso: '2026-11-27T16:30:00+08:00',
      target: 20_000,
    },
  ];
  console.log(`deadlines: node ${process.version}, ${seconds}s per case, 15 events, 6 milestones`);
  for (const sc of scenarios) {
    const events = incident(sc.reportIso);
    const state = stateOf(events);
    const t0 = events[0]!.at;
    const check = evaluate(state, sc.policy, t0 + 120 * MINUTE);
    if (check.milestones.length !== 6 || events.length !== 15)
      throw new Error('unexpected bench incident');
    // `now` walks across 24 h so views range from pending to breached.
    const evalRate = measure(
      seconds,
      (k) => evaluate(state, sc.policy, t0 + (k % 1440) * MINUTE).timers.length,
    );
    const replayRate = measure(
      seconds,
      (k) => evaluate(stateOf(events), sc.policy, t0 + (k % 1440) * MINUTE).timers.length,
    );
    const verdict = evalRate.perSecond >= sc.target ? 'meets' : 'BELOW';
    console.log(
      `${sc.name.padEnd(26)} evaluate: ${Math.round(evalRate.perSecond).toLocaleString('en-US').padStart(9)}/s ` +
        `(${verdict} target ${sc.target.toLocaleString('en-US')}/s)   ` +
        `replay (evolve ×15 + evaluate): ${Math.round(replayRate.perSecond).toLocaleString('en-US').padStart(9)}/s`,
    );
    if (evalRate.sink === -1 || replayRate.sink === -1) console.log('');
  }
}
