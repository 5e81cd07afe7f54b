/**
 * Creating a policy version (POST /v1/policies/{id}/versions, admin). Versions are immutable and
 * numbered 1, 2, …; a new version applies to incidents reported at or after its `effectiveFrom`,
 * which therefore may not lie in the past: an incident keeps the version it was reported under
 * (SPEC §2), also when the projector replays it.
 */
import { parsePolicy } from '../contracts/policy';
import { AppError, ValidationError } from '../errors';
import { withTransaction, type Pool } from '../infra/db';
import {
  latestPolicyVersion,
  lockPolicyNumbering,
  policyInsert,
  type PolicyDocumentRow,
  type PolicyRow,
} from '../tables/policies';
import { policyVersionView } from './queries';
import type { PolicyVersion } from '../contracts/read';

/** The document names a version other than the next one (someone else created it meanwhile). */
export class VersionConflictError extends AppError {
  constructor(message: string) {
    super('version_conflict', message);
  }
}

export async function createPolicyVersion(
  pool: Pool,
  policyId: string,
  body: unknown,
  createdBy: string | null,
  now: number,
): Promise<PolicyVersion> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('the body must be a policy document (a JSON object)', [
      { path: '', message: 'expected an object' },
    ]);
  }
  const doc: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  if (doc.id === undefined) doc.id = policyId;
  if (doc.id !== policyId) {
    throw fieldError('id', `must be the policy id in the URL (${JSON.stringify(policyId)})`);
  }
  const effectiveGiven = doc.effectiveFrom !== undefined;
  if (!effectiveGiven) doc.effectiveFrom = new Date(now).toISOString();

  return withTransaction(pool, async (client) => {
    const lock = lockPolicyNumbering(policyId);
    await client.query(lock.text, lock.values);
    const latest = latestPolicyVersion(policyId);
    const { rows } = await client.query<PolicyDocumentRow>(latest.text, latest.values);
    const next = (rows[0]?.version ?? 0) + 1;
    if (doc.version === undefined) doc.version = next;
    else if (doc.version !== next) {
      throw new VersionConflictError(
        `version ${JSON.stringify(doc.version)} cannot be created: the next version of ` +
          `${JSON.stringify(policyId)} is ${next}`,
      );
    }

    const parsed = parsePolicy(doc);
    if (!parsed.ok) {
      throw new ValidationError(
        `invalid policy document: ${parsed.errors.map((e) => `${e.path || '(document)'}: ${e.message}`).join('; ')}`,
        parsed.errors.map((e) => ({ path: e.path, message: e.message })),
      );
    }
    if (effectiveGiven && parsed.policy.effectiveFrom < now) {
      throw fieldError(
        'effectiveFrom',
        'must not be in the past: incidents already reported keep the version they were reported under',
      );
    }

    const insert = policyInsert(policyId, next, doc, createdBy);
    const inserted = await client.query<PolicyRow>(insert.text, insert.values);
    return policyVersionView(inserted.rows[0]!);
  });
}

function fieldError(path: string, message: string): ValidationError {
  return new ValidationError(`invalid policy document: ${path}: ${message}`, [{ path, message }]);
}
