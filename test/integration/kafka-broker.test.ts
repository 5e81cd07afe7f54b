/**
 * The broker the test infrastructure provides really works with kafkajs 2.2.4, whose protocol
 * versions are older than Kafka 4.x's newest: consumer groups, the idempotent producer, key-based
 * partitioning, and the topic settings the service relies on.
 */
import type { Consumer, EachMessagePayload, Kafka, Producer } from 'kafkajs';
import { ConfigResourceTypes, Partitioners } from 'kafkajs';
import { createTopics, testKafka, uniqueTopic, waitFor } from '../helpers/infra';

jest.setTimeout(60_000);

let kafka: Kafka;
/** Clients to disconnect after each test, so no test leaves a group member or socket behind. */
const open: Array<{ disconnect(): Promise<void> }> = [];

beforeAll(() => {
  kafka = testKafka('kafka-broker-test');
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.disconnect()));
});

async function producer(opts: Parameters<Kafka['producer']>[0] = {}): Promise<Producer> {
  // The Java-compatible murmur2 partitioner: the same key lands where Java clients put it.
  const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...opts });
  open.push(p);
  await p.connect();
  return p;
}

/** Starts a consumer group member reading `topic` from the beginning; collects every message. */
async function consume(
  topic: string,
  groupId: string,
): Promise<{ consumer: Consumer; seen: EachMessagePayload[] }> {
  // kafkajs' disconnect() waits out the fetch in flight, which long-polls an idle topic for
  // maxWaitTimeInMs (default 5000): measured 4.9 s per test before this.
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250 });
  open.push(consumer);
  const seen: EachMessagePayload[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async (payload) => {
      seen.push(payload);
    },
  });
  return { consumer, seen };
}

const text = (b: Buffer | null | undefined): string => b?.toString('utf8') ?? '';

test('produce, then consume in a consumer group that commits its offsets', async () => {
  const topic = uniqueTopic('group');
  const groupId = uniqueTopic('group-id');
  await createTopics([{ name: topic, partitions: 3 }]);
  const p = await producer();
  const values = Array.from({ length: 12 }, (_, i) => `m${i}`);
  await p.send({ topic, messages: values.map((value, i) => ({ key: `INC-${i % 4}`, value })) });

  const { seen } = await consume(topic, groupId);
  await waitFor(() => seen.length >= values.length, { what: `${values.length} messages` });
  expect(seen.map((m) => text(m.message.value)).sort()).toEqual([...values].sort());

  const admin = kafka.admin();
  open.push(admin);
  await admin.connect();
  const group = (await admin.describeGroups([groupId])).groups[0];
  expect(group).toMatchObject({ groupId, state: 'Stable' });
  expect(group?.members).toHaveLength(1);
  // autoCommit: the group's committed offsets cover every message (12 across 3 partitions).
  await waitFor(
    async () => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const committed = (offsets?.partitions ?? []).reduce(
        (sum, x) => sum + Math.max(0, Number(x.offset)),
        0,
      );
      expect(committed).toBe(values.length);
      return true;
    },
    { what: 'committed offsets' },
  );
});

test('an idempotent producer with acks=all writes each message exactly once, in order', async () => {
  const topic = uniqueTopic('idempotent');
  await createTopics([topic]);
  const p = await producer({ idempotent: true, maxInFlightRequests: 1 });
  const offsets: string[] = [];
  for (let i = 0; i < 5; i += 1) {
    const [meta] = await p.send({ topic, acks: -1, messages: [{ key: 'INC-1', value: `v${i}` }] });
    expect(meta).toMatchObject({ topicName: topic, partition: 0, errorCode: 0 });
    offsets.push(meta!.baseOffset!);
  }
  expect(offsets).toEqual(['0', '1', '2', '3', '4']);

  const { seen } = await consume(topic, uniqueTopic('idempotent-group'));
  await waitFor(() => seen.length >= 5, { what: '5 messages' });
  expect(seen.map((m) => [m.message.offset, text(m.message.value)])).toEqual([
    ['0', 'v0'],
    ['1', 'v1'],
    ['2', 'v2'],
    ['3', 'v3'],
    ['4', 'v4'],
  ]);
});

test('messages with the same key land in the same partition, in order', async () => {
  const topic = uniqueTopic('keyed');
  await createTopics([{ name: topic, partitions: 6 }]);
  const p = await producer();
  const keys = [
    'INC-2026-000001',
    'INC-2026-000002',
    'INC-2026-000003',
    'INC-2026-000004',
    'INC-2026-000005',
  ];
  const sentTo = new Map<string, Set<number>>();
  for (let round = 0; round < 4; round += 1) {
    for (const key of keys) {
      const [meta] = await p.send({ topic, messages: [{ key, value: `${key}#${round}` }] });
      sentTo.set(key, (sentTo.get(key) ?? new Set()).add(meta!.partition));
    }
  }
  for (const key of keys) expect(sentTo.get(key)?.size).toBe(1);

  const { seen } = await consume(topic, uniqueTopic('keyed-group'));
  await waitFor(() => seen.length >= keys.length * 4, { what: 'all keyed messages' });
  for (const key of keys) {
    const mine = seen.filter((m) => text(m.message.key) === key);
    expect(new Set(mine.map((m) => m.partition))).toEqual(sentTo.get(key));
    expect(mine.map((m) => text(m.message.value))).toEqual([0, 1, 2, 3].map((r) => `${key}#${r}`));
  }
});

test('a topic created with retentionMs -1 keeps its history (incident.events)', async () => {
  const topic = uniqueTopic('incident.events');
  await createTopics([{ name: topic, partitions: 6, retentionMs: -1 }]);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0]?.partitions).toHaveLength(6);
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }],
    });
    expect(resources[0]?.configEntries).toEqual([
      expect.objectContaining({ configName: 'retention.ms', configValue: '-1' }),
    ]);
  } finally {
    await admin.disconnect();
  }
});
