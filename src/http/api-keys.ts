import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { API_KEY_ENTRY, KEY_ID, SCOPES, type Scope } from '../contracts/api-keys';

export { API_KEY_ENTRY, KEY_ID, SCOPES, type Scope };

/**
 * API keys with scopes (no framework code here: config and the CLI use it too). A token is
 * `sla_<keyId>_<secret>` (the secret: 32 random bytes, base64url); the service only ever holds
 * `sha256(token)`, configured as `<keyId>:<scope>+<scope>:<sha256hex>` in API_KEYS. The key id in the
 * token makes the lookup O(1) and is not secret; the hash comparison is constant-time. Scopes are
 * independent: `admin` does not imply the others.
 */

/** One configured key: what API_KEYS holds, one entry per key. */
export interface ApiKeyEntry {
  keyId: string;
  scopes: Scope[];
  /** sha256 of the whole token, hex. */
  sha256: string;
}

/** The caller, once authenticated. Never holds the secret. */
export interface Principal {
  keyId: string;
  scopes: ReadonlySet<Scope>;
}

const TOKEN = /^sla_([A-Za-z0-9-]{1,64})_([A-Za-z0-9_-]{43})$/;

/** Parses one API_KEYS entry; the config schema has already checked its shape. */
export function parseApiKeyEntry(entry: string): ApiKeyEntry {
  const m = API_KEY_ENTRY.exec(entry);
  if (!m) throw new Error('an API key entry is <keyId>:<scope>+<scope>:<sha256hex>');
  return { keyId: m[1]!, scopes: [...new Set(m[2]!.split('+') as Scope[])], sha256: m[3]! };
}

/** A new key: the token to hand to the caller (shown once) and the line that configures it. */
export function createApiKey(
  scopes: readonly Scope[],
  keyId: string = randomBytes(6).toString('hex'),
): { keyId: string; token: string; configEntry: string } {
  if (!KEY_ID.test(keyId)) throw new Error('key id: 1–64 letters, digits or "-"');
  const unique = [...new Set(scopes)];
  if (unique.length === 0) throw new Error(`at least one scope of ${SCOPES.join(', ')}`);
  for (const s of unique) {
    if (!SCOPES.includes(s)) throw new Error(`unknown scope ${s}; scopes: ${SCOPES.join(', ')}`);
  }
  const token = `sla_${keyId}_${randomBytes(32).toString('base64url')}`;
  return { keyId, token, configEntry: `${keyId}:${unique.join('+')}:${sha256(token)}` };
}

function sha256(token: string): string {
  return hash('sha256', token, 'hex');
}

/** The configured keys, indexed by key id. */
export class ApiKeyStore {
  private readonly byId = new Map<string, { principal: Principal; hash: Buffer }>();

  constructor(entries: readonly ApiKeyEntry[]) {
    for (const e of entries) {
      if (this.byId.has(e.keyId)) throw new Error(`API key id ${e.keyId} is configured twice`);
      this.byId.set(e.keyId, {
        principal: { keyId: e.keyId, scopes: new Set(e.scopes) },
        hash: Buffer.from(e.sha256.toLowerCase(), 'latin1'),
      });
    }
  }

  static fromConfig(entries: readonly string[]): ApiKeyStore {
    return new ApiKeyStore(entries.map(parseApiKeyEntry));
  }

  get size(): number {
    return this.byId.size;
  }

  /** The principal for a presented token, or null. Constant-time in the secret. */
  verify(token: string): Principal | null {
    const m = TOKEN.exec(token);
    if (!m) return null;
    const key = this.byId.get(m[1]!);
    // One-shot hash, hex: no Hash object per request, and hex output is the fast path of
    // crypto.hash (this runs on every authenticated call). Compared as the bytes of the hex text.
    const presented = Buffer.from(hash('sha256', token, 'hex'), 'latin1');
    // Compare even for an unknown id, so that answering takes the same time either way.
    const expected = key?.hash ?? presented;
    const equal = timingSafeEqual(presented, expected);
    return key && equal ? key.principal : null;
  }
}
