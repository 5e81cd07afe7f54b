/**
 * The JSON form of an SLA policy and its zod parser into the domain `Policy`. Durations are
 * ISO-8601 ('PT5M'), instants ISO-8601 with offset, local times 'HH:mm', dates 'YYYY-MM-DD'.
 * A bad document is rejected with the path of every bad field (e.g. `milestones.response.limits.II`).
 */
import { z } from 'zod';
import type { Policy } from '../domain';

export type PolicyParseResult =
  | { ok: true; policy: Policy }
  | { ok: false; errors: { path: string; message: string }[] };

/** Parses and validates a policy document (already JSON-decoded). */
export function parsePolicy(doc: unknown): PolicyParseResult {
  void doc;
  void z;
  throw new Error('not implemented');
}

/** Like parsePolicy but throws a PolicyValidationError listing the bad paths. */
export function parsePolicyOrThrow(doc: unknown): Policy {
  void doc;
  throw new Error('not implemented');
}

/** The document form of a policy (inverse of parsePolicy), e.g. for GET /v1/policies/{id}. */
export function policyToDocument(policy: Policy): unknown {
  void policy;
  throw new Error('not implemented');
}
