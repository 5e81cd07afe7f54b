/**
 * Scale-out (issue 6 §7): two projector processes share the partitions of one consumer group;
 * one is SIGKILLed mid-run and the other takes its partitions over from the offsets stored in
 * Postgres: nothing lost, nothing applied twice.
 */
import { createTopics, waitFor } from '../helpers/infra';
import {
  MIN,
  RawProducer,
  count,
  exactlyOnceReport,
  lifecycle,
  ownDatabase,
  projectorTopics,
  spawnProjector,
  type ChildProjector,
  type OwnDatabase,
  type ProjectorTopics,
  type TestEvent,
} from './fixtures/projector-data';

jest.setTimeout(180_000);

let db: OwnDatabase;
let topics: ProjectorTopics;
const children: ChildProjector[] = [];

beforeAll(async () => {
  db = await ownDatabase('projscale');
  topics = projectorTopics('scale');
  await createTopics([{ name: topics.events, partitions: 4 }, topics.dlq]);
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await db?.drop();
});

const PREFIX = `INC-SCALE-${Date.now().toString(36)}-`;

function wave(from: number, to: number): TestEvent[] {
  const t0 = Date.now() - 3 * 60 * MIN;
  const out: TestEvent[] = [];
  for (let i = from; i < to; i++) out.push(...lifecycle(`${PREFIX}${i}`, t0 + i * 1000));
  return out;
}

async function owners(): Promise<Map<number, { owner: string; epoch: number }>> {
  const { rows } = await db.pool.query<{ partition: number; owner: string; epoch: string }>(
    'SELECT partition, owner, epoch FROM projector_offsets WHERE group_id = $1 ORDER BY partition',
    [topics.group],
  );
  return new Map(rows.map((r) => [r.partition, { owner: r.owner, epoch: Number(r.epoch) }]));
}

test('two instances share the partitions; the survivor of a SIGKILL takes over exactly once', async () => {
  const env = { PROJECTOR_FETCH_MAX_BYTES: '16384', PROJECTOR_CONCURRENCY: '2' };
  const a = spawnProjector(db, topics, env);
  const b = spawnProjector(db, topics, env);
  children.push(a, b);
  const ownerA = `child:${a.process.pid}`;
  const ownerB = `child:${b.process.pid}`;
  await waitFor(
    async () => {
      const o = await owners();
      const names = new Set([...o.values()].map((x) => x.owner));
      return o.size === 4 && names.has(ownerA) && names.has(ownerB);
    },
    { timeoutMs: 60_000, what: 'both instances own partitions' },
  );

  const applied = () =>
    count(db.pool, 'SELECT count(*) AS n FROM incident_events WHERE incident_id LIKE $1', [
      `${PREFIX}%`,
    ]);
  const producer = new RawProducer();
  const first = wave(0, 150);
  await producer.send(topics.events, first);
  await waitFor(async () => (await applied()) === first.length, {
    timeoutMs: 60_000,
    what: 'wave 1 applied',
  });
  const both = await owners();
  const partitionsOfA = [...both].filter(([, v]) => v.owner === ownerA).map(([p]) => p);
  expect(partitionsOfA.length).toBeGreaterThan(0);
  expect(partitionsOfA.length).toBeLessThan(4);

  // Wave 2: kill A while it is in the middle of it.
  const second = wave(150, 450);
  const sending = producer.send(topics.events, second);
  await waitFor(async () => (await applied()) >= first.length + 200, {
    timeoutMs: 60_000,
    intervalMs: 5,
    what: 'wave 2 under way',
  });
  await a.kill('SIGKILL');
  await sending;
  await producer.close();

  const total = first.length + second.length;
  await waitFor(async () => (await applied()) === total, {
    timeoutMs: 90_000,
    what: 'everything applied by B',
  });
  const after = await owners();
  for (const p of partitionsOfA) {
    expect(after.get(p)!.owner).toBe(ownerB);
    expect(after.get(p)!.epoch).toBeGreaterThan(both.get(p)!.epoch);
  }
  expect(await exactlyOnceReport(db.pool, PREFIX)).toEqual({
    applied: total,
    timeline: total,
    eventCountSum: total,
    mismatched: 0,
    duplicateOffsets: 0,
  });
  expect(
    await count(
      db.pool,
      'SELECT coalesce(sum(next_offset), 0) AS n FROM projector_offsets WHERE group_id = $1',
      [topics.group],
    ),
  ).toBe(total);
  expect(b.process.exitCode).toBeNull();
});
