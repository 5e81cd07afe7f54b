import { Writable } from 'node:stream';
import { loadConfig } from '../../../src/config';
import { ApiKeyStore, createApiKey, parseApiKeyEntry } from '../../../src/http/api-keys';
import { installAuth, requireScope, requiredScopeOf } from '../../../src/http/auth';
import { buildServer } from '../../../src/http/server';
import { createLogger } from '../../../src/infra/logger';
import { createMetricsRegistry } from '../../../src/infra/metrics';
import { buildTestApi, reportedEvent } from './app';

describe('API keys', () => {
  it('creates a high-entropy token and an entry holding only its sha256', () => {
    const key = createApiKey(['events:write', 'admin', 'events:write'], 'desk-1');
    expect(key.token).toMatch(/^sla_desk-1_[A-Za-z0-9_-]{43}$/);
    expect(key.configEntry).toMatch(/^desk-1:events:write\+admin:[0-9a-f]{64}$/);
    expect(key.configEntry).not.toContain(key.token.split('_').pop());
    expect(parseApiKeyEntry(key.configEntry)).toEqual({
      keyId: 'desk-1',
      scopes: ['events:write', 'admin'],
      sha256: key.configEntry.split(':').pop(),
    });
  });

  it('makes a new random key id and secret each time', () => {
    const a = createApiKey(['admin']);
    const b = createApiKey(['admin']);
    expect(a.keyId).not.toBe(b.keyId);
    expect(a.token).not.toBe(b.token);
  });

  it('refuses unknown scopes, no scopes and bad key ids', () => {
    expect(() => createApiKey(['write' as never])).toThrow(/unknown scope write/);
    expect(() => createApiKey([])).toThrow(/at least one scope/);
    expect(() => createApiKey(['admin'], 'a_b')).toThrow(/key id/);
  });

  it('verifies the token of a configured key and nothing else', () => {
    const key = createApiKey(['incidents:read'], 'k1');
    const store = ApiKeyStore.fromConfig([key.configEntry]);
    expect(store.verify(key.token)).toEqual({ keyId: 'k1', scopes: new Set(['incidents:read']) });
    const secret = key.token.slice('sla_k1_'.length);
    const flipped = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
    expect(store.verify(`sla_k1_${flipped}`)).toBeNull();
    expect(store.verify(key.token.replace('sla_k1_', 'sla_k2_'))).toBeNull();
    expect(store.verify('not-a-token')).toBeNull();
    expect(store.verify('')).toBeNull();
  });

  it('rejects a key id configured twice, in the store and in the config', () => {
    const a = createApiKey(['admin'], 'same');
    const b = createApiKey(['admin'], 'same');
    expect(() => ApiKeyStore.fromConfig([a.configEntry, b.configEntry])).toThrow(/twice/);
    expect(() => loadConfig({ API_KEYS: `${a.configEntry},${b.configEntry}` })).toThrow(
      /API_KEYS: duplicate key id/,
    );
  });

  it('parses API_KEYS: comma or whitespace separated, empty by default, bad entries named', () => {
    const a = createApiKey(['admin']);
    const b = createApiKey(['events:write']);
    expect(loadConfig({ API_KEYS: `${a.configEntry},\n ${b.configEntry}` }).API_KEYS).toEqual([
      a.configEntry,
      b.configEntry,
    ]);
    expect(loadConfig({}).API_KEYS).toEqual([]);
    expect(() => loadConfig({ API_KEYS: 'k:events:write:abc' })).toThrow(/API_KEYS/);
    expect(() => loadConfig({ API_KEYS: `k:root:${'0'.repeat(64)}` })).toThrow(/API_KEYS/);
  });
});

describe('authentication and scopes on routes', () => {
  async function appWith(scopes: Parameters<typeof createApiKey>[0]) {
    const key = createApiKey(scopes, 'caller');
    const app = buildServer({
      logger: createLogger('silent'),
      metrics: createMetricsRegistry(),
      readiness: [],
    });
    installAuth(app, ApiKeyStore.fromConfig([key.configEntry]));
    app.get('/read', { preHandler: requireScope('incidents:read') }, async () => ({ ok: true }));
    app.get('/any-key', async () => ({ ok: true }));
    app.get('/open', { config: { public: true } }, async () => ({ ok: true }));
    await app.ready();
    return { app, token: key.token };
  }

  it('401 without a key, with a WWW-Authenticate challenge', async () => {
    const { app } = await appWith(['incidents:read']);
    const res = await app.inject('/read');
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="sla-timer"');
    expect(res.json()).toMatchObject({
      code: 'unauthorized',
      message: expect.stringContaining('Bearer'),
    });
  });

  it.each([
    ['an unknown key', (t: string) => `Bearer ${t.replace('caller', 'other')}`],
    ['a wrong secret', (t: string) => `Bearer ${t.slice(0, -2)}xx`],
    ['another scheme', (t: string) => `Basic ${t}`],
    ['a bare token', (t: string) => t],
  ])('401 with %s', async (_name, header) => {
    const { app, token } = await appWith(['incidents:read']);
    const res = await app.inject({ url: '/read', headers: { authorization: header(token) } });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ message: 'the API key is not valid' });
  });

  it('never accepts a key in the URL', async () => {
    const { app, token } = await appWith(['incidents:read']);
    for (const q of ['api_key', 'token', 'access_token']) {
      expect((await app.inject(`/read?${q}=${token}`)).statusCode).toBe(401);
    }
  });

  it('403 with a valid key lacking the scope; 200 with it', async () => {
    const writer = await appWith(['events:write']);
    const denied = await writer.app.inject({
      url: '/read',
      headers: { authorization: `Bearer ${writer.token}` },
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json()).toMatchObject({
      code: 'forbidden',
      message: expect.stringContaining('incidents:read'),
    });
    expect(
      (
        await writer.app.inject({
          url: '/any-key',
          headers: { authorization: `Bearer ${writer.token}` },
        })
      ).statusCode,
    ).toBe(200);
    const reader = await appWith(['incidents:read']);
    const ok = await reader.app.inject({
      url: '/read',
      headers: { authorization: `bearer  ${reader.token}` },
    });
    expect(ok.statusCode).toBe(200);
  });

  it('admin does not imply the other scopes', async () => {
    const { app, token } = await appWith(['admin']);
    expect(
      (await app.inject({ url: '/read', headers: { authorization: `Bearer ${token}` } }))
        .statusCode,
    ).toBe(403);
  });

  it('public routes, health and metrics need no key; unknown routes answer 404', async () => {
    const { app } = await appWith(['admin']);
    expect((await app.inject('/open')).statusCode).toBe(200);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    expect((await app.inject('/metrics')).statusCode).toBe(200);
    expect((await app.inject('/nowhere')).statusCode).toBe(404);
  });

  it('marks scope checks so documentation can name the scope', () => {
    expect(requiredScopeOf(requireScope('admin'))).toBe('admin');
    expect(requiredScopeOf([async () => undefined, requireScope('incidents:read')])).toBe(
      'incidents:read',
    );
    expect(requiredScopeOf(undefined)).toBeUndefined();
  });
});

describe('secrets never reach the logs', () => {
  function capture() {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    return { lines, logger: createLogger('trace', stream) };
  }

  it('redacts authorization headers and secret-named fields', () => {
    const { lines, logger } = capture();
    const secret = createApiKey(['admin']).token;
    logger.info({ req: { headers: { authorization: `Bearer ${secret}` } } }, 'a');
    logger.info({ headers: { authorization: `Bearer ${secret}` } }, 'b');
    logger.info({ token: secret, nested: { token: secret, apiKey: secret, secret } }, 'c');
    expect(lines).toHaveLength(3);
    expect(lines.join('')).not.toContain(secret);
    expect(lines.join('')).toContain('[redacted]');
  });

  it('logs no token while serving valid, invalid and failing requests at trace level', async () => {
    const { lines, logger } = capture();
    const api = await buildTestApi({ LOG_LEVEL: 'trace' }, { logger });
    const tokens = [api.auth.writer, api.auth.reader, 'Bearer sla_writer_' + 'x'.repeat(43)];
    for (const authorization of tokens) {
      await api.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { authorization, 'content-type': 'application/json' },
        payload: JSON.stringify(reportedEvent()),
      });
    }
    api.publisher.mode = 'down';
    await api.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { authorization: api.auth.writer, 'content-type': 'application/json' },
      payload: JSON.stringify(reportedEvent()),
    });
    await api.app.close();
    const all = lines.join('');
    expect(lines.length).toBeGreaterThan(0); // the failing request logs its error
    for (const t of tokens) expect(all).not.toContain(t.slice('Bearer '.length));
  });
});
