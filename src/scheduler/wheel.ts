/**
 * The near future in memory: the due times (epoch ms, database clock) of the timers due within the
 * horizon, so the runner can wake exactly when the next one is due instead of at the next poll.
 *
 * This is only a latency hint (STYLE.md: "Postgres decides what is due"). An entry says "look at
 * this moment"; it carries no timer identity. A stale entry (the timer was re-planned or deleted)
 * costs one empty claim; a missing entry costs at most one poll interval. Duplicates are harmless
 * and dropped when popped.
 */
export class DueTimeWheel {
  private heap: number[] = [];
  /**
   * Every timer due at or before this instant was known when the wheel was loaded (or announced
   * since by NOTIFY). Entries later than it are not kept: the next load will bring them.
   */
  private loadedUntil = Number.NEGATIVE_INFINITY;

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.heap.length;
  }

  get horizon(): number {
    return this.loadedUntil;
  }

  /** Replaces the content with a fresh load covering due times up to `until`. */
  load(dueTimes: readonly number[], until: number): void {
    this.heap = [];
    for (const t of dueTimes) this.push(t);
    this.loadedUntil = until;
  }

  /** Adds an announced due time if it falls inside the loaded horizon (else the next load has it). */
  announce(dueAt: number): boolean {
    if (dueAt > this.loadedUntil) return false;
    if (this.heap.length >= this.maxEntries) {
      // Full: shrink the horizon rather than drop a timer silently; the next load covers the rest.
      this.loadedUntil = Math.min(this.loadedUntil, dueAt - 1);
      return false;
    }
    this.push(dueAt);
    return true;
  }

  /** Forgets the horizon: the next load starts over (e.g. after a missed notification). */
  invalidate(): void {
    this.loadedUntil = Number.NEGATIVE_INFINITY;
  }

  peek(): number | undefined {
    return this.heap[0];
  }

  /** Removes every entry at or before `t` (they were handled by a claim at database time `t`). */
  dropUntil(t: number): void {
    this.takeUntil(t);
  }

  /** Removes and returns (ascending) every entry at or before `t`. */
  takeUntil(t: number): number[] {
    const taken: number[] = [];
    while (this.heap.length > 0 && this.heap[0]! <= t) {
      taken.push(this.heap[0]!);
      this.pop();
    }
    return taken;
  }

  private push(value: number): void {
    const h = this.heap;
    h.push(value);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= value) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = value;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= h.length) break;
      const right = left + 1;
      const child = right < h.length && h[right]! < h[left]! ? right : left;
      if (h[child]! >= last) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
  }
}
