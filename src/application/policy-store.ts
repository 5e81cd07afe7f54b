/**
 * SLA policies as stored data (SPEC §2: "policies are data, not code").
 *
 * - The configured default policy is the built-in SPEC §2 policy, or the document in POLICY_FILE
 *   (parsed with the same zod schema as every policy document). `ensureDefault` stores it in
 *   `policies` when it is not already the latest version there; a changed document becomes a new
 *   version that applies to incidents reported from then on (`effectiveFrom` is never in the
 *   past), so an incident keeps the version it was reported under, also on replay.
 * - Versions are immutable, so parsed versions are cached forever; `all()` costs one tiny query to
 *   learn whether versions were added (by another process, e.g. the admin API) and parses only
 *   those.
 */
import { readFile } from 'node:fs/promises';
import { canonicalJson } from '../contracts/events';
import { parsePolicy, parsePolicyOrThrow, policyToDocument } from '../contracts/policy';
import { DEFAULT_POLICY, DEFAULT_POLICY_ID, type Policy } from '../domain';
import { withTransaction, type Pool, type PoolClient } from '../infra/db';
import type { Logger } from '../infra/logger';
import {
  latestPolicyVersion,
  lockPolicyNumbering,
  POLICY_KEYS,
  policyDocuments,
  policyInsert,
  type PolicyDocumentRow,
} from '../tables/policies';

type Queryable = Pool | PoolClient;

export interface PolicyStore {
  /** The configured default policy (POLICY_FILE or the built-in one), as configured. */
  readonly configured: Policy;
  /**
   * Makes the configured default the latest stored version of its id, creating version 1 or a
   * new version when the document changed. Returns the stored version. Safe to run concurrently.
   */
  ensureDefault(now: number): Promise<Policy>;
  /** Every stored version of every policy (cached; new versions are picked up on each call). */
  all(q?: Queryable): Promise<readonly Policy[]>;
  /**
   * The parsed versions for these stored keys (e.g. read in the caller's own query), fetching
   * only documents not cached yet. Invalid documents are left out.
   */
  resolve(
    keys: readonly { policyId: string; version: number }[],
    q?: Queryable,
  ): Promise<readonly Policy[]>;
  /** One stored version, or undefined. */
  get(policyId: string, version: number, q?: Queryable): Promise<Policy | undefined>;
}

/** Reads the default policy: POLICY_FILE when set (its `id` must be "default" or absent). */
export async function loadConfiguredPolicy(policyFile?: string): Promise<Policy> {
  if (!policyFile) return DEFAULT_POLICY;
  const text = await readFile(policyFile, 'utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`POLICY_FILE ${policyFile}: not JSON: ${(err as Error).message}`);
  }
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
    const d = doc as Record<string, unknown>;
    if (d.id === undefined) d.id = DEFAULT_POLICY_ID;
    if (d.version === undefined) d.version = 1;
    if (d.id !== DEFAULT_POLICY_ID) {
      throw new Error(
        `POLICY_FILE ${policyFile}: id must be "${DEFAULT_POLICY_ID}" (the file replaces the default policy)`,
      );
    }
  }
  try {
    return parsePolicyOrThrow(doc);
  } catch (err) {
    throw new Error(`POLICY_FILE ${policyFile}: ${(err as Error).message}`, { cause: err });
  }
}

export function createPolicyStore(pool: Pool, configured: Policy, log?: Logger): PolicyStore {
  const cache = new Map<string, Policy>();
  const cacheKey = (id: string, version: number) => `${id}\u0000${version}`;

  function parseRow(row: { policy_id: string; version: number; document: unknown }): Policy | null {
    const parsed = parsePolicy(row.document);
    if (!parsed.ok) {
      // A stored document that no longer parses must not stop projection: incidents fall back
      // to the default policy, and the problem is loud in the log.
      log?.error(
        {
          component: 'policy-store',
          policyId: row.policy_id,
          version: row.version,
          errors: parsed.errors,
        },
        'stored policy document is invalid; ignored',
      );
      return null;
    }
    // The row's key is the truth, whatever the document says.
    return { ...parsed.policy, id: row.policy_id, version: row.version };
  }

  async function all(q: Queryable = pool): Promise<readonly Policy[]> {
    const { rows } = await q.query<{ policy_id: string; version: number }>(
      POLICY_KEYS.text,
      POLICY_KEYS.values,
    );
    return resolve(
      rows.map((r) => ({ policyId: r.policy_id, version: r.version })),
      q,
    );
  }

  async function resolve(
    keys: readonly { policyId: string; version: number }[],
    q: Queryable = pool,
  ): Promise<readonly Policy[]> {
    const missing = keys.filter((k) => !cache.has(cacheKey(k.policyId, k.version)));
    if (missing.length > 0) {
      const stmt = policyDocuments(missing);
      const { rows: docs } = await q.query<PolicyDocumentRow>(stmt.text, stmt.values);
      for (const row of docs) {
        const policy = parseRow(row);
        if (policy) cache.set(cacheKey(row.policy_id, row.version), policy);
      }
    }
    return keys.flatMap((k) => {
      const p = cache.get(cacheKey(k.policyId, k.version));
      return p ? [p] : [];
    });
  }

  async function get(
    policyId: string,
    version: number,
    q: Queryable = pool,
  ): Promise<Policy | undefined> {
    const hit = cache.get(cacheKey(policyId, version));
    if (hit) return hit;
    const stmt = policyDocuments([{ policyId, version }]);
    const { rows } = await q.query<PolicyDocumentRow>(stmt.text, stmt.values);
    const row = rows[0];
    const policy = row ? parseRow(row) : null;
    if (policy) cache.set(cacheKey(policyId, version), policy);
    return policy ?? undefined;
  }

  async function ensureDefault(now: number): Promise<Policy> {
    const { policy, stored } = await withTransaction(pool, async (client) => {
      // The same lock the admin API takes to number versions (application/policy-versions.ts).
      const lock = lockPolicyNumbering(configured.id);
      await client.query(lock.text, lock.values);
      const latestStmt = latestPolicyVersion(configured.id);
      const { rows } = await client.query<PolicyDocumentRow>(latestStmt.text, latestStmt.values);
      const latestRow = rows[0];
      const latest = latestRow ? parseRow(latestRow) : null;
      if (latest && sameRules(latest, configured)) return { policy: latest, stored: false };
      const version = (latestRow?.version ?? 0) + 1;
      const next: Policy = {
        ...configured,
        version,
        // Version 1 keeps its own start (the built-in default applies since 1970); a later one
        // must not reach back to incidents already reported under the previous version.
        effectiveFrom:
          version === 1 ? configured.effectiveFrom : Math.max(configured.effectiveFrom, now),
      };
      const insert = policyInsert(next.id, version, policyToDocument(next), 'config');
      await client.query(insert.text, insert.values);
      return { policy: next, stored: true };
    });
    if (stored) {
      // Cached once committed, as before.
      cache.set(cacheKey(policy.id, policy.version), policy);
      log?.info(
        { component: 'policy-store', policyId: policy.id, version: policy.version },
        'default policy stored',
      );
    }
    return policy;
  }

  return { configured, ensureDefault, all, resolve, get };
}

/** Same rules, whatever the version number and start (those are assigned when storing). */
function sameRules(a: Policy, b: Policy): boolean {
  const rules = (p: Policy) => {
    const { version: _v, effectiveFrom: _e, ...rest } = policyToDocument(p);
    return canonicalJson(rest);
  };
  return rules(a) === rules(b);
}
