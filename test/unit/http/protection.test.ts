import net from 'node:net';
import { ApiKeyStore, createApiKey } from '../../../src/http/api-keys';
import { installAuth } from '../../../src/http/auth';
import { installProtection } from '../../../src/http/protection';
import { buildServer } from '../../../src/http/server';
import { createLogger } from '../../../src/infra/logger';
import { createMetricsRegistry } from '../../../src/infra/metrics';

/** Keeps the event loop busy, which is what an overloaded process looks like to under-pressure. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

describe('load shedding', () => {
  it('answers 503 + Retry-After while the event loop lags, and lets probes through', async () => {
    const key = createApiKey(['incidents:read'], 'k');
    const metrics = createMetricsRegistry();
    const app = buildServer({ logger: createLogger('silent'), metrics, readiness: [] });
    installAuth(app, ApiKeyStore.fromConfig([key.configEntry]));
    await installProtection(
      app,
      { rateLimitMax: 0, rateLimitWindowMs: 1000, maxEventLoopDelayMs: 5, sampleIntervalMs: 20 },
      metrics,
    );
    app.get('/work', async () => ({ ok: true }));
    await app.ready();
    const headers = { authorization: `Bearer ${key.token}` };
    try {
      expect((await app.inject({ url: '/work', headers })).statusCode).toBe(200);
      // Lag the loop until the sampler notices (polling with a deadline, never a fixed sleep).
      const deadline = Date.now() + 10_000;
      let shed: Awaited<ReturnType<typeof app.inject>> | undefined;
      while (!shed && Date.now() < deadline) {
        blockEventLoop(60);
        await new Promise((r) => setTimeout(r, 25));
        blockEventLoop(60);
        const res = await app.inject({ url: '/work', headers });
        if (res.statusCode === 503) shed = res;
        else if ((await app.inject('/healthz')).statusCode !== 200) throw new Error('probe shed');
      }
      expect(shed?.statusCode).toBe(503);
      expect(shed?.headers['retry-after']).toBe('1');
      expect(shed?.json()).toMatchObject({ code: 'overloaded' });
      expect(await metrics.getSingleMetricAsString('sla_http_rejected_total')).toContain(
        'reason="overloaded"',
      );
    } finally {
      await app.close();
    }
  });
});

describe('request timeout', () => {
  it('answers 408 to a client that never finishes its request (HTTP_REQUEST_TIMEOUT_MS)', async () => {
    const app = buildServer({
      logger: createLogger('silent'),
      metrics: createMetricsRegistry(),
      readiness: [],
      requestTimeoutMs: 1000,
    });
    app.post('/slow', async () => ({ ok: true }));
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = new URL(address);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port: Number(port) }, () => {
          // Headers promise a body that never comes.
          socket.write(
            'POST /slow HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":',
          );
        });
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await app.close();
    }
  });
});
