import { parseArgs } from 'node:util';
import { createApiKey, SCOPES, type Scope } from '../http/api-keys';

/**
 * `npm run api-key -- --scopes events:write,incidents:read,admin [--id desk-1]`: makes a new API key,
 * prints the token (shown once; only its hash is ever configured) and the API_KEYS entry.
 */
function run(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      scopes: { type: 'string', default: 'events:write' },
      id: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      `usage: npm run api-key -- --scopes <${SCOPES.join('|')}>[,...] [--id <keyId>]\n`,
    );
    return;
  }
  const scopes = (values.scopes ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as Scope[];
  const key = createApiKey(scopes, values.id);
  process.stdout.write(
    [
      `API key ${key.keyId} (scopes: ${scopes.join(', ')})`,
      '',
      'Token: give it to the caller, who sends `Authorization: Bearer <token>`. It is shown only now:',
      `  ${key.token}`,
      '',
      'Configure the service with this entry (API_KEYS is a comma-separated list of such entries):',
      `  API_KEYS=${key.configEntry}`,
      '',
    ].join('\n'),
  );
}

try {
  run(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`api-key: ${(err as Error).message}\n`);
  process.exit(2);
}
