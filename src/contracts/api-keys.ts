/**
 * The shape of an API_KEYS entry, `<keyId>:<scope>+<scope>:<sha256hex>` (README "API keys"): a
 * contract shared by the config schema (src/config.ts) and the key store (src/http/api-keys.ts).
 */

export const SCOPES = ['events:write', 'incidents:read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const KEY_ID = /^[A-Za-z0-9-]{1,64}$/;
export const API_KEY_ENTRY = new RegExp(
  `^([A-Za-z0-9-]{1,64}):((?:${SCOPES.join('|')})(?:\\+(?:${SCOPES.join('|')}))*):([0-9a-f]{64})$`,
);
