import type { Pool } from '../infra/db';
import type { Clock } from '../infra/clock';

export interface SkewSample {
  /** Database clock minus process clock, in ms (positive: the database is ahead). */
  offsetMs: number;
  /** Round trip of the best sample: the offset is known to ±rtt/2. */
  rttMs: number;
}

/**
 * Estimates the offset between the database clock (which decides what is due) and the process
 * clock (which arms setTimeout), NTP-style: the database time is assumed to be read halfway through
 * the round trip; the sample with the shortest round trip wins (pg-boss `timekeeper.ts` does one
 * sample; several make the estimate robust to a busy moment).
 */
export async function measureClockSkew(pool: Pool, clock: Clock, samples = 5): Promise<SkewSample> {
  const client = await pool.connect();
  try {
    let best: SkewSample | undefined;
    for (let i = 0; i < samples; i += 1) {
      const sent = clock.now();
      const { rows } = await client.query<{ ms: number }>(
        'SELECT extract(epoch FROM clock_timestamp()) * 1000 AS ms',
      );
      const received = clock.now();
      const rttMs = received - sent;
      const offsetMs = Number(rows[0]!.ms) - (sent + received) / 2;
      if (best === undefined || rttMs < best.rttMs) best = { offsetMs, rttMs };
    }
    return best!;
  } finally {
    client.release();
  }
}
