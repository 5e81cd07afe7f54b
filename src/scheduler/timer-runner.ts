/**
 * The timer runner (role `timerRunner`): fires due timers on time, never early, exactly once.
 *
 * Postgres decides what is due; everything in this file only decides WHEN to ask:
 * - the wheel (wheel.ts) holds the due times of the next `horizonMs`, loaded by a periodic query
 *   and topped up by NOTIFY from the timers triggers (migrations/0004), and one setTimeout is
 *   armed at the earliest, corrected by the measured database-vs-process clock offset;
 * - a poll every `pollIntervalMs` is the safety net (missed notification, lost LISTEN connection,
 *   rows a crashed instance had locked);
 * - a round that claimed a full batch is followed by another at once (draining a burst).
 * If a Node timer fires a little early, the claim finds nothing due (the database clock says not
 * yet) and the wheel is re-armed: early wake-ups cost a query, never an early event.
 * A restart loses nothing: the state is the timers table; the wheel is rebuilt from it.
 */
import type { Clock } from '../infra/clock';
import type { Pool } from '../infra/db';
import type { Logger } from '../infra/logger';
import { measureClockSkew } from './clock-skew';
import { fireDueTimers, type FireRoundResult } from './fire';
import type { SchedulerMetrics } from './metrics';
import type { PgListener } from '../infra/pg-listener';
import { DueTimeWheel } from './wheel';

export const TIMERS_CHANNEL = 'sla_timers';

export interface TimerRunnerSettings {
  batchSize: number;
  pollIntervalMs: number;
  horizonMs: number;
  wheelMaxEntries: number;
  skewIntervalMs: number;
  /** Parallel claim loops while draining (SKIP LOCKED keeps them apart). */
  concurrency: number;
  /** See FireOptions.asyncCommit. */
  asyncCommit: boolean;
  topics: { warnings: string; escalations: string };
}

export interface TimerRunnerDeps {
  pool: Pool;
  log: Logger;
  clock: Clock;
  metrics: SchedulerMetrics;
  listener: PgListener;
  /** Called after each committed round that fired something (benchmarks and tests observe it). */
  onRound?: (result: FireRoundResult) => void;
}

/** After a round that could do nothing but defer (incidents busy elsewhere), wait this long. */
const CONTENDED_PAUSE_MS = 5;

/** Reloads asked for by notifications are at least this far apart (see requestReload). */
const RELOAD_MIN_INTERVAL_MS = 250;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class TimerRunner {
  readonly name = 'timerRunner';
  private readonly log: Logger;
  private readonly wheel: DueTimeWheel;
  private stopped = true;
  /** Database clock minus process clock, ms. */
  private offsetMs = 0;
  /** Claim loops running (at most `concurrency`; SKIP LOCKED keeps them apart). */
  private readonly loops = new Set<Promise<void>>();
  /** A wake-up came while every loop was busy: start one when a loop ends. */
  private drainAgain = false;
  /** Rounds in flight that may claim warnings (at most concurrency − 1; 1 when it is 1). */
  private warningClaimers = 0;
  /** A breaches-only round ran: warnings may be due; the next warning claimer's loop goes on. */
  private warningsMayWait = false;
  private armed: { at: number; timer: NodeJS.Timeout } | null = null;
  private pollTimer: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private skewTimer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | null = null;
  private lastReloadAt = Number.NEGATIVE_INFINITY;
  private reloadPending: NodeJS.Timeout | undefined;
  /** Announcements that arrived while a load was running: applied after it. */
  private announcedDuringLoad: number[] = [];
  private failures = 0;

  constructor(
    private readonly deps: TimerRunnerDeps,
    private readonly settings: TimerRunnerSettings,
  ) {
    this.log = deps.log.child({ component: this.name });
    this.wheel = new DueTimeWheel(settings.wheelMaxEntries);
    deps.listener.on(TIMERS_CHANNEL, (payload) => this.onNotification(payload));
    deps.listener.onReconnect(() => this.resync());
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.measureSkew(true);
    // Overdue timers first (a restart fires them at once); the wheel loads meanwhile.
    this.kick();
    void this.reloadWheel();
    this.pollTimer = setInterval(() => this.kick(), this.settings.pollIntervalMs);
    // Reload well before the loaded horizon runs out, so the wheel never has a gap.
    this.reloadTimer = setInterval(() => void this.reloadWheel(), this.settings.horizonMs / 2);
    this.skewTimer = setInterval(() => void this.measureSkew(false), this.settings.skewIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearInterval(this.reloadTimer);
    clearInterval(this.skewTimer);
    clearTimeout(this.reloadPending);
    this.disarm();
    // A round in flight commits (or rolls back) before the pool is closed.
    await this.settled();
    await this.loading;
  }

  /** Resolves when no round is in progress or queued (start-up ordering, tests). */
  async settled(): Promise<void> {
    while (this.loops.size > 0) await Promise.all(this.loops);
  }

  /**
   * Starts a claim loop now, beside those running (up to `concurrency`), else once one ends. A
   * loop starting while another's firing transaction is still in flight claims what came due
   * since (the rows the other holds are skipped): a due time never waits for a round it was not
   * part of (issue 12: detection lateness at 100 breaching incidents/s).
   */
  kick(): void {
    if (this.stopped) return;
    if (this.loops.size >= this.settings.concurrency) {
      this.drainAgain = true;
      return;
    }
    this.disarm();
    const loop: Promise<void> = this.claimLoop().finally(() => {
      this.loops.delete(loop);
      if (this.drainAgain) {
        this.drainAgain = false;
        this.kick();
      } else {
        this.arm();
      }
    });
    this.loops.add(loop);
    // The due times this loop's round covers left the wheel (see round): arm for the next one.
    this.arm();
  }

  /**
   * Notifications sent while the LISTEN connection was down are lost: rebuild the wheel from the
   * timers table and claim whatever came due meanwhile.
   */
  private resync(): void {
    this.wheel.invalidate();
    void this.reloadWheel();
    this.kick();
  }

  /**
   * Fires batches until a round finds everything due handled. A round that could only defer
   * (escalating incidents locked elsewhere: the projector writing them) lets that commit first,
   * backing off; past a poll interval, the poll retries instead of a spin.
   */
  private async claimLoop(): Promise<void> {
    let pause = CONTENDED_PAUSE_MS;
    for (;;) {
      const outcome = await this.round();
      if (outcome === 'done') return;
      if (outcome === 'more') {
        // A burst: drain it with every loop allowed.
        this.kick();
        pause = CONTENDED_PAUSE_MS;
        continue;
      }
      if (pause > this.settings.pollIntervalMs) return;
      await delay(pause);
      pause *= 2;
    }
  }

  /** Fires one batch. 'done': everything due at its database time is handled (or held elsewhere). */
  private async round(): Promise<'done' | 'more' | 'contended'> {
    if (this.stopped) return 'done';
    // The claim's now() is at least the database time now: the wheel's entries up to it are this
    // round's, out of the wheel while it runs (so it arms for the next); back if not covered.
    const taken = this.wheel.takeUntil(this.deps.clock.now() + this.offsetMs);
    // Breaches first (fire.ts CLAIM_SQL), and one loop kept for them: while the other loops claim
    // warnings (a burst of incidents reported late brings hundreds, ~100 ms per round of 500),
    // this one claims breaches only, so a breach coming due never waits for a loop to free up.
    const claimWarnings = this.warningClaimers < Math.max(1, this.settings.concurrency - 1);
    if (claimWarnings) this.warningClaimers += 1;
    else this.warningsMayWait = true;
    let result: FireRoundResult | null;
    try {
      result = await this.fireBatch(claimWarnings);
    } finally {
      if (claimWarnings) this.warningClaimers -= 1;
    }
    const coveredUntil = result?.dbNow ?? Number.NEGATIVE_INFINITY;
    for (const t of taken) if (t > coveredUntil) this.wheel.announce(t);
    // Failed: the poll retries.
    if (result === null) return 'done';
    this.record(result);
    // Everything due at result.dbNow was claimed by this round, an earlier one, or another
    // instance holding it; those wheel entries are done.
    this.wheel.dropUntil(result.dbNow);
    if (result.claimed > 0 && result.claimed === result.deferred) return 'contended';
    // Warnings that came due during a breaches-only round are this loop's to claim.
    const skippedWarnings = claimWarnings && this.warningsMayWait;
    if (skippedWarnings) this.warningsMayWait = false;
    return result.more || result.deferred > 0 || skippedWarnings ? 'more' : 'done';
  }

  /**
   * One firing transaction (fire.ts). Null when it failed: it rolled back, nothing fired, the rows
   * are due again. Failures are logged on the first and every 60th in a row, and on recovery.
   */
  private async fireBatch(claimWarnings: boolean): Promise<FireRoundResult | null> {
    let result: FireRoundResult;
    try {
      result = await fireDueTimers(this.deps.pool, {
        batchSize: this.settings.batchSize,
        claimWarnings,
        topics: this.settings.topics,
        asyncCommit: this.settings.asyncCommit,
      });
    } catch (err) {
      this.failures += 1;
      if (this.failures === 1 || this.failures % 60 === 0) {
        this.log.error(
          { err, failures: this.failures },
          'firing round failed; retrying at next poll',
        );
      }
      return null;
    }
    if (this.failures > 0) {
      this.log.info({ failures: this.failures }, 'firing rounds succeed again');
      this.failures = 0;
    }
    return result;
  }

  private record(result: FireRoundResult): void {
    const { metrics } = this.deps;
    for (const f of result.fired) {
      metrics.timersFired.inc({ kind: f.kind, outcome: 'emitted' });
      metrics.fireLateness.observe({ kind: f.kind }, Math.max(0, result.dbNow - f.dueAt) / 1000);
    }
    for (const s of result.skipped) metrics.timersFired.inc({ kind: s.kind, outcome: s.reason });
    for (const e of result.escalations) {
      metrics.automaticEscalations.inc();
      this.log.info(e, 'automatic escalation');
    }
    if (result.fired.length + result.skipped.length > 0) {
      this.log.debug(
        { fired: result.fired.length, skipped: result.skipped.length, deferred: result.deferred },
        'firing round',
      );
      this.deps.onRound?.(result);
    }
    metrics.wheelSize.set(this.wheel.size);
  }

  /** Arms one setTimeout at the earliest due time in the wheel (process clock = db clock − offset). */
  private arm(): void {
    if (this.stopped) return;
    const next = this.wheel.peek();
    if (next === undefined) return;
    const at = next - this.offsetMs;
    if (this.armed && this.armed.at <= at) return;
    this.disarm();
    // At least 1 ms: an entry still in the wheel was not due at the last claim's database time.
    const delay = Math.max(1, Math.ceil(at - this.deps.clock.now()));
    const timer = setTimeout(() => {
      this.armed = null;
      this.kick();
    }, delay);
    this.armed = { at, timer };
  }

  private disarm(): void {
    if (this.armed) clearTimeout(this.armed.timer);
    this.armed = null;
  }

  private onNotification(payload: string): void {
    if (this.stopped) return;
    if (payload === 'reload') {
      this.requestReload();
      return;
    }
    const dueTimes = parseDueTimes(payload);
    if (this.loading) this.announcedDuringLoad.push(...dueTimes);
    const dbNow = this.deps.clock.now() + this.offsetMs;
    let dueNow = false;
    for (const t of dueTimes) {
      // Already due (e.g. a deadline discovered late): fire now rather than via the wheel.
      if (t <= dbNow) dueNow = true;
      else this.wheel.announce(t);
    }
    if (dueNow) this.kick();
    else this.arm();
  }

  /**
   * A 'reload' notification (a statement wrote more than 200 timers due soon): reload the wheel,
   * at most every RELOAD_MIN_INTERVAL_MS, so a projector writing big batches back to back does not
   * turn every batch into a horizon-sized query. The poll covers the gap.
   */
  private requestReload(): void {
    if (this.stopped || this.reloadPending) return;
    const wait = this.lastReloadAt + RELOAD_MIN_INTERVAL_MS - this.deps.clock.now();
    if (wait <= 0) {
      void this.reloadWheel();
      return;
    }
    this.reloadPending = setTimeout(() => {
      this.reloadPending = undefined;
      void this.reloadWheel();
    }, wait);
  }

  /** Loads the due times of the next `horizonMs` (distinct, ascending) into the wheel. */
  private reloadWheel(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.loading ??= (async () => {
      this.lastReloadAt = this.deps.clock.now();
      try {
        const { dueTimes, until } = await loadWheelWindow(
          this.deps.pool,
          this.settings.horizonMs,
          this.settings.wheelMaxEntries,
          () => this.deps.clock.now() + this.offsetMs,
        );
        this.wheel.load(dueTimes, until);
        for (const t of this.announcedDuringLoad) this.wheel.announce(t);
        this.deps.metrics.wheelSize.set(this.wheel.size);
      } catch (err) {
        this.log.warn({ err }, 'loading the timer wheel failed; polling covers it');
      } finally {
        this.announcedDuringLoad = [];
        this.loading = null;
      }
      this.arm();
    })();
    return this.loading;
  }

  private async measureSkew(atStart: boolean): Promise<void> {
    try {
      const { offsetMs, rttMs } = await measureClockSkew(this.deps.pool, this.deps.clock);
      const changed = Math.abs(offsetMs - this.offsetMs) > 5;
      this.offsetMs = offsetMs;
      this.deps.metrics.clockSkew.set(offsetMs / 1000);
      const fields = { skewMs: Math.round(offsetMs * 10) / 10, rttMs };
      if (Math.abs(offsetMs) > 500) {
        this.log.warn(fields, 'database and process clocks differ; arming compensates');
      } else if (atStart || changed) {
        this.log.info(fields, 'database clock skew');
      }
    } catch (err) {
      if (atStart) throw err;
      this.log.warn({ err }, 'measuring clock skew failed');
    }
  }
}

/** A `sla_timers` notification (migrations/0004): due times in epoch ms, comma-separated. */
function parseDueTimes(payload: string): number[] {
  return payload.split(',').map(Number).filter(Number.isFinite);
}

/**
 * The distinct due times (epoch ms, ascending) of the timers due within `horizonMs` of the
 * database's now, at most `max`, and the instant up to which that list is complete: the last due
 * time when truncated, else now + `horizonMs` (the database's now when a row carried it, else
 * `dbNowFallback()`).
 */
async function loadWheelWindow(
  pool: Pool,
  horizonMs: number,
  max: number,
  dbNowFallback: () => number,
): Promise<{ dueTimes: number[]; until: number }> {
  const { rows } = await pool.query<{ ms: string; now_ms: string }>(
    `WITH due AS (
       SELECT DISTINCT ceil(extract(epoch FROM due_at) * 1000) AS ms
       FROM timers
       WHERE due_at <= now() + make_interval(secs => $1::float8 / 1000)
     )
     SELECT ms, ceil(extract(epoch FROM now()) * 1000) AS now_ms
     FROM due ORDER BY ms LIMIT $2`,
    [horizonMs, max],
  );
  const dueTimes = rows.map((r) => Number(r.ms));
  const until =
    rows.length >= max
      ? dueTimes[dueTimes.length - 1]!
      : (rows[0] ? Number(rows[0].now_ms) : dbNowFallback()) + horizonMs;
  return { dueTimes, until };
}
