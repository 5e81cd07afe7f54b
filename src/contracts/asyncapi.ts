import type { z } from 'zod';
import { DLQ_HEADERS } from './dlq';
import { ACCEPTED_AT_HEADER, EVENT_CONTENT_TYPE, cloudEventSchema } from './events';
import { SchemaComponents } from './json-schema';
import {
  incidentEscalatedSchema,
  inspectionBreachedSchema,
  inspectionBreachRetractedSchema,
  inspectionWarningSchema,
  slaBreachedSchema,
  slaBreachRetractedSchema,
  slaStandDownSchema,
  slaWarningSchema,
} from './sla-events';
import { reportMonthlyIssuedSchema } from './report-issue';

/**
 * asyncapi.yaml: the Kafka topics and their messages (SPEC §4), from the same zod schemas that
 * validate and build the records. Topic addresses are the defaults (KAFKA_TOPIC_* rename them).
 * Payload schemas are draft-07 (the AsyncAPI schema format's base) and describe what producers write
 * (the schemas' output side).
 */

type Json = Record<string, unknown>;

export interface TopicNames {
  events: string;
  warnings: string;
  escalations: string;
  dlq: string;
  reports: string;
}

export const DEFAULT_TOPICS: TopicNames = {
  events: 'incident.events',
  warnings: 'sla.warnings',
  escalations: 'sla.escalations',
  dlq: 'incident.events.dlq',
  reports: 'sla.reports',
};

const KAFKA_BINDING_VERSION = '0.5.0';

export function asyncApiDocument(topics: TopicNames = DEFAULT_TOPICS): Json {
  const schemas = new SchemaComponents('draft-7');
  const incidentKey = {
    type: 'string',
    description: 'The incident id (the event `subject`): one incident, one partition, in order',
  };
  const siteKey = {
    type: 'string',
    description: 'Inspection events: the site (the customer for a customer-wide schedule)',
  };
  const cloudEventHeaders = {
    type: 'object',
    properties: { 'content-type': { type: 'string', const: EVENT_CONTENT_TYPE } },
  };
  const cloudEvent = (name: string, title: string, summary: string, schema: z.ZodType): Json => ({
    name,
    title,
    summary,
    contentType: EVENT_CONTENT_TYPE,
    headers: cloudEventHeaders,
    payload: schemas.convert(schema, 'output'),
    bindings: { kafka: { key: incidentKey, bindingVersion: KAFKA_BINDING_VERSION } },
  });

  const messages: Json = {
    IncidentEvent: {
      ...cloudEvent(
        'IncidentEvent',
        'Incident lifecycle event',
        'A lifecycle event posted to POST /v1/events (SPEC §3), exactly as validated. The same ' +
          '(source, id) may appear more than once (a client retry, a produce retried after a ' +
          'timeout); consumers dedupe by (source, id). A different payload under a used (source, id) ' +
          'is not applied.',
        cloudEventSchema,
      ),
      headers: {
        type: 'object',
        properties: {
          'content-type': { type: 'string', const: EVENT_CONTENT_TYPE },
          [ACCEPTED_AT_HEADER]: {
            type: 'string',
            pattern: '^[0-9]+$',
            description:
              'When the service accepted the event, epoch milliseconds. The SLA uses the earlier ' +
              'of this and the event `time` (SPEC §3 "Effective time"); records without it use ' +
              'the Kafka record timestamp.',
          },
        },
      },
    },
    SlaWarning: cloudEvent(
      'SlaWarning',
      'sla.warning',
      'A milestone deadline is approaching (a warning threshold passed).',
      slaWarningSchema,
    ),
    SlaBreached: cloudEvent(
      'SlaBreached',
      'sla.breached',
      'A milestone deadline passed unmet.',
      slaBreachedSchema,
    ),
    IncidentEscalated: cloudEvent(
      'IncidentEscalated',
      'incident.escalated',
      'The incident reached a higher tier: automatically after a breach, or a forwarded manual ' +
        'escalation. One per tier reached.',
      incidentEscalatedSchema,
    ),
    SlaBreachRetracted: cloudEvent(
      'SlaBreachRetracted',
      'sla.breach_retracted',
      'A late event proved a milestone was met in time; `data.retracts` names the breach event.',
      slaBreachRetractedSchema,
    ),
    SlaStandDown: cloudEvent(
      'SlaStandDown',
      'sla.stand_down',
      'An incident the service escalated automatically settled (resolved, closed, cancelled): ' +
        'pagers may close what they opened. At most once per incident cycle; nothing follows it ' +
        'for that cycle.',
      slaStandDownSchema,
    ),
    ReportMonthlyIssued: {
      ...cloudEvent(
        'ReportMonthlyIssued',
        'report.monthly_issued',
        'The monthly report (§4.5.3.6) of a closed month was issued: a frozen snapshot at ' +
          '`data.href` (GET /v1/reports/monthly/{month}/issued) with `data.digest`. Once per ' +
          'month (the id is derived from the month); `data.summary.corrections` names earlier ' +
          'months whose figures this issue corrects.',
        reportMonthlyIssuedSchema,
      ),
      bindings: {
        kafka: {
          key: { type: 'string', description: 'The month, YYYY-MM (the event `subject`)' },
          bindingVersion: KAFKA_BINDING_VERSION,
        },
      },
    },
    InspectionWarning: {
      ...cloudEvent(
        'InspectionWarning',
        'sla.warning (inspection)',
        'A scheduled inspection (§4.5.8.4) is due soon: `data.obligation` is "inspection", the ' +
          'site and schedule replace the incident.',
        inspectionWarningSchema,
      ),
      bindings: { kafka: { key: siteKey, bindingVersion: KAFKA_BINDING_VERSION } },
    },
    InspectionBreached: {
      ...cloudEvent(
        'InspectionBreached',
        'sla.breached (inspection)',
        'A scheduled inspection passed its deadline without `inspection.completed`; `data.tier` ' +
          'is the tier the schedule pages.',
        inspectionBreachedSchema,
      ),
      bindings: { kafka: { key: siteKey, bindingVersion: KAFKA_BINDING_VERSION } },
    },
    InspectionBreachRetracted: {
      ...cloudEvent(
        'InspectionBreachRetracted',
        'sla.breach_retracted (inspection)',
        'A completion learned late shows the inspection was done by its deadline; ' +
          '`data.retracts` names the breach event.',
        inspectionBreachRetractedSchema,
      ),
      bindings: { kafka: { key: siteKey, bindingVersion: KAFKA_BINDING_VERSION } },
    },
    DeadLetter: {
      name: 'DeadLetter',
      title: 'Unprocessable incident.events record',
      summary:
        'A record of incident.events the projector could not apply, copied with its original ' +
        'key, value and headers; the reason and origin are in the dlq-* headers.',
      headers: {
        type: 'object',
        properties: {
          [DLQ_HEADERS.error]: { type: 'string', description: 'Machine-readable reason' },
          [DLQ_HEADERS.message]: { type: 'string', description: 'Details (at most 2,000 chars)' },
          [DLQ_HEADERS.topic]: { type: 'string' },
          [DLQ_HEADERS.partition]: { type: 'string', description: 'Decimal' },
          [DLQ_HEADERS.offset]: { type: 'string', description: 'Decimal' },
          [DLQ_HEADERS.timestamp]: { type: 'string', description: 'Epoch ms, decimal' },
          [DLQ_HEADERS.group]: { type: 'string', description: 'The consumer group that gave up' },
        },
        required: Object.values(DLQ_HEADERS),
      },
      payload: { description: 'The original record value, unchanged (possibly not JSON)' },
      bindings: {
        kafka: {
          key: { type: 'string', description: 'The original record key' },
          bindingVersion: KAFKA_BINDING_VERSION,
        },
      },
    },
  };

  const ref = (name: string) => ({ $ref: `#/components/messages/${name}` });
  const channel = (address: string, description: string, names: string[]): Json => ({
    address,
    description,
    messages: Object.fromEntries(names.map((n) => [n, ref(n)])),
  });
  const operation = (action: 'send' | 'receive', channelId: string, summary: string): Json => ({
    action,
    channel: { $ref: `#/channels/${channelId}` },
    summary,
  });

  return {
    asyncapi: '3.1.0',
    info: {
      title: 'SLA timer service: Kafka topics',
      version: '1',
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      description:
        'CloudEvents 1.0 in structured mode (`content-type: application/cloudevents+json`), keyed ' +
        'by incident id, so the events of one incident stay in order. Delivery is at least once: ' +
        '**consumers dedupe by event id** (`id`; on incident.events by `source` + `id`). The ids of ' +
        'SLA events are deterministic (the same timer firing always has the same id), so a ' +
        're-publish after a crash carries the id of the first. Topic names are the defaults ' +
        '(KAFKA_TOPIC_EVENTS, KAFKA_TOPIC_WARNINGS, KAFKA_TOPIC_ESCALATIONS, KAFKA_TOPIC_DLQ, ' +
        'KAFKA_TOPIC_REPORTS); `sla.reports` is keyed by month.',
    },
    servers: {
      local: {
        host: '127.0.0.1:9092',
        protocol: 'kafka',
        description:
          'The single-node broker of `npm run up` (KAFKA_BROKERS); a deployment names its own ' +
          'bootstrap brokers.',
      },
    },
    defaultContentType: EVENT_CONTENT_TYPE,
    channels: {
      incidentEvents: channel(
        topics.events,
        'Incident lifecycle events: the event store (kept forever by default). Written by the ' +
          'ingest API only after validation; read by the projector.',
        ['IncidentEvent'],
      ),
      slaWarnings: channel(
        topics.warnings,
        'Approaching deadlines, for the current handler and the service desk.',
        ['SlaWarning', 'InspectionWarning'],
      ),
      slaEscalations: channel(
        topics.escalations,
        'Breaches, escalations (automatic and manual), retractions and stand-downs, for on-call ' +
          'pagers. Every escalation reaches this topic.',
        [
          'SlaBreached',
          'IncidentEscalated',
          'SlaBreachRetracted',
          'SlaStandDown',
          'InspectionBreached',
          'InspectionBreachRetracted',
        ],
      ),
      slaReports: channel(
        topics.reports,
        'The monthly report issued once per closed month, for the management office and finance.',
        ['ReportMonthlyIssued'],
      ),
      deadLetters: channel(
        topics.dlq,
        'incident.events records that could not be processed, for operators.',
        ['DeadLetter'],
      ),
    },
    operations: {
      publishIncidentEvents: operation(
        'send',
        'incidentEvents',
        'POST /v1/events writes validated events (acks=all) before answering 202.',
      ),
      projectIncidentEvents: operation(
        'receive',
        'incidentEvents',
        'The projector applies each (source, id) once, in Kafka order per incident.',
      ),
      publishSlaWarnings: operation('send', 'slaWarnings', 'The outbox relay publishes warnings.'),
      publishSlaEscalations: operation(
        'send',
        'slaEscalations',
        'The outbox relay publishes breaches, escalations and retractions.',
      ),
      publishSlaReports: operation(
        'send',
        'slaReports',
        'The scheduler issues the report and the outbox relay publishes its event.',
      ),
      publishDeadLetters: operation(
        'send',
        'deadLetters',
        'The projector parks records it cannot apply.',
      ),
    },
    components: { messages, schemas: schemas.all() },
  };
}
