import type { Pool } from './db';

/**
 * Is autovacuum running for this database? Off means the dead rows the service leaves behind
 * (timers deleted when fired or re-planned, the outbox queue, the trimmed live feed, rewritten
 * read-model rows) are never reclaimed and the database grows for ever: README "Storage" says what
 * an operator must run instead. Off when the server setting `autovacuum` or `track_counts` is off,
 * or when one of our tables has `autovacuum_enabled = false`.
 *
 * Resolves to null when autovacuum is on, else to one line saying why it is off and what to do.
 * Rejects when Postgres cannot be asked.
 */
export async function autovacuumOff(pool: Pool): Promise<string | null> {
  const { rows } = await pool.query<{ autovacuum: string; track_counts: string; tables: string[] }>(
    `SELECT current_setting('autovacuum') AS autovacuum,
            current_setting('track_counts') AS track_counts,
            ARRAY(SELECT c.relname::text FROM pg_class c
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = current_schema() AND c.relkind = 'r'
                    AND c.reloptions @> ARRAY['autovacuum_enabled=false']
                  ORDER BY 1) AS tables`,
  );
  const r = rows[0]!;
  const why =
    r.autovacuum !== 'on'
      ? 'autovacuum is off on this Postgres server'
      : r.track_counts !== 'on'
        ? 'track_counts is off on this Postgres server (autovacuum needs it)'
        : r.tables.length > 0
          ? `autovacuum is disabled for table(s) ${r.tables.join(', ')}`
          : null;
  return why === null
    ? null
    : `${why}: dead rows are never reclaimed and the database grows without bound; ` +
        'turn autovacuum on or schedule VACUUM (README "Storage")';
}

/**
 * An advisory readiness check (never fails readiness): asks Postgres at most once a minute and
 * keeps the last answer while Postgres cannot be asked (the postgres check reports that).
 */
export function autovacuumAdvisory(pool: Pool, refreshMs = 60_000): () => Promise<string | null> {
  let last: string | null = null;
  let askedAt = -Infinity;
  return async () => {
    if (performance.now() - askedAt >= refreshMs) {
      try {
        last = await autovacuumOff(pool);
        askedAt = performance.now();
      } catch {
        // Postgres unreachable: the postgres readiness check says so; keep the last answer.
      }
    }
    return last;
  };
}
