import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPool, type Pool } from '../../../src/infra/db';
import { defaultMigrationsDir, migrate } from '../../../src/infra/migrate';

/** Each test gets its own schema, so the run's shared database is left as the other suites expect. */
describe('migrate', () => {
  let pool: Pool;
  const schema = `migrate_test_${process.pid}`;

  beforeAll(async () => {
    pool = createPool(process.env.DATABASE_URL!, { max: 4, options: `-c search_path=${schema}` });
    await pool.query(`CREATE SCHEMA ${schema}`);
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  });

  it('applies every migration once, even when two migrators start at the same moment', async () => {
    const [a, b] = await Promise.all([migrate(pool), migrate(pool)]);
    const applied = [...a.applied, ...b.applied];
    expect(applied.length).toBeGreaterThan(0);
    expect(new Set(applied).size).toBe(applied.length);
    expect((await migrate(pool)).applied).toEqual([]);
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM schema_migrations',
    );
    expect(rows[0]!.n).toBe(applied.length);
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
    await writeFile(path.join(dir, '0001_first.sql'), 'CREATE TABLE edited_later (id int);');
    const scratch = createPool(process.env.DATABASE_URL!, {
      max: 1,
      options: `-c search_path=${schema}_b`,
    });
    await scratch.query(`CREATE SCHEMA ${schema}_b`);
    try {
      await migrate(scratch, undefined, dir);
      await writeFile(path.join(dir, '0001_first.sql'), 'CREATE TABLE edited_later (id bigint);');
      await expect(migrate(scratch, undefined, dir)).rejects.toThrow(/0001_first.sql was changed/);
    } finally {
      await scratch.query(`DROP SCHEMA ${schema}_b CASCADE`);
      await scratch.end();
    }
  });

  it('rolls back a failing file whole and reports which one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
    await writeFile(
      path.join(dir, '0001_bad.sql'),
      'CREATE TABLE half_done (id int); SELECT no_such_function();',
    );
    const scratch = createPool(process.env.DATABASE_URL!, {
      max: 1,
      options: `-c search_path=${schema}_c`,
    });
    await scratch.query(`CREATE SCHEMA ${schema}_c`);
    try {
      await expect(migrate(scratch, undefined, dir)).rejects.toThrow(/0001_bad.sql failed/);
      const { rows } = await scratch.query(`SELECT to_regclass('${schema}_c.half_done') AS t`);
      expect(rows[0].t).toBeNull();
    } finally {
      await scratch.query(`DROP SCHEMA ${schema}_c CASCADE`);
      await scratch.end();
    }
  });

  it('reads the project migrations folder', () => {
    expect(defaultMigrationsDir).toMatch(/migrations$/);
  });
});
