/**
 * The read API for ops dashboards (SPEC §5): incidents, timeline, at-risk list, monthly report,
 * policies. Every route needs `incidents:read`, except creating a policy version (`admin`).
 * Query parameters are validated by the zod schemas of src/contracts/read.ts: a bad one is a 400
 * naming it. Answers depend on the request time (deadlines pass), so they are never cached.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { createPolicyVersion, VersionConflictError } from '../application/policy-versions';
import { ReadQueries } from '../application/queries';
import { StreamFeed } from '../application/stream-feed';
import type { AppContext, Service } from '../composition';
import { monthlyReport, reportToCsv } from '../application/reports';
import {
  atRiskQuery,
  incidentIdParams,
  listIncidentsQuery,
  monthlyReportQuery,
  parseInput,
  policyIdParams,
  policyVersionBody,
} from '../contracts/read';
import type { Clock } from '../infra/clock';
import { createPool, type Pool } from '../infra/db';
import { requireScope } from './auth';
import { problem } from './server';
import { registerStreamRoutes, StreamHub } from './stream';

export interface ReadApiDeps {
  pool: Pool;
  clock: Clock;
  /** Zone of the monthly report when the request names none (REPORT_TIME_ZONE). */
  reportTimeZone: string;
}

export function registerReadRoutes(app: FastifyInstance, deps: ReadApiDeps): void {
  const queries = new ReadQueries(deps.pool);
  const read = { preHandler: requireScope('incidents:read') };
  const now = () => deps.clock.now();

  app.get('/v1/incidents', read, async (req, reply) => {
    const q = parseInput(listIncidentsQuery, req.query, 'query parameter');
    return noStore(reply).send(await queries.listIncidents(q, now()));
  });

  app.get('/v1/incidents/:id', read, async (req, reply) => {
    const { id } = parseInput(incidentIdParams, req.params, 'path parameter');
    return noStore(reply).send(await queries.getIncident(id, now()));
  });

  app.get('/v1/incidents/:id/timeline', read, async (req, reply) => {
    const { id } = parseInput(incidentIdParams, req.params, 'path parameter');
    return noStore(reply).send({ incidentId: id, entries: await queries.timeline(id) });
  });

  app.get('/v1/sla/at-risk', read, async (req, reply) => {
    const q = parseInput(atRiskQuery, req.query, 'query parameter');
    const at = now();
    return noStore(reply).send({
      asOf: new Date(at).toISOString(),
      horizonSeconds: q.horizon,
      items: await queries.atRisk(q, at),
    });
  });

  app.get('/v1/reports/monthly', read, async (req, reply) => {
    const q = parseInput(monthlyReportQuery, req.query, 'query parameter');
    const report = await monthlyReport(deps.pool, q.month, q.tz ?? deps.reportTimeZone, now());
    noStore(reply);
    if (wantsCsv(q.format, req.headers.accept)) {
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="sla-report-${q.month}.csv"`)
        .send(reportToCsv(report));
    }
    return reply.send(report);
  });

  app.get('/v1/policies', read, async () => ({ items: await queries.listPolicies() }));

  app.get('/v1/policies/:id', read, async (req) => {
    const { id } = parseInput(policyIdParams, req.params, 'path parameter');
    return queries.getPolicy(id);
  });

  app.post(
    '/v1/policies/:id/versions',
    { preHandler: requireScope('admin') },
    async (req, reply) => {
      const { id } = parseInput(policyIdParams, req.params, 'path parameter');
      const body = parseInput(policyVersionBody, req.body, 'body field');
      try {
        const created = await createPolicyVersion(
          deps.pool,
          id,
          body,
          req.principal?.keyId ?? null,
          now(),
        );
        return reply
          .code(201)
          .header('location', `/v1/policies/${encodeURIComponent(id)}`)
          .send(created);
      } catch (err) {
        if (err instanceof VersionConflictError) {
          return reply.code(409).send(problem(409, err.code, err.message));
        }
        throw err;
      }
    },
  );
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store');
}

/**
 * CSV when asked by `format=csv`, or when the Accept header names text/csv before (or without)
 * application/json. q-values are not weighed: clients ask for one or the other.
 */
export function wantsCsv(format: 'json' | 'csv' | undefined, accept: string | undefined): boolean {
  if (format !== undefined) return format === 'csv';
  const types = (accept ?? '').split(',').map((t) => t.split(';')[0]!.trim().toLowerCase());
  const csv = types.indexOf('text/csv');
  const json = types.indexOf('application/json');
  return csv !== -1 && (json === -1 || csv < json);
}
