/**
 * Table `policies` (migrations 0001, 0005): immutable SLA policy versions, numbered 1, 2, … per
 * policy id. Written by the admin API (application/policy-versions.ts) and at start-up for the
 * configured default (application/policy-store.ts), which also loads and caches documents; read
 * by the projector (which versions exist) and the read API (list, versions of one policy).
 */
import type { Statement } from './sql';

/**
 * Serializes version numbering per policy id (a transaction-scoped advisory lock), also for an
 * id that has no row to lock yet. Every writer takes it before reading the latest version.
 */
export function lockPolicyNumbering(policyId: string): Statement {
  return { text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [`policy:${policyId}`] };
}

/** A stored document with its key (PolicyDocumentRow). */
export interface PolicyDocumentRow {
  policy_id: string;
  version: number;
  document: unknown;
}

/** The latest version of a policy as PolicyDocumentRow (no row: none stored). */
export function latestPolicyVersion(policyId: string): Statement {
  return {
    text: `SELECT policy_id, version, document FROM policies
       WHERE policy_id = $1 ORDER BY version DESC LIMIT 1`,
    values: [policyId],
  };
}

/** Every stored (policy_id, version). */
export const POLICY_KEYS: Statement = {
  text: 'SELECT policy_id, version FROM policies',
  values: [],
};

/** The documents of these (policy id, version) keys, as PolicyDocumentRow. */
export function policyDocuments(keys: readonly { policyId: string; version: number }[]): Statement {
  return {
    text: `SELECT p.policy_id, p.version, p.document FROM policies p
       JOIN unnest($1::text[], $2::int[]) AS k(id, v) ON p.policy_id = k.id AND p.version = k.v`,
    values: [keys.map((k) => k.policyId), keys.map((k) => k.version)],
  };
}

/** Stores a version (the caller holds lockPolicyNumbering); RETURNING it as PolicyRow. */
export function policyInsert(
  policyId: string,
  version: number,
  document: unknown,
  createdBy: string | null,
): Statement {
  return {
    text: `INSERT INTO policies (policy_id, version, document, created_by)
       VALUES ($1, $2, $3, $4)
       RETURNING policy_id, version, document, created_at, created_by`,
    values: [policyId, version, JSON.stringify(document), createdBy],
  };
}

/** A JSON array of every stored (policy_id, version). */
export const POLICY_VERSIONS = `(SELECT coalesce(json_agg(json_build_array(policy_id, version)), '[]')
  FROM policies)`;

export type PolicyVersionTuple = [string, number];

export function policyVersionKeys(
  tuples: PolicyVersionTuple[],
): { policyId: string; version: number }[] {
  return tuples.map(([policyId, version]) => ({ policyId, version }));
}

export interface PolicySummaryRecord {
  policy_id: string;
  name: string | null;
  versions: number[];
  updated_at: Date;
}

/** Every policy with its versions, its latest name and when its latest version was created. */
export const POLICY_LIST: Statement = {
  text: `SELECT policy_id, array_agg(version ORDER BY version) AS versions,
            (array_agg(document->>'name' ORDER BY version DESC))[1] AS name,
            max(created_at) AS updated_at
     FROM policies GROUP BY policy_id ORDER BY policy_id`,
  values: [],
};

export interface PolicyRow {
  policy_id: string;
  version: number;
  document: Record<string, unknown>;
  created_at: Date;
  created_by: string | null;
}

/** Every version of one policy, oldest first, as PolicyRow. */
export function policyVersionsOf(policyId: string): Statement {
  return {
    text: `SELECT policy_id, version, document, created_at, created_by
       FROM policies WHERE policy_id = $1 ORDER BY version`,
    values: [policyId],
  };
}
