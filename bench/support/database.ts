import { createPool, ensureDatabase, quoteIdent } from '../../src/infra/db';

const BASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  name: string;
  url: string;
  /** Drops the database (connections are terminated); BENCH_KEEP_DB=1 keeps it and says so. */
  drop(): Promise<void>;
}

/**
 * A database of its own for one bench run, created now: `<BENCH_DB_PREFIX><kind>_<tag>` (prefix
 * `sla_bench_` by default, tag from the clock), so runs on a shared Postgres never touch each
 * other's data, and nothing is left behind once `drop()` ran.
 */
export async function createBenchDatabase(kind: string): Promise<BenchDatabase> {
  const prefix = process.env.BENCH_DB_PREFIX ?? 'sla_bench_';
  const name = `${prefix}${kind}_${Date.now().toString(36)}`;
  const url = new URL(BASE_URL);
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  return {
    name,
    url: url.toString(),
    async drop() {
      if (process.env.BENCH_KEEP_DB) {
        process.stdout.write(`kept database ${name}\n`);
        return;
      }
      const admin = createPool(BASE_URL, { max: 1 });
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}
