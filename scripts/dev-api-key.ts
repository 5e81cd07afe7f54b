import fs from 'node:fs';
import path from 'node:path';
import { createApiKey, SCOPES } from '../src/http/api-keys';

/**
 * The development key of `npm run up`: every scope, created once and kept in `.local/` (git-ignored)
 * so that it stays the same across restarts. `<file>` holds only the token, for
 * `curl -H "Authorization: Bearer $(cat .local/dev-api-key)"`; `<file>.entry` holds its API_KEYS entry.
 */
export async function ensureDevApiKey(
  file: string,
): Promise<{ token: string; configEntry: string }> {
  const entryFile = `${file}.entry`;
  if (fs.existsSync(file) && fs.existsSync(entryFile)) {
    return {
      token: fs.readFileSync(file, 'utf8').trim(),
      configEntry: fs.readFileSync(entryFile, 'utf8').trim(),
    };
  }
  const key = createApiKey(SCOPES, 'dev');
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await fs.promises.writeFile(file, `${key.token}\n`, { mode: 0o600 });
  await fs.promises.writeFile(entryFile, `${key.configEntry}\n`, { mode: 0o600 });
  return key;
}
