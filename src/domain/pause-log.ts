/**
 * When an incident's pausable clocks stood still, and what that does to a clock's arithmetic.
 * Pause and resume are a switch, not a counter: a second pause and a stray resume change nothing.
 * Times are epoch ms; "working" time is measured on the policy calendar, "wall" time is plain ms.
 * Used by the fold of evaluate.ts for milestones whose rule is `pausable`.
 */
import type { Calendar } from './calendar';

export class PauseLog {
  /** Closed pause intervals as [from0, to0, from1, to1, …], ascending. */
  private readonly closed: number[] = [];
  private openSince: number | null = null;

  /** Start of the pause in force, or null while the clocks run. */
  get since(): number | null {
    return this.openSince;
  }

  pause(t: number): void {
    if (this.openSince === null) this.openSince = t;
  }

  resume(t: number): void {
    if (this.openSince === null) return;
    this.closed.push(this.openSince, t);
    this.openSince = null;
  }

  /**
   * The earliest instant at which `work` working ms have elapsed on a clock started at `start`,
   * skipping pauses that begin before `until`. Null if the clock is paused before reaching it
   * (the instant is not known yet).
   */
  reach(cal: Calendar, start: number, work: number, until: number): number | null {
    let cursor = start;
    let remaining = work;
    const p = this.closed;
    for (let i = 0; i < p.length; i += 2) {
      const from = p[i]!;
      const to = p[i + 1]!;
      if (from >= until) break;
      if (to <= cursor) continue;
      if (from > cursor) {
        const w = cal.between(cursor, from);
        if (w >= remaining) return cal.add(cursor, remaining);
        remaining -= w;
      }
      cursor = to;
    }
    const since = this.openSince;
    if (since !== null && since < until) {
      if (since > cursor) {
        const w = cal.between(cursor, since);
        if (w >= remaining) return cal.add(cursor, remaining);
      }
      return null;
    }
    return cal.add(cursor, remaining);
  }

  /** Working ms paused between `start` and `end`. */
  workBetween(cal: Calendar, start: number, end: number): number {
    let sum = 0;
    const p = this.closed;
    for (let i = 0; i < p.length; i += 2) {
      sum += cal.between(Math.max(p[i]!, start), Math.min(p[i + 1]!, end));
    }
    if (this.openSince !== null) sum += cal.between(Math.max(this.openSince, start), end);
    return sum;
  }

  /** Wall ms paused in [from, end). */
  wallBetween(from: number, end: number): number {
    let sum = 0;
    const p = this.closed;
    for (let i = 0; i < p.length; i += 2) {
      const a = p[i]! > from ? p[i]! : from;
      const b = p[i + 1]! < end ? p[i + 1]! : end;
      if (b > a) sum += b - a;
    }
    const since = this.openSince;
    if (since !== null) {
      const a = since > from ? since : from;
      if (end > a) sum += end - a;
    }
    return sum;
  }
}
