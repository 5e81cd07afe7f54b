/** The passage of time is an input (STYLE.md): application code takes a Clock, tests pass their own. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
