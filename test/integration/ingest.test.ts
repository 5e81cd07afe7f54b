/**
 * POST /v1/events against the real broker, over real HTTP: what Kafka holds after a 202, and a
 * bounded 503 + Retry-After when Kafka is unreachable or never answers. The shared broker is never
 * stopped: "down" is a publisher pointed at a closed port, "hung" one pointed at a port that accepts
 * connections and never says anything.
 */
import net from 'node:net';
import { CloudEvent, emitterFor, httpTransport } from 'cloudevents';
import type { Consumer, EachMessagePayload, Kafka } from 'kafkajs';
import { loadConfig, type Config } from '../../src/config';
import { CoalescingPublisher } from '../../src/application/coalescing-publisher';
import { registerApiFoundation, registerIngestApi } from '../../src/http/api';
import { ACCEPTED_AT_HEADER, EVENT_TYPES } from '../../src/contracts/events';
import { createApiKey } from '../../src/http/api-keys';
import { buildServer } from '../../src/http/server';
import { systemClock } from '../../src/infra/clock';
import { createKafka, KafkaPublisher } from '../../src/infra/kafka';
import { createLogger } from '../../src/infra/logger';
import { createMetricsRegistry } from '../../src/infra/metrics';
import {
  createTopics,
  freePort,
  testConfig,
  testKafka,
  uniqueTopic,
  waitFor,
} from '../helpers/infra';
import { CONTENT_MODES, sdkEventsOfEveryType, sdkRequests } from '../helpers/cloudevents-sdk';

jest.setTimeout(60_000);

interface Api {
  url: string;
  authorization: string;
  config: Config;
  close(): Promise<void>;
}

/** The api role's ingest half, listening on a free port, producing to `brokers`. */
async function startApi(brokers: string[], env: Record<string, string> = {}): Promise<Api> {
  const key = createApiKey(['events:write'], 'itest');
  const config = loadConfig({
    API_KEYS: key.configEntry,
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC_EVENTS: env.KAFKA_TOPIC_EVENTS ?? 'unused',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const log = createLogger('silent');
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'ingest-itest' }, log);
  const publisher = new KafkaPublisher(kafka, config.KAFKA_PRODUCE_TIMEOUT_MS);
  const metrics = createMetricsRegistry();
  const app = buildServer({ logger: log, metrics, readiness: [] });
  const context = { config, log, metrics, clock: systemClock, publisher };
  await registerApiFoundation(app, context);
  // As the composition root wires it (registerApiRole): concurrent POSTs share produce calls.
  const ingestPublisher = new CoalescingPublisher(publisher, {
    defaultTimeoutMs: config.INGEST_PUBLISH_TIMEOUT_MS,
  });
  app.addHook('onClose', () => ingestPublisher.close());
  await registerIngestApi(app, { ...context, publisher: ingestPublisher });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: address,
    authorization: `Bearer ${key.token}`,
    config,
    close: async () => {
      await app.close();
      await publisher.close().catch(() => undefined);
    },
  };
}

async function post(api: Api, body: unknown, contentType = 'application/json') {
  const res = await fetch(`${api.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: api.authorization, 'content-type': contentType },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
}

function event(subject: string, id: string, overrides: Record<string, unknown> = {}) {
  return {
    specversion: '1.0',
    id,
    source: '/itest',
    type: 'incident.reported',
    subject,
    time: new Date(Date.now() - 60_000).toISOString(),
    data: { severity: 'II', title: 'Disk array degraded', site: 'DC-1' },
    ...overrides,
  };
}

const open: Array<{ disconnect(): Promise<void> } | { close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await ('close' in c ? c.close() : c.disconnect());
});

async function consume(kafka: Kafka, topic: string): Promise<EachMessagePayload[]> {
  const consumer: Consumer = kafka.consumer({
    groupId: uniqueTopic('ingest-reader'),
    maxWaitTimeInMs: 250,
  });
  open.push(consumer);
  const seen: EachMessagePayload[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async (m) => void seen.push(m) });
  return seen;
}

describe('with the real broker', () => {
  it('202 after the record is on incident.events: key = subject, value = the event, cloudevents header', async () => {
    const topic = uniqueTopic('incident.events');
    await createTopics([{ name: topic, partitions: 3 }]);
    const api = await startApi(testConfig().brokers, { KAFKA_TOPIC_EVENTS: topic });
    open.push(api);

    const single = event('INC-IT-1', 'it-1');
    const before = Date.now();
    const res = await post(api, single, 'application/cloudevents+json');
    const after = Date.now();
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 1, ids: ['it-1'] });

    const seen = await consume(testKafka('ingest-itest-reader'), topic);
    await waitFor(() => seen.length >= 1, { what: 'the record on the topic' });
    const { message } = seen[0]!;
    expect(message.key?.toString()).toBe('INC-IT-1');
    expect(JSON.parse(message.value!.toString())).toEqual(single);
    expect(message.headers?.['content-type']?.toString()).toBe('application/cloudevents+json');
    // SPEC §3 "Effective time": when the service accepted it, in epoch ms.
    const acceptedAt = Number(message.headers?.['sla-accepted-at']?.toString());
    expect(acceptedAt).toBeGreaterThanOrEqual(before);
    expect(acceptedAt).toBeLessThanOrEqual(after);
  });

  it('a batch lands whole, each incident in order on its partition; the same event again is 202 again', async () => {
    const topic = uniqueTopic('incident.events');
    await createTopics([{ name: topic, partitions: 3 }]);
    const api = await startApi(testConfig().brokers, { KAFKA_TOPIC_EVENTS: topic });
    open.push(api);

    const batch = Array.from({ length: 30 }, (_, i) =>
      event(
        `INC-IT-B${i % 3}`,
        `b-${i}`,
        i % 3 === 0 ? {} : { type: 'incident.acknowledged', data: { by: `e${i}` } },
      ),
    );
    const res = await post(api, batch, 'application/cloudevents-batch+json');
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(30);
    // Idempotent for the caller: a retry of one already written event answers 202 again.
    expect((await post(api, batch[4])).status).toBe(202);

    const seen = await consume(testKafka('ingest-itest-reader'), topic);
    await waitFor(() => seen.length >= 31, { what: '31 records' });
    for (let k = 0; k < 3; k++) {
      const ids = seen
        .filter((m) => m.message.key?.toString() === `INC-IT-B${k}`)
        .map((m) => (JSON.parse(m.message.value!.toString()) as { id: string }).id);
      const expected = batch.filter((e) => e.subject === `INC-IT-B${k}`).map((e) => e.id);
      if (k === 1) expected.push('b-4');
      expect(ids).toEqual(expected);
      // One incident, one partition.
      expect(
        new Set(
          seen.filter((m) => m.message.key?.toString() === `INC-IT-B${k}`).map((m) => m.partition),
        ).size,
      ).toBe(1);
    }
  });
});

describe('CloudEvents content modes, with the official SDK, against the real broker', () => {
  it('every event type in binary, structured and batch mode: the records on Kafka are identical', async () => {
    const topic = uniqueTopic('incident.events');
    await createTopics([{ name: topic, partitions: 3 }]);
    const api = await startApi(testConfig().brokers, { KAFKA_TOPIC_EVENTS: topic });
    open.push(api);

    // The same 16 events (same ids) under one subject per mode: the subject is the only difference.
    const at = Date.now() - 120_000;
    for (const mode of CONTENT_MODES) {
      const events = sdkEventsOfEveryType(`INC-MODE-${mode}`, 'm', at);
      for (const request of sdkRequests(mode, events)) {
        const res = await fetch(`${api.url}/v1/events`, {
          method: 'POST',
          headers: { ...request.headers, authorization: api.authorization },
          body: request.body,
        });
        expect({ mode, status: res.status, body: await res.text() }).toMatchObject({ status: 202 });
      }
    }

    const expected = CONTENT_MODES.length * EVENT_TYPES.length;
    const seen = await consume(testKafka('ingest-modes-reader'), topic);
    await waitFor(() => seen.length >= expected, { what: `${expected} records` });
    const byMode = new Map(
      CONTENT_MODES.map((mode) => {
        const records = seen
          .filter((m) => m.message.key?.toString() === `INC-MODE-${mode}`)
          .map((m) => ({
            value: m.message.value!.toString().replace(`"INC-MODE-${mode}"`, '"INC"'),
            // Every header but the acceptance instant, which differs per request by design.
            headers: Object.fromEntries(
              Object.entries(m.message.headers ?? {})
                .filter(([k]) => k !== ACCEPTED_AT_HEADER)
                .map(([k, v]) => [k, String(v)]),
            ),
          }));
        return [mode, records] as const;
      }),
    );
    const binary = byMode.get('binary')!;
    expect(binary.map((r) => (JSON.parse(r.value) as { type: string }).type)).toEqual(EVENT_TYPES);
    expect(byMode.get('structured')).toEqual(binary);
    expect(byMode.get('batch')).toEqual(binary);
    expect(binary[0]!.headers).toEqual({ 'content-type': 'application/cloudevents+json' });
  });
});

describe('the SDK emitter, as the README shows it', () => {
  it('emitterFor(httpTransport(url)) posts in binary mode and gets 202; the record is the event', async () => {
    const topic = uniqueTopic('incident.events');
    await createTopics([{ name: topic, partitions: 1 }]);
    const api = await startApi(testConfig().brokers, { KAFKA_TOPIC_EVENTS: topic });
    open.push(api);

    const emit = emitterFor(httpTransport(`${api.url}/v1/events`));
    const sent = new CloudEvent({
      id: 'readme-1',
      source: '/servicedesk',
      type: 'incident.reported',
      subject: 'INC-README-1',
      time: new Date(Date.now() - 60_000).toISOString(),
      data: { severity: 'I', title: 'Core switch down', site: '长葛 data centre' },
    });
    const res = (await emit(sent, { headers: { authorization: api.authorization } })) as {
      body: string;
    };
    expect(JSON.parse(res.body)).toEqual({ accepted: 1, ids: ['readme-1'] });

    const seen = await consume(testKafka('ingest-readme-reader'), topic);
    await waitFor(() => seen.length >= 1, { what: 'the record' });
    expect(JSON.parse(seen[0]!.message.value!.toString())).toEqual({
      specversion: '1.0',
      id: 'readme-1',
      source: '/servicedesk',
      type: 'incident.reported',
      subject: 'INC-README-1',
      time: sent.time,
      data: { severity: 'I', title: 'Core switch down', site: '长葛 data centre' },
    });
  });
});

describe('when Kafka is not there', () => {
  // The answer is bounded by the publish timeouts (INGEST_PUBLISH_TIMEOUT_MS, 1 s here), not by
  // kafkajs' own connection retries: a request that waited for those would outlive the test's
  // 20 s. No wall-clock figure is asserted; `npm run chaos` (broker-outage) measures the 503s.
  const UNAVAILABLE = { INGEST_PUBLISH_TIMEOUT_MS: '1000' };

  it('503 + Retry-After when the broker port is closed, again and again', async () => {
    const api = await startApi([`127.0.0.1:${await freePort()}`], UNAVAILABLE);
    open.push(api);
    const res = await post(api, event('INC-IT-DOWN', 'down-1'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.body).toMatchObject({ code: 'kafka_unavailable' });
    // And again: the second request is answered too (no stuck connect attempt in between).
    const again = await post(api, event('INC-IT-DOWN', 'down-2'));
    expect(again.status).toBe(503);
  }, 20_000);

  it('503 + Retry-After when the broker accepts connections and never answers', async () => {
    const silent = net.createServer(() => undefined); // accepts, never replies
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const sockets = new Set<net.Socket>();
    silent.on('connection', (s) => sockets.add(s));
    open.push({
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    });
    const api = await startApi(
      [`127.0.0.1:${(silent.address() as net.AddressInfo).port}`],
      UNAVAILABLE,
    );
    open.push(api);
    const res = await post(api, [event('INC-IT-HUNG', 'hung-1'), event('INC-IT-HUNG', 'hung-2')]);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  }, 20_000);
});
