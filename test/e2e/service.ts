/**
 * The running service for end-to-end tests: `src/main.ts` in a child process with every role, its
 * own database and topics (from the environment, exactly as an operator would configure it), and
 * small clients for its HTTP API, its SSE stream and its Kafka topics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { createApiKey } from '../../src/http/api-keys';
import {
  createTopics,
  dropDatabase,
  freePort,
  testConfig,
  testKafka,
  uniqueTopic,
  waitFor,
} from '../helpers/infra';

const MAIN = path.resolve(__dirname, '../../src/main.ts');

export interface RunningService {
  baseUrl: string;
  topics: { events: string; warnings: string; escalations: string; dlq: string };
  databaseUrl: string;
  /** Authorization headers for an events:write key and an incidents:read key. */
  auth: { write: Record<string, string>; read: Record<string, string> };
  /** What the service wrote to stdout/stderr (shown when a test fails). */
  output(): string;
  stop(): Promise<void>;
}

export async function startService(label: string): Promise<RunningService> {
  const { brokers, databaseUrl: runDb } = testConfig();
  const topics = {
    events: uniqueTopic(`${label}.events`),
    warnings: uniqueTopic(`${label}.warnings`),
    escalations: uniqueTopic(`${label}.escalations`),
    dlq: uniqueTopic(`${label}.dlq`),
  };
  await createTopics([
    { name: topics.events, partitions: 3 },
    topics.warnings,
    topics.escalations,
    topics.dlq,
  ]);
  const url = new URL(runDb);
  const dbName = `${url.pathname.slice(1)}_${label}`;
  url.pathname = `/${dbName}`;
  const writer = createApiKey(['events:write'], 'e2e-writer');
  const reader = createApiKey(['incidents:read'], 'e2e-reader');
  const port = await freePort();

  let output = '';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      ...process.env,
      ROLES: 'api,projector,scheduler',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      DATABASE_URL: url.toString(), // main.ts creates and migrates it
      KAFKA_BROKERS: brokers.join(','),
      KAFKA_CLIENT_ID: `e2e-${label}`,
      KAFKA_TOPIC_EVENTS: topics.events,
      KAFKA_TOPIC_WARNINGS: topics.warnings,
      KAFKA_TOPIC_ESCALATIONS: topics.escalations,
      KAFKA_TOPIC_DLQ: topics.dlq,
      PROJECTOR_GROUP_ID: uniqueTopic(`${label}.projector`),
      API_KEYS: `${writer.configEntry},${reader.configEntry}`,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      // A quick heartbeat shows the stream alive in the test's window.
      STREAM_HEARTBEAT_MS: '2000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await dropDatabase(runDb, dbName);
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`service exited (${child.exitCode}):\n${output}`);
        const res = await fetch(`${baseUrl}/readyz`);
        return res.status === 200;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: 'the service to be ready' },
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- service output ---\n${output}`, { cause: err });
  }
  return {
    baseUrl,
    topics,
    databaseUrl: url.toString(),
    auth: {
      write: { authorization: `Bearer ${writer.token}` },
      read: { authorization: `Bearer ${reader.token}` },
    },
    output: () => output,
    stop,
  };
}

/** A structured-mode lifecycle event (SPEC §3) about `incident` at `at` (epoch ms), fresh id. */
export function lifecycleEvent(
  type: string,
  incident: string,
  at: number,
  data: object = {},
  source = '/e2e/servicedesk',
) {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source,
    type,
    subject: incident,
    time: new Date(at).toISOString(),
    data,
  };
}

// ---------------------------------------------------------------------------------------------
// Kafka: a plain kafkajs consumer, as a pager would run it.

export interface Received {
  topic: string;
  /** When this process received it (epoch ms). */
  receivedAt: number;
  /** The record timestamp (producer CreateTime). */
  timestamp: number;
  key: string | null;
  event: CloudEvent;
}

export interface CloudEvent {
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  data: Record<string, unknown>;
}

export async function consume(
  topics: string[],
): Promise<{ received: Received[]; stop(): Promise<void> }> {
  const consumer: Consumer = testKafka('e2e-pager').consumer({
    groupId: uniqueTopic('e2e.pager'),
  });
  const received: Received[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  const joined = new Promise<void>((resolve) =>
    consumer.on(consumer.events.GROUP_JOIN, () => resolve()),
  );
  await consumer.run({
    eachMessage: async ({ topic, message }: { topic: string; message: KafkaMessage }) => {
      received.push({
        topic,
        receivedAt: Date.now(),
        timestamp: Number(message.timestamp),
        key: message.key?.toString() ?? null,
        event: JSON.parse(message.value!.toString()) as CloudEvent,
      });
    },
  });
  await joined;
  return { received, stop: () => consumer.disconnect() };
}

// ---------------------------------------------------------------------------------------------
// SSE: what a dashboard sees.

export interface SseEvent {
  id: string | null;
  event: string;
  data: Record<string, unknown>;
  receivedAt: number;
}

export function openStream(
  baseUrl: string,
  query: string,
  headers: Record<string, string>,
): Promise<{ events: SseEvent[]; comments: () => number; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${baseUrl}/v1/stream${query}`, { headers }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET /v1/stream: ${res.statusCode}`));
        res.resume();
        return;
      }
      const events: SseEvent[] = [];
      let comments = 0;
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        let end: number;
        while ((end = pending.indexOf('\n\n')) !== -1) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments += 1;
            const m = /^([a-z]+): ?(.*)$/.exec(line);
            if (m) fields.set(m[1]!, m[2]!);
          }
          if (fields.has('data')) {
            events.push({
              id: fields.get('id') ?? null,
              event: fields.get('event') ?? 'message',
              data: JSON.parse(fields.get('data')!) as Record<string, unknown>,
              receivedAt: Date.now(),
            });
          }
        }
      });
      res.on('error', () => undefined);
      resolve({ events, comments: () => comments, close: () => req.destroy() });
    });
    req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
  });
}
