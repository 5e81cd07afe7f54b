/**
 * The autovacuum warning (issue 12 item 5): the service says so, at start and in /readyz, when
 * dead rows would never be reclaimed. Against the run's real Postgres, whichever way it is set up
 * (the shared development machine runs with autovacuum off; a stock server has it on).
 */
import { autovacuumOff } from '../../../src/infra/autovacuum';
import { ownDatabase, type OwnDatabase } from '../../helpers/infra';

let db: OwnDatabase;

beforeAll(async () => {
  db = await ownDatabase('autovacuum');
}, 60_000);

afterAll(async () => {
  await db?.drop();
});

it('names the server setting, or the table whose autovacuum is disabled', async () => {
  const { rows } = await db.pool.query<{ on: string }>(
    "SELECT current_setting('autovacuum') = 'on' AND current_setting('track_counts') = 'on' AS on",
  );
  if (rows[0]!.on) {
    await expect(autovacuumOff(db.pool)).resolves.toBeNull();
    await db.pool.query('ALTER TABLE timers SET (autovacuum_enabled = false)');
    await expect(autovacuumOff(db.pool)).resolves.toMatch(
      /^autovacuum is disabled for table\(s\) timers: .*README "Storage"/,
    );
  } else {
    await expect(autovacuumOff(db.pool)).resolves.toMatch(
      /^(autovacuum|track_counts) is off on this Postgres server.*schedule VACUUM/,
    );
  }
});
