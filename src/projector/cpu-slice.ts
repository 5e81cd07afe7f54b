/**
 * Cooperative yielding for long synchronous work on the event loop (issue 12 §2). The projector
 * evaluates a whole batch (up to hundreds of incidents) in the process that also serves HTTP and
 * fires timers; evaluated in one go, a 500-event batch held the loop for hundreds of ms, so
 * timers fired late and the API shed load (503 when the loop lags past
 * LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS). `pause()` between units of work yields once the current
 * slice has run `sliceMs`, so no slice is much longer than that plus one unit.
 */
export class CpuSlice {
  private started = performance.now();

  /** @param sliceMs longest run between yields, ms (10 by default: a timer is that late at most). */
  constructor(private readonly sliceMs = 10) {}

  /** Resolves at once while the slice lasts; otherwise after one turn of the event loop. */
  pause(): Promise<void> | undefined {
    if (performance.now() - this.started < this.sliceMs) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        this.started = performance.now();
        resolve();
      }),
    );
  }
}
