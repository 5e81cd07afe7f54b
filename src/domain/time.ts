/**
 * Time inside the domain is epoch milliseconds (plain numbers). ISO strings exist only at the
 * edges; these helpers are the one place that converts. The domain never reads the clock: every
 * function that needs "now" takes it as an argument.
 */
import { DateTime } from 'luxon';

export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Zone used to render times for people when nothing else is known (the seed customer is in China). */
export const DEFAULT_ZONE = 'Asia/Shanghai';

/** ISO-8601 instant with an offset (e.g. a CloudEvent `time`) → epoch ms; null if not a valid instant. */
export function parseInstant(iso: string): number | null {
  const dt = DateTime.fromISO(iso, { setZone: true });
  return dt.isValid ? dt.toMillis() : null;
}

/** Epoch ms → ISO-8601 with the zone's offset, millisecond precision (e.g. 2026-11-24T10:00:00.000+08:00). */
export function formatInstant(ms: number, zone: string = DEFAULT_ZONE): string {
  const iso = DateTime.fromMillis(ms, { zone }).toISO();
  if (iso === null) throw new RangeError(`cannot format ${ms} in zone ${zone}`);
  return iso;
}
