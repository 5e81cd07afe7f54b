/**
 * Inspection schedules and obligations (issue 15 item 5): an admin creates a schedule; readers
 * list due and done inspections. Completions arrive as `inspection.completed` on POST /v1/events.
 */
import type { FastifyInstance } from 'fastify';
import {
  createInspectionSchedule,
  getInspectionSchedule,
  listInspections,
  listInspectionSchedules,
  ScheduleConflictError,
} from '../application/inspections';
import { problemSchema } from '../contracts/http-common';
import {
  inspectionList,
  inspectionSchedule,
  inspectionScheduleBody,
  inspectionScheduleList,
  inspectionsQuery,
  scheduleIdParams,
  schedulesQuery,
} from '../contracts/inspections';
import { parseInput } from '../contracts/read';
import type { Clock } from '../infra/clock';
import type { Pool } from '../infra/db';
import { requireScope } from './auth';
import { problem } from './server';

export interface InspectionRouteDeps {
  pool: Pool;
  clock: Clock;
  /** Zone of quarters and plain dates when the schedule names none (REPORT_TIME_ZONE). */
  reportTimeZone: string;
}

export function registerInspectionRoutes(app: FastifyInstance, deps: InspectionRouteDeps): void {
  const readScope = requireScope('incidents:read');
  const now = () => deps.clock.now();

  app.post(
    '/v1/inspection-schedules',
    {
      preHandler: requireScope('admin'),
      config: {
        docs: {
          summary: 'Create an inspection schedule',
          description:
            'Quarterly inspections (due by the end of each quarter overlapping [from, until]) ' +
            'and inspections before listed holidays or events, for a site or a customer. Each ' +
            'is an obligation: `sla.warning` at `warnBefore` ahead, `sla.breached` at the deadline ' +
            '(`data.obligation: "inspection"`, Kafka key: the site), unless `inspection.completed` ' +
            'names it first. Quarters already over are left out. The same document again answers ' +
            '200 with the schedule; another document under the same id is a 409.',
          tags: ['inspections'],
          body: inspectionScheduleBody,
          responses: {
            200: inspectionSchedule,
            201: inspectionSchedule,
            409: {
              description: 'The id is taken by a schedule with another document',
              content: { 'application/json': problemSchema },
            },
          },
        },
      },
    },
    async (req, reply) => {
      try {
        const { created, schedule } = await createInspectionSchedule(deps.pool, req.body, {
          createdBy: req.principal?.keyId ?? null,
          now: now(),
          defaultTimeZone: deps.reportTimeZone,
        });
        return reply
          .code(created ? 201 : 200)
          .header('location', `/v1/inspection-schedules/${encodeURIComponent(schedule.id)}`)
          .send(schedule);
      } catch (err) {
        if (err instanceof ScheduleConflictError) {
          return reply.code(409).send(problem(409, err.code, err.message));
        }
        throw err;
      }
    },
  );

  app.get(
    '/v1/inspection-schedules',
    {
      preHandler: readScope,
      config: {
        docs: {
          summary: 'The inspection schedules',
          description:
            'Every schedule by id, of a site and / or a customer when asked, a page at a time: ' +
            'a full page ends with `next`, to pass as `after`. Each schedule without its ' +
            'inspections (`GET /v1/inspections?scheduleId=…` or `GET /v1/inspection-schedules/{id}`).',
          tags: ['inspections'],
          querystring: schedulesQuery,
          responses: { 200: inspectionScheduleList },
        },
      },
    },
    async (req, reply) => {
      const q = parseInput(schedulesQuery, req.query, 'query parameter');
      return reply
        .header('cache-control', 'no-store')
        .send(await listInspectionSchedules(deps.pool, q));
    },
  );

  app.get(
    '/v1/inspection-schedules/:id',
    {
      preHandler: readScope,
      config: {
        docs: {
          summary: 'An inspection schedule and its inspections',
          tags: ['inspections'],
          params: scheduleIdParams,
          responses: {
            200: inspectionSchedule,
            404: {
              description: 'No schedule with this id',
              content: { 'application/json': problemSchema },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const { id } = parseInput(scheduleIdParams, req.params, 'path parameter');
      return reply
        .header('cache-control', 'no-store')
        .send(await getInspectionSchedule(deps.pool, id, now()));
    },
  );

  app.get(
    '/v1/inspections',
    {
      preHandler: readScope,
      config: {
        docs: {
          summary: 'Due and done inspections',
          description:
            'Inspection obligations by deadline, with their state at the request time (pending, ' +
            'warned, breached; met / met_late once completed) and the completing report.',
          tags: ['inspections'],
          querystring: inspectionsQuery,
          responses: { 200: inspectionList },
        },
      },
    },
    async (req, reply) => {
      const q = parseInput(inspectionsQuery, req.query, 'query parameter');
      const at = now();
      return reply
        .header('cache-control', 'no-store')
        .send({ asOf: new Date(at).toISOString(), items: await listInspections(deps.pool, q, at) });
    },
  );
}
