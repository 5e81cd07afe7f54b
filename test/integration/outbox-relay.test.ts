/**
 * The pipelined outbox relay (src/outbox/relay.ts, issue 12) against real Postgres and Kafka:
 * a round waiting for Kafka's acknowledgement does not hold up the next one, an incident's rows
 * still reach its partition in order, and a topic that fails backs off without holding up the
 * others.
 *
 * A slow acknowledgement is made with a real publisher that holds one chosen record back until
 * the test releases it (HeldPublisher: the whole port, forwarding to the real KafkaPublisher).
 */
import { Registry } from 'prom-client';
import { createKafka, KafkaPublisher, type EventPublisher } from '../../src/infra/kafka';
import { createLogger } from '../../src/infra/logger';
import { PgListener } from '../../src/infra/pg-listener';
import { createOutboxMetrics } from '../../src/outbox/metrics';
import { OutboxRelay, type OutboxRelaySettings } from '../../src/outbox/relay';
import { createTopics, testConfig, uniqueTopic, waitFor } from '../helpers/infra';
import {
  collectTopics,
  ownDatabase,
  type ConsumedRecord,
  type OwnDatabase,
} from './fixtures/scheduler-data';

jest.setTimeout(60_000);

/** Holds back every publish call carrying `heldId` until release() (a slow acks=all produce). */
class HeldPublisher implements EventPublisher {
  private releaseHeld!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.releaseHeld = resolve));
  /** Publish calls waiting at the gate. */
  waiting = 0;

  constructor(
    private readonly inner: EventPublisher,
    private readonly heldId: string,
  ) {}

  async publish(...[topic, records, options]: Parameters<EventPublisher['publish']>) {
    if (records.some((r) => String(r.value).includes(`"${this.heldId}"`))) {
      this.waiting += 1;
      await this.gate;
    }
    await this.inner.publish(topic, records, options);
  }

  release(): void {
    this.releaseHeld();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

let db: OwnDatabase;
let topic: string;
let consumed: Awaited<ReturnType<typeof collectTopics>>;

beforeAll(async () => {
  db = await ownDatabase('outbox_relay');
  topic = uniqueTopic('relay.pipeline');
  await createTopics([topic]);
  consumed = await collectTopics([topic]);
});

afterAll(async () => {
  await consumed?.stop();
  await db?.drop();
});

async function insertRows(rows: { id: string; key: string }[], to = topic): Promise<void> {
  // One statement: one NOTIFY, and every row visible to the same claim.
  await db.pool.query(
    `INSERT INTO outbox (id, topic, message_key, type, payload)
     SELECT r.id, $1, r.key, 'sla.breached', jsonb_build_object('id', r.id, 'subject', r.key)
     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS r(id, key, n) ORDER BY n`,
    [to, rows.map((r) => r.id), rows.map((r) => r.key)],
  );
}

function startRelay(publisher: EventPublisher, settings: Partial<OutboxRelaySettings> = {}) {
  const log = createLogger('warn');
  const listener = new PgListener(db.pool, log);
  const relay = new OutboxRelay(
    {
      pool: db.pool,
      log,
      publisher,
      metrics: createOutboxMetrics(new Registry(), db.pool),
      listener,
    },
    {
      batchSize: 500,
      maxInFlight: 3,
      // Far beyond the waits below: only wake-ups and the pipeline's own follow-ups publish.
      pollIntervalMs: 600_000,
      publishTimeoutMs: 5_000,
      retryMinMs: 100,
      retryMaxMs: 1_000,
      ...settings,
    },
  );
  return {
    relay,
    start: async () => {
      await listener.start();
      await relay.start();
    },
    stop: async () => {
      await relay.stop();
      await listener.stop();
      await publisher.close().catch(() => undefined);
    },
  };
}

const newKafka = () =>
  createKafka({ brokers: testConfig().brokers, clientId: 'relay-test' }, createLogger('warn'));

const idsOf = (records: ConsumedRecord[]) => records.map((r) => r.value.id);

test('a round waiting for Kafka does not hold up the next; a held key waits, in order', async () => {
  const tag = Date.now().toString(36);
  const [a, b] = [`INC-RELAY-A-${tag}`, `INC-RELAY-B-${tag}`];
  const a1 = `${tag}-a1`;
  const publisher = new HeldPublisher(
    new KafkaPublisher(newKafka(), 5_000, { idempotent: false }),
    a1,
  );
  const { relay, start, stop } = startRelay(publisher);
  await start();
  try {
    await insertRows([{ id: a1, key: a }]);
    await waitFor(() => publisher.waiting === 1, { what: 'the round with a1 waiting for Kafka' });

    // a2 is older than b1, so a claim that did not skip key a would take it along with b1.
    await insertRows([
      { id: `${tag}-a2`, key: a },
      { id: `${tag}-b1`, key: b },
    ]);
    await waitFor(() => idsOf(consumed.records).includes(`${tag}-b1`), {
      what: 'b1 published while the round with a1 still waits',
    });
    expect(idsOf(consumed.records.filter((r) => r.key === a))).toEqual([]);

    publisher.release();
    const ofA = await waitFor(
      () => {
        const ids = idsOf(consumed.records.filter((r) => r.key === a));
        return ids.length === 2 && ids;
      },
      { what: 'a1 and a2 published after the release, with no further wake-up' },
    );
    expect(ofA).toEqual([a1, `${tag}-a2`]);
    await relay.settled();
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM outbox_unsent WHERE id LIKE $1 || '-%'`,
      [tag],
    );
    expect(rows[0]!.n).toBe(0);
  } finally {
    publisher.release();
    await stop();
  }
});

test('a topic whose publish fails backs off alone: the other topics go out at once', async () => {
  const tag = Date.now().toString(36);
  // Never created, and the broker does not create topics: every publish to it fails.
  const missing = uniqueTopic('relay.missing');
  const publisher = new KafkaPublisher(newKafka(), 5_000, { idempotent: false });
  // The failing topic's first retry comes long after this test's waits.
  const { start, stop } = startRelay(publisher, {
    publishTimeoutMs: 1_500,
    retryMinMs: 120_000,
    retryMaxMs: 120_000,
  });
  await start();
  try {
    await insertRows([{ id: `${tag}-lost`, key: `INC-RELAY-M-${tag}` }], missing);
    const attempts = async () => {
      const { rows } = await db.pool.query<{ attempts: number; last_error: string | null }>(
        `SELECT attempts, last_error FROM outbox_unsent WHERE id = $1`,
        [`${tag}-lost`],
      );
      return rows[0];
    };
    await waitFor(async () => (await attempts())?.attempts === 1, {
      what: 'the publish to the missing topic failed once',
    });

    await insertRows([{ id: `${tag}-page`, key: `INC-RELAY-P-${tag}` }]);
    await waitFor(() => idsOf(consumed.records).includes(`${tag}-page`), {
      what: 'the page published while the missing topic backs off',
    });
    const lost = await attempts();
    expect(lost?.attempts).toBe(1);
    expect(lost?.last_error).toEqual(expect.any(String));
  } finally {
    await stop();
  }
});
