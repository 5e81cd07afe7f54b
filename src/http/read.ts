/**
 * The read API for ops dashboards (SPEC §5): incidents, timeline, at-risk list, monthly report,
 * policies. Every route needs `incidents:read`, except creating a policy version (`admin`).
 * Query parameters are validated by the zod schemas of src/contracts/read.ts: a bad one is a 400
 * naming it. Answers depend on the request time (deadlines pass), so they are never cached.
 */
import Negotiator from 'negotiator';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { createPolicyVersion, VersionConflictError } from '../application/policy-versions';
import { ReadQueries } from '../application/queries';
import { StreamFeed } from '../application/stream-feed';
import type { AppContext, Service } from '../application/roles';
import {
  monthlyReport as buildMonthlyReport,
  reportsToCsv,
  reportToCsv,
} from '../application/reports';
import { getIssuedReport } from '../application/report-issue';
import {
  issuedMonthlyReport,
  issuedMonthParams,
  issuedReportQuery,
} from '../contracts/report-issue';
import { problemSchema } from '../contracts/http-common';
import {
  atRiskList,
  atRiskQuery,
  incidentDetail,
  incidentIdParams,
  incidentList,
  listIncidentsQuery,
  monthlyReport,
  monthlyReportQuery,
  parseInput,
  policyDetail,
  policyIdParams,
  policyList,
  policyVersion,
  policyVersionBody,
  timeline,
} from '../contracts/read';
import type { Clock } from '../infra/clock';
import type { Pool } from '../infra/db';
import type { PgListener } from '../infra/pg-listener';
import { requireScope } from './auth';
import type { RouteDocs } from './openapi';
import { problem } from './server';
import { registerBoardRoutes } from './board';
import { registerInspectionRoutes } from './inspections';
import { registerStreamRoutes, StreamHub } from './stream';

export interface ReadApiDeps {
  pool: Pool;
  clock: Clock;
  /** Zone of the monthly report when the request names none (REPORT_TIME_ZONE). */
  reportTimeZone: string;
}

export function registerReadRoutes(app: FastifyInstance, deps: ReadApiDeps): void {
  const queries = new ReadQueries(deps.pool);
  const readScope = requireScope('incidents:read');
  /** Route options: the read scope and the OpenAPI docs (src/http/openapi.ts). */
  const read = (docs: RouteDocs) => ({ preHandler: readScope, config: { docs } });
  const now = () => deps.clock.now();

  app.get(
    '/v1/incidents',
    read({
      summary: 'List incidents',
      description:
        'Reported incidents, filtered and sorted, one page at a time. Pages are keyset-based on ' +
        '(reportedAt, id): incidents arriving meanwhile never shift or repeat a page. `total` ' +
        'counts every match. `breached` and `atRisk` are evaluated at the request time.',
      tags: ['incidents'],
      querystring: listIncidentsQuery,
      responses: { 200: incidentList },
    }),
    async (req, reply) => {
      const q = parseInput(listIncidentsQuery, req.query, 'query parameter');
      return noStore(reply).send(await queries.listIncidents(q, now()));
    },
  );

  app.get(
    '/v1/incidents/:id',
    read({
      summary: 'One incident with every milestone',
      description:
        'Milestone states, time left and breach times are computed at the request time from ' +
        'the stored deadlines. `tier` is the effective tier (escalations included).',
      tags: ['incidents'],
      params: incidentIdParams,
      responses: { 200: incidentDetail, 404: notFound('No incident with this id') },
    }),
    async (req, reply) => {
      const { id } = parseInput(incidentIdParams, req.params, 'path parameter');
      return noStore(reply).send(await queries.getIncident(id, now()));
    },
  );

  app.get(
    '/v1/incidents/:id/timeline',
    read({
      summary: "An incident's lifecycle and SLA events, in time order",
      tags: ['incidents'],
      params: incidentIdParams,
      responses: { 200: timeline, 404: notFound('No incident with this id') },
    }),
    async (req, reply) => {
      const { id } = parseInput(incidentIdParams, req.params, 'path parameter');
      return noStore(reply).send({ incidentId: id, entries: await queries.timeline(id) });
    },
  );

  app.get(
    '/v1/sla/at-risk',
    read({
      summary: 'Open milestones by time left',
      description:
        'Unmet, unpaused milestones of open incidents whose deadline falls within `horizon`, ' +
        'least time left first (with includeBreached=true, overdue ones first).',
      tags: ['incidents'],
      querystring: atRiskQuery,
      responses: { 200: atRiskList },
    }),
    async (req, reply) => {
      const q = parseInput(atRiskQuery, req.query, 'query parameter');
      const at = now();
      return noStore(reply).send({
        asOf: new Date(at).toISOString(),
        horizonSeconds: q.horizon,
        items: await queries.atRisk(q, at),
      });
    },
  );

  app.get(
    '/v1/reports/monthly',
    read({
      summary: 'Monthly SLA statistics (§4.5.3.6)',
      description:
        'Per severity and milestone: count, met on time, breached, compliance %, median and p90 ' +
        'time to milestone (incidents reported in the month); escalations per tier; dispatches ' +
        "and on-site visits; reopened incidents; `statistics`, the seed's table (installation and " +
        'dispatch person-times, per day and person-days, material, transport, other and total ' +
        'after-sales cost per currency, installation excluded from the total) overall, per ' +
        'customer and per project (customer and site); `followUps`, the follow-ups of the faults ' +
        'handled in the month (rate, goal 100 %) and mean satisfaction (§4.5.7.6). JSON, or CSV ' +
        'for `Accept: text/csv` / `format=csv`.',
      tags: ['reports'],
      querystring: monthlyReportQuery,
      responses: {
        200: {
          description: 'The report',
          content: {
            'application/json': monthlyReport,
            'text/csv': z.string().describe('One table; the `section` column says what a row is'),
          },
        },
      },
    }),
    async (req, reply) => {
      const q = parseInput(monthlyReportQuery, req.query, 'query parameter');
      const report = await buildMonthlyReport(
        deps.pool,
        q.month,
        q.tz ?? deps.reportTimeZone,
        now(),
      );
      noStore(reply);
      if (wantsCsv(q.format, req.headers.accept)) {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="sla-report-${q.month}.csv"`)
          .send(reportToCsv(report));
      }
      return reply.send(report);
    },
  );

  app.get(
    '/v1/reports/monthly/:month/issued',
    read({
      summary: 'The monthly report as issued after the month closed',
      description:
        'The frozen snapshot the scheduler issued once the month closed (REPORT_ISSUE_DAY, ' +
        'REPORT_ISSUE_HOUR in REPORT_TIME_ZONE), with `issuedAt` and `digest` (also announced by ' +
        '`report.monthly_issued` on the reports topic). Late events never change it: they appear ' +
        'in the next issue as `corrections` of their month. CSV (`Accept: text/csv` / ' +
        "`format=csv`): the live report's table with a leading `month` column, the issued " +
        "month's rows first, then each corrected month's; the digest, issue time and corrected " +
        'months also in the `report-digest`, `report-issued-at` and `report-corrections` headers.',
      tags: ['reports'],
      params: issuedMonthParams,
      querystring: issuedReportQuery,
      responses: {
        200: {
          description: 'The issued report',
          content: {
            'application/json': issuedMonthlyReport,
            'text/csv': z.string().describe('One table; `month` and `section` say what a row is'),
          },
        },
        404: notFound('Not issued (yet): the month has not closed, or closed before the service'),
      },
    }),
    async (req, reply) => {
      const { month } = parseInput(issuedMonthParams, req.params, 'path parameter');
      const q = parseInput(issuedReportQuery, req.query, 'query parameter');
      const issued = await getIssuedReport(deps.pool, month);
      if (wantsCsv(q.format, req.headers.accept)) {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="sla-report-${month}-issued.csv"`)
          .header('report-digest', issued.digest)
          .header('report-issued-at', issued.issuedAt)
          .header('report-corrections', issued.corrections.map((c) => c.month).join(','))
          .send(reportsToCsv([issued.report, ...issued.corrections.map((c) => c.report)]));
      }
      return reply.send(issued);
    },
  );

  app.get(
    '/v1/policies',
    read({ summary: 'SLA policies', tags: ['policies'], responses: { 200: policyList } }),
    async () => ({ items: await queries.listPolicies() }),
  );

  app.get(
    '/v1/policies/:id',
    read({
      summary: 'Every version of a policy',
      tags: ['policies'],
      params: policyIdParams,
      responses: { 200: policyDetail, 404: notFound('No policy with this id') },
    }),
    async (req) => {
      const { id } = parseInput(policyIdParams, req.params, 'path parameter');
      return queries.getPolicy(id);
    },
  );

  app.post(
    '/v1/policies/:id/versions',
    {
      preHandler: requireScope('admin'),
      config: {
        docs: {
          summary: 'Create a policy version',
          description:
            'Versions are immutable and numbered 1, 2, …; a new version applies to incidents ' +
            'reported at or after its effectiveFrom, which may not lie in the past.',
          tags: ['policies'],
          params: policyIdParams,
          body: policyVersionBody,
          responses: {
            201: policyVersion,
            409: {
              description: '`version` is not the next version (someone else created it)',
              content: { 'application/json': problemSchema },
            },
          },
        },
      },
    },
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

  // The wallboard page and its data (issue 16): a view over the same read side.
  registerBoardRoutes(app, deps);
  // Inspection schedules and obligations (issue 15 item 5).
  registerInspectionRoutes(app, deps);
}

function notFound(description: string) {
  return { description, content: { 'application/json': problemSchema } };
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store');
}

/**
 * CSV when asked by `format=csv`, or when the Accept header prefers text/csv to application/json
 * (RFC 9110 content negotiation by the `negotiator` library: q-values, wildcards; equal weights
 * go to the one listed first; no Accept, or neither type acceptable: JSON).
 */
export function wantsCsv(format: 'json' | 'csv' | undefined, accept: string | undefined): boolean {
  if (format !== undefined) return format === 'csv';
  const preferred = new Negotiator({ headers: accept === undefined ? {} : { accept } }).mediaType([
    'application/json',
    'text/csv',
  ]);
  return preferred === 'text/csv';
}
/**
 * Wires the read API and the live stream into the `api` role (called from the composition root,
 * after authentication is installed). `listener`: the stream's LISTEN connection (the same
 * PgListener as the scheduler's, src/infra/pg-listener.ts, on a one-connection pool of its own),
 * built and ended by the composition root; null: poll only. Returns the stream hub: a service
 * (LISTEN, heartbeats, trimming) the role must start and stop.
 */
export function registerReadApi(
  http: FastifyInstance,
  context: AppContext,
  listener: PgListener | null,
): Service[] {
  const { config, pool, clock } = context;
  registerReadRoutes(http, { pool, clock, reportTimeZone: config.REPORT_TIME_ZONE });
  const hub = new StreamHub(
    new StreamFeed(pool),
    clock,
    {
      heartbeatMs: config.STREAM_HEARTBEAT_MS,
      pollMs: config.STREAM_POLL_MS,
      retentionMs: config.STREAM_RETENTION_MS,
      clientBufferBytes: config.STREAM_CLIENT_BUFFER_BYTES,
      maxClients: config.STREAM_MAX_CLIENTS,
    },
    context.log.child({ component: 'stream' }),
    context.metrics,
    listener,
  );
  registerStreamRoutes(http, hub);
  return [hub];
}
