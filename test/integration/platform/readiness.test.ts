import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '../../../src/config';
import { createContext, startApp, type RunningApp } from '../../../src/composition';
import { createLogger } from '../../../src/infra/logger';
import { migrate } from '../../../src/infra/migrate';
import { startKafka, type RunningKafka } from '../../../scripts/kafka-local';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy';
import { freePort, waitFor } from '../../helpers/infra';

/**
 * /readyz names the dependency that is missing and recovers when it is back. Kafka gets a broker of
 * its own (on another port) that this test stops and starts; Postgres is reached through a proxy
 * that the test cuts and restores. The shared broker and database are never touched.
 */
describe('readiness', () => {
  // A broker of this run's own, on ports the OS picks, so parallel runs never stop each other's.
  let kafkaPort: number;
  let controllerPort: number;
  let dataDir: string;
  let kafka: RunningKafka;
  let proxy: TcpProxy;
  let app: RunningApp;

  beforeAll(async () => {
    kafkaPort = await freePort();
    controllerPort = await freePort();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'readiness-kafka-'));
    kafka = await startKafka({ port: kafkaPort, controllerPort, dataDir, fresh: true });
    const db = new URL(process.env.DATABASE_URL!);
    proxy = await startTcpProxy({ host: db.hostname, port: Number(db.port || 5432) });
    db.host = `127.0.0.1:${proxy.port}`;
    const config = loadConfig({
      ROLES: 'api',
      HTTP_PORT: '0',
      DATABASE_URL: db.toString(),
      KAFKA_BROKERS: kafka.brokers,
      LOG_LEVEL: 'silent',
    });
    const context = createContext(config, createLogger('silent'));
    await migrate(context.pool);
    app = await startApp(context);
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
    await proxy?.close();
    await kafka?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  const readyz = async () => {
    const res = await app.http.inject({ method: 'GET', url: '/readyz' });
    return { status: res.statusCode, body: res.json<{ status: string; missing: string[] }>() };
  };

  it('is ready when Kafka and Postgres answer, and /healthz needs nothing', async () => {
    await expect(readyz()).resolves.toMatchObject({
      status: 200,
      body: { status: 'ready', missing: [] },
    });
    const health = await app.http.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
  });

  it('created its topics on a broker that had none (KAFKA_CREATE_TOPICS)', async () => {
    const admin = new Kafka({
      clientId: 'readiness-test',
      brokers: [kafka.brokers],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({
        topics: ['incident.events', 'sla.warnings', 'sla.escalations', 'incident.events.dlq'],
      });
      expect(Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]))).toEqual({
        'incident.events': 6,
        'sla.warnings': 3,
        'sla.escalations': 3,
        'incident.events.dlq': 3,
      });
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: 'incident.events' }],
      });
      const retention = configs.resources[0]!.configEntries.find(
        (e) => e.configName === 'retention.ms',
      );
      expect(retention?.configValue).toBe('-1');
    } finally {
      await admin.disconnect();
    }
  });

  it('names Postgres when it is unreachable and recovers when it is back', async () => {
    proxy.cut();
    const down = await waitFor(
      async () => {
        const r = await readyz();
        return r.status === 503 ? r : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(down.body.missing).toEqual(['postgres']);
    proxy.restore();
    await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 15_000 });
  }, 40_000);

  it('names Kafka when the broker is down and recovers when it is back', async () => {
    await kafka.stop();
    const down = await waitFor(
      async () => {
        const r = await readyz();
        return r.status === 503 ? r : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(down.body.missing).toEqual(['kafka']);
    kafka = await startKafka({ port: kafkaPort, controllerPort, dataDir });
    await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 30_000 });
  }, 120_000);

  it('serves Prometheus metrics without a key', async () => {
    const res = await app.http.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('process_cpu_user_seconds_total');
  });
});
