/**
 * PolicyStore (issue 6 §10): the configured default policy is stored as version 1, stored again
 * only when its rules change (as a new version that never starts in the past), read back and
 * cached; POLICY_FILE is parsed with the policy schema.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPolicyStore, loadConfiguredPolicy } from '../../src/application/policy-store';
import { policyToDocument } from '../../src/contracts/policy';
import { DEFAULT_POLICY, type Policy } from '../../src/domain';
import { ownDatabase, type OwnDatabase } from './fixtures/projector-data';

let db: OwnDatabase;

beforeAll(async () => {
  db = await ownDatabase('policystore', 4);
});

afterAll(async () => {
  await db?.drop();
});

const versions = async () =>
  (
    await db.pool.query<{
      version: number;
      created_by: string;
      document: { effectiveFrom: string };
    }>(
      `SELECT version, created_by, document FROM policies WHERE policy_id = 'default' ORDER BY version`,
    )
  ).rows;

test('stores the default once, a changed document as a new version from now on', async () => {
  const store = createPolicyStore(db.pool, DEFAULT_POLICY);
  const v1 = await store.ensureDefault(Date.now());
  expect(v1).toMatchObject({ id: 'default', version: 1, effectiveFrom: 0 });
  // Concurrent starts store it once.
  await Promise.all(
    [1, 2, 3].map(() => createPolicyStore(db.pool, DEFAULT_POLICY).ensureDefault(Date.now())),
  );
  expect((await versions()).map((v) => v.version)).toEqual([1]);

  const stricter: Policy = {
    ...DEFAULT_POLICY,
    milestones: DEFAULT_POLICY.milestones.map((m) =>
      m.id === 'response' ? { ...m, limits: { ...m.limits, I: 3 * 60_000 } } : m,
    ),
  };
  const now = Date.now();
  const v2 = await createPolicyStore(db.pool, stricter).ensureDefault(now);
  expect(v2.version).toBe(2);
  expect(v2.effectiveFrom).toBe(now);
  const stored = await versions();
  expect(stored.map((v) => v.version)).toEqual([1, 2]);
  expect(Date.parse(stored[1]!.document.effectiveFrom)).toBe(now);
  expect(stored[1]!.created_by).toBe('config');
  // The same rules again: nothing new.
  expect((await createPolicyStore(db.pool, stricter).ensureDefault(now + 1000)).version).toBe(2);

  // Reading: every version, parsed; one version by key; later versions picked up by all().
  const reader = createPolicyStore(db.pool, DEFAULT_POLICY);
  const all = await reader.all();
  expect(all.map((p) => `${p.id}@${p.version}`).sort()).toEqual(['default@1', 'default@2']);
  expect(
    (await reader.get('default', 2))?.milestones.find((m) => m.id === 'response')?.limits.I,
  ).toBe(3 * 60_000);
  expect(await reader.get('default', 9)).toBeUndefined();
  await db.pool.query(`INSERT INTO policies (policy_id, version, document) VALUES ('vip', 1, $1)`, [
    JSON.stringify(policyToDocument({ ...DEFAULT_POLICY, id: 'vip', version: 1 })),
  ]);
  expect((await reader.all()).map((p) => p.id)).toContain('vip');
});

test('POLICY_FILE: parsed with the policy schema; its id must be "default"', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'policy-'));
  const file = path.join(dir, 'policy.json');
  const doc = policyToDocument(DEFAULT_POLICY) as Record<string, unknown>;
  delete doc.id;
  writeFileSync(file, JSON.stringify(doc));
  expect((await loadConfiguredPolicy(file)).id).toBe('default');
  writeFileSync(file, JSON.stringify({ ...doc, id: 'other' }));
  await expect(loadConfiguredPolicy(file)).rejects.toThrow(/id must be "default"/);
  writeFileSync(
    file,
    JSON.stringify({ ...doc, milestones: { response: { metBy: 'incident.acknowledged' } } }),
  );
  await expect(loadConfiguredPolicy(file)).rejects.toThrow(/milestones\.response/);
  writeFileSync(file, '{ not json');
  await expect(loadConfiguredPolicy(file)).rejects.toThrow(/not JSON/);
  expect(await loadConfiguredPolicy(undefined)).toBe(DEFAULT_POLICY);
});
