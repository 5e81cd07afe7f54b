/**
 * Table `policies` (migrations 0001, 0005): immutable SLA policy versions. Read here by the
 * projector (which versions exist) and the read API (list, versions of one policy). Creating a
 * version and loading documents are application/policy-versions.ts and policy-store.ts.
 */
import type { Statement } from './sql';

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
