/**
 * The report issuer (part of the scheduler role): checks at start, then sleeps until the next
 * month's issue time (at most an hour at a time, so a clock jump or a lost race is caught within
 * the hour), and issues what is due (src/application/report-issue.ts). Postgres holds what was
 * issued; this timer is only when to look again. The relay publishes the event from the outbox.
 */
import { Counter, type Registry } from 'prom-client';
import { issueDueReports, type ReportIssueSettings } from '../application/report-issue';
import type { Service } from '../application/roles';
import type { IssuedMonthlyReport } from '../contracts/report-issue';
import { nextIssueTime } from '../domain/report-issue';
import type { Clock } from '../infra/clock';
import type { Pool } from '../infra/db';
import type { Logger } from '../infra/logger';

/** Longest sleep between checks. */
const MAX_SLEEP_MS = 3_600_000;
/** After a failure, or while another instance holds the issuer lock. */
const RETRY_MS = 60_000;
/**
 * Before the first issue, while the closed month has no records yet: history imported now (events
 * up to INGEST_MAX_EVENT_AGE_MS old) is issued within seconds, not at the next hourly check.
 */
const AWAITING_RECORDS_MS = 15_000;

export class ReportIssuer implements Service {
  readonly name = 'reportIssuer';
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> = Promise.resolve();

  private readonly issuedTotal: Counter;
  private readonly failuresTotal: Counter;

  constructor(
    private readonly deps: { pool: Pool; clock: Clock; log: Logger; metrics: Registry },
    private readonly settings: ReportIssueSettings,
  ) {
    const registers = [deps.metrics];
    this.issuedTotal = new Counter({
      name: 'sla_reports_issued_total',
      help: 'Monthly reports issued (snapshot and report.monthly_issued written) by this process',
      registers,
    });
    this.failuresTotal = new Counter({
      name: 'sla_report_issue_failures_total',
      help: 'Checks of the report issuer that failed (retried a minute later)',
      registers,
    });
  }

  /** Starts the first check at once (not awaited: a start never waits for a report). */
  async start(): Promise<void> {
    this.stopped = false;
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
  }

  /** Resolves when the check in progress (if any) has finished (tests, start-up ordering). */
  settled(): Promise<void> {
    return this.round;
  }

  private run(): void {
    this.round = this.check().then((nextMs) => {
      if (!this.stopped) this.timer = setTimeout(() => this.run(), nextMs);
    });
  }

  /** One check; resolves with the delay until the next one. */
  private async check(): Promise<number> {
    const { pool, clock, log } = this.deps;
    try {
      const outcome = await issueDueReports(pool, clock.now(), this.settings);
      if (outcome === null) return RETRY_MS;
      for (const r of outcome.issued) logIssued(log, r);
      this.issuedTotal.inc(outcome.issued.length);
      if (outcome.awaitingRecords) return AWAITING_RECORDS_MS;
      const now = clock.now();
      return Math.min(MAX_SLEEP_MS, Math.max(0, nextIssueTime(now, this.settings) - now));
    } catch (err) {
      this.failuresTotal.inc();
      log.error({ err, component: 'reportIssuer' }, 'issuing the monthly report failed; retrying');
      return RETRY_MS;
    }
  }
}

function logIssued(log: Logger, r: IssuedMonthlyReport): void {
  log.info(
    {
      component: 'reportIssuer',
      month: r.month,
      digest: r.digest,
      corrections: r.corrections.map((c) => c.month),
    },
    'monthly report issued',
  );
}
