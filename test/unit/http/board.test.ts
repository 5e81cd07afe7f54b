/**
 * The wallboard's routes through fastify.inject: the page and its files are public and locked
 * down by a Content-Security-Policy; its data route needs a read key and names a bad parameter.
 * (The page itself, against the running service, is test/e2e/board.test.ts.)
 */
import type { FastifyInstance } from 'fastify';
import { ApiKeyStore, createApiKey } from '../../../src/http/api-keys';
import { installAuth } from '../../../src/http/auth';
import { registerBoardRoutes } from '../../../src/http/board';
import { buildServer } from '../../../src/http/server';
import { createPool, type Pool } from '../../../src/infra/db';
import { createLogger } from '../../../src/infra/logger';
import { createMetricsRegistry } from '../../../src/infra/metrics';

let app: FastifyInstance;
let pool: Pool;
const reader = createApiKey(['incidents:read'], 'reader');
const writer = createApiKey(['events:write'], 'writer');

beforeAll(async () => {
  app = buildServer({
    logger: createLogger('silent'),
    metrics: createMetricsRegistry(),
    readiness: [],
  });
  installAuth(app, ApiKeyStore.fromConfig([reader.configEntry, writer.configEntry]));
  // Never queried here: every request below is answered before the database is asked.
  pool = createPool('postgres://nobody@127.0.0.1:1/unused');
  registerBoardRoutes(app, { pool, clock: { now: () => 0 }, reportTimeZone: 'Asia/Shanghai' });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await pool.end();
});

describe('GET /board', () => {
  it('serves the page without a key, under a strict Content-Security-Policy', async () => {
    const res = await app.inject('/board');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.body).toContain('<main>');
    expect(res.body).toContain('src="/board/board.js"');
  });

  it('serves its script and style sheet, and the three stay small', async () => {
    let bytes = 0;
    for (const [url, type] of [
      ['/board', 'text/html'],
      ['/board/board.js', 'text/javascript'],
      ['/board/board.css', 'text/css'],
    ] as const) {
      const res = await app.inject(url);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain(type);
      bytes += res.rawPayload.length;
    }
    // "A few tens of KB" (issue 16): the page is plain files, no framework.
    expect(bytes).toBeLessThan(64 * 1024);
  });
});

describe('GET /v1/board', () => {
  const get = (url: string, key?: string) =>
    app.inject({ url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('needs a key with incidents:read', async () => {
    expect((await get('/v1/board')).statusCode).toBe(401);
    expect((await get('/v1/board', writer.token)).statusCode).toBe(403);
  });

  it.each([
    ['severity=V', 'severity'],
    ['tier=4', 'tier'],
    ['tz=Mars/Olympus', 'tz'],
    ['limit=0', 'limit'],
    ['sevrity=I', 'sevrity'],
  ])('names the bad query parameter: %s', async (query, field) => {
    const res = await get(`/v1/board?${query}`, reader.token);
    expect(res.statusCode).toBe(400);
    expect(res.json<{ details: { path: string }[] }>().details.map((d) => d.path)).toEqual([field]);
  });
});
