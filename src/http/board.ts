/**
 * The live SLA wallboard (issue 16), served by the `api` role:
 * - `GET /board`: the page (public: it holds no data; it asks for a read key and keeps it in the
 *   browser's sessionStorage), with its script and style sheet under /board/ — plain files from
 *   the repository's `board/` folder, no build step;
 * - `GET /v1/board`: its data in one answer (scope incidents:read), see src/application/board.ts.
 *
 * The page reads `GET /v1/board` and follows `GET /v1/stream` with `fetch` (a streamed body), so
 * the key travels in the Authorization header only: never in a URL, hence never in an access log
 * or a proxy's. A strict Content-Security-Policy allows nothing but these same-origin files.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { boardSnapshot } from '../application/board';
import { board, boardQuery } from '../contracts/board';
import { parseInput } from '../contracts/read';
import type { Clock } from '../infra/clock';
import type { Pool } from '../infra/db';
import { z } from 'zod';
import { requireScope } from './auth';

export interface BoardDeps {
  pool: Pool;
  clock: Clock;
  /** Zone of "today" and "this month" when the page names none (REPORT_TIME_ZONE). */
  reportTimeZone: string;
}

const ASSETS = {
  '/board': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/board/board.js': { file: 'board.js', type: 'text/javascript; charset=utf-8' },
  '/board/board.css': { file: 'board.css', type: 'text/css; charset=utf-8' },
} as const;

const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

/** The `board/` folder: two levels up from src/http under tsx, three from dist/src/http. */
export function boardDir(from: string = __dirname): string {
  for (let dir = from, i = 0; i < 5; i += 1, dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'board');
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
  }
  throw new Error(`board/index.html not found above ${from}`);
}

export function registerBoardRoutes(app: FastifyInstance, deps: BoardDeps): void {
  // Read on first request (registering does no I/O: scripts/gen-contracts.ts builds the role).
  const cache = new Map<string, Buffer>();
  const asset = (file: string) => {
    let body = cache.get(file);
    if (!body) {
      body = readFileSync(path.join(boardDir(), file));
      cache.set(file, body);
    }
    return body;
  };

  for (const [url, { file, type }] of Object.entries(ASSETS)) {
    const docs =
      url === '/board'
        ? {
            summary: 'The live SLA wallboard (HTML page)',
            operationId: 'getBoardPage',
            description:
              'A page for a wall screen: at-risk countdowns, breached incidents, today, and this ' +
              "month's compliance, live over GET /v1/stream. It asks for a key with the scope " +
              'incidents:read (kept in sessionStorage; `#key=` in the URL is taken and removed). ' +
              'Query: `severity`, `site`, `tier` (filters), `lang` (zh | en).',
            tags: ['board'],
            responses: {
              200: { description: 'The page', content: { 'text/html': z.string() } },
            },
          }
        : undefined;
    app.get(
      url,
      { config: { public: true, ...(docs ? { docs } : {}) }, schema: { hide: docs === undefined } },
      async (_req, reply) => reply.headers(PAGE_HEADERS).type(type).send(asset(file)),
    );
  }

  app.get(
    '/v1/board',
    {
      preHandler: requireScope('incidents:read'),
      config: {
        docs: {
          summary: 'The wallboard in one answer',
          description:
            'What GET /board shows: open milestones by time left (deadline ahead), open ' +
            'incidents with a milestone breached now, today (reported, met, breached, ' +
            "escalations per tier) and this month's compliance per severity, all at `asOf` " +
            '(the server clock: a page corrects its own clock by it). Filters apply to every part.',
          tags: ['board'],
          querystring: boardQuery,
          responses: { 200: board },
        },
      },
    },
    async (req, reply) => {
      const q = parseInput(boardQuery, req.query, 'query parameter');
      const snapshot = await boardSnapshot(
        deps.pool,
        q,
        q.tz ?? deps.reportTimeZone,
        deps.clock.now(),
      );
      return reply.header('cache-control', 'no-store').send(snapshot);
    },
  );
}
