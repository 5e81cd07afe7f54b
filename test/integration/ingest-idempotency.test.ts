/**
 * Idempotency end to end (issue 5): the service's own api and projector roles (startApp), the real
 * broker and Postgres. The same event posted twice answers 202 twice and is applied once; a
 * different payload under a used (source, id) answers 202 (ingest cannot know) and is reported by
 * the projector (metric) and not applied.
 */
import type { RunningApp } from '../../src/composition';
import { waitFor } from '../helpers/infra';
import type { OwnDatabase } from './fixtures/projector-data';
import { startTestService, type TestService } from './fixtures/service';

jest.setTimeout(90_000);

let service: TestService;
let db: OwnDatabase;
let app: RunningApp;
let authorization: string;

beforeAll(async () => {
  service = await startTestService('ingest_idem');
  ({ db, app, authorization } = service);
});

afterAll(async () => {
  await service?.stop();
});

async function post(body: unknown): Promise<number> {
  const res = await fetch(`http://${app.address}/v1/events`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://${app.address}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : 0;
}

const reported = {
  specversion: '1.0',
  id: 'idem-1',
  source: '/itest',
  type: 'incident.reported',
  subject: 'INC-IDEM-1',
  time: new Date(Date.now() - 120_000).toISOString(),
  data: { severity: 'III', title: 'Printer queue stuck', site: 'HQ' },
};

test('the same event twice: 202 twice, applied once', async () => {
  expect(await post(reported)).toBe(202);
  expect(await post(reported)).toBe(202);
  // A marker event after both copies: once it is applied, both copies have been consumed.
  expect(await post({ ...reported, id: 'idem-2', type: 'incident.acknowledged', data: {} })).toBe(
    202,
  );
  await waitFor(
    async () =>
      (await db.pool.query(`SELECT 1 FROM incident_events WHERE event_id = 'idem-2'`)).rowCount ===
      1,
    { what: 'the marker event applied', timeoutMs: 30_000 },
  );
  const { rows } = await db.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM incident_events WHERE incident_id = 'INC-IDEM-1' AND event_id = 'idem-1'`,
  );
  expect(Number(rows[0]!.n)).toBe(1);
});

test('a different payload under a used id: reported by the projector, not applied', async () => {
  const conflictsBefore = await metric('sla_projector_digest_conflicts_total');
  const forged = {
    ...reported,
    data: { ...reported.data, severity: 'I', title: 'Something else' },
  };
  expect(await post(forged)).toBe(202);
  await waitFor(
    async () => (await metric('sla_projector_digest_conflicts_total')) > conflictsBefore,
    {
      what: 'the digest conflict counted',
      timeoutMs: 30_000,
    },
  );
  const { rows } = await db.pool.query<{ title: string; severity: string }>(
    `SELECT title, severity FROM incidents WHERE incident_id = 'INC-IDEM-1'`,
  );
  expect(rows[0]).toEqual({ title: 'Printer queue stuck', severity: 'III' });
});

test('a used id naming another incident: a conflict, applied to neither', async () => {
  const conflictsBefore = await metric('sla_projector_digest_conflicts_total');
  // Keyed by the other incident, so it may reach another partition than the first copy.
  expect(await post({ ...reported, subject: 'INC-IDEM-OTHER' })).toBe(202);
  await waitFor(
    async () => (await metric('sla_projector_digest_conflicts_total')) > conflictsBefore,
    { what: 'the digest conflict counted', timeoutMs: 30_000 },
  );
  const { rows } = await db.pool.query<{ events: string; incidents: string }>(
    `SELECT (SELECT count(*) FROM incident_events WHERE incident_id = 'INC-IDEM-OTHER') AS events,
            (SELECT count(*) FROM incidents WHERE incident_id = 'INC-IDEM-OTHER') AS incidents`,
  );
  expect(rows[0]).toEqual({ events: '0', incidents: '0' });
});
