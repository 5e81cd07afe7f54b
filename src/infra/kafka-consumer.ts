import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  AssignerProtocol,
  PartitionAssigners,
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type PartitionAssigner,
} from 'kafkajs';
import type { Logger } from './logger';

/**
 * The "subscribe with offsets stored elsewhere" half of the Kafka port (the publish half is
 * kafka.ts). The caller owns the offsets (the projector keeps them in Postgres, written in the same
 * transaction as its read model); Kafka's own committed offsets are written only so that the usual
 * lag tooling works, and are never read back.
 *
 * Protocol, per partition:
 *   1. On assignment, `claim` is called with the partitions this member now owns; it returns where
 *      each one continues (and takes ownership, e.g. by bumping an epoch). The consumer seeks there.
 *   2. Each fetched batch that starts exactly at the expected offset goes to `handle` with the
 *      claim it was fetched under. Records before the expected offset (already applied) are
 *      dropped; a batch that starts after it is re-fetched from the expected offset once.
 *   3. `handle` says what happened: `done` (continue after the last record), `retry` (transient
 *      failure: the same records come again after a pause), `moved` (the store holds another
 *      position, e.g. after a rebuild swapped tables: seek there), or `lost` (another member owns
 *      the partition: stop reading it until the next assignment).
 *
 * kafkajs specifics (v2.2.4, unmaintained, hence this port): the GROUP_JOIN instrumentation event is
 * the assignment hook; its listener is not awaited, so batches wait for the pending claim; `seek`
 * takes effect at the next fetch, and with autoCommit off it only moves the local position.
 */
export interface ConsumedRecord {
  /** Decimal string: Kafka offsets are 64-bit. */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Record timestamp (producer create time unless the topic says otherwise), epoch ms. */
  timestamp: number;
}

export interface PartitionClaim {
  partition: number;
  /** The next offset to read (the first not yet applied). */
  nextOffset: bigint;
  /** Opaque to the consumer; handed back with each batch (the projector's fencing epoch). */
  epoch: bigint;
}

export interface ClaimedBatch {
  topic: string;
  partition: number;
  claim: PartitionClaim;
  /** Offset of the first record; equals `claim.nextOffset` as tracked so far. */
  fromOffset: bigint;
  records: ConsumedRecord[];
  /** The partition's high watermark when fetched (for lag). */
  highWatermark: bigint;
  /** Keeps the group membership alive during long work. */
  heartbeat(): Promise<void>;
}

export type BatchOutcome =
  | { kind: 'done'; nextOffset: bigint }
  | { kind: 'retry'; delayMs: number }
  | { kind: 'moved'; nextOffset: bigint }
  | { kind: 'lost' };

export interface StoredOffsetHandler {
  claim(topic: string, partitions: number[]): Promise<PartitionClaim[]>;
  handle(batch: ClaimedBatch): Promise<BatchOutcome>;
}

export interface StoredOffsetSubscriptionOptions {
  groupId: string;
  topic: string;
  /** Partitions processed at once (each needs its own database connection). */
  concurrency: number;
  /** Fetch size per partition: bounds the batch size. */
  maxBytesPerPartition: number;
  /** How long a fetch waits for data (latency vs. empty fetches). */
  maxWaitTimeMs?: number;
  /**
   * Group membership timing, ms. A member that dies without leaving (SIGKILL) holds its partitions
   * until its session expires, unless it is evicted (below). Brokers accept sessions from
   * group.min.session.timeout.ms (default 6 s) up. Heartbeats are also sent while a batch is being
   * handled, so a long batch does not cost the membership.
   */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /**
   * Before joining, remove the members that earlier processes on this host left behind (their
   * process is gone): a restart after a crash then joins at once instead of waiting out the dead
   * member's session. Safe even if the judgement were wrong, because the caller fences partition
   * ownership itself (`claim` takes it, e.g. by bumping an epoch): a removed member that was alive
   * only loses its partitions and rejoins.
   */
  evictDeadMembers?: boolean;
}

/**
 * joining: connected or connecting, no assignment claimed yet; running: partitions claimed (or
 * none assigned) and being read; rebalancing: the group is reassigning partitions; failed: the
 * client crashed and will not restart by itself; stopped.
 */
export type SubscriptionState = 'joining' | 'running' | 'rebalancing' | 'failed' | 'stopped';

export interface StoredOffsetSubscription {
  /**
   * Connects, subscribes and resolves once the first join completed, which may wait for a
   * rebalance (a dead member's session): callers that must not wait run it in the background and
   * watch `state`.
   */
  start(): Promise<void>;
  /** Leaves the group after the batch in flight (its transaction commits or rolls back). */
  stop(): Promise<void>;
  /** Resolves once the first assignment was claimed (tests, readiness). */
  readonly assigned: Promise<void>;
  readonly state: SubscriptionState;
}

interface PartitionState {
  claim: PartitionClaim;
  /** Next offset to hand to `handle`. */
  expected: bigint;
  /** Set when we asked for a re-fetch from `expected`; a second mismatch is then believed. */
  soughtTo: bigint | null;
}

export function subscribeWithStoredOffsets(
  kafka: Kafka,
  options: StoredOffsetSubscriptionOptions,
  handler: StoredOffsetHandler,
  log: Logger,
): StoredOffsetSubscription {
  const { topic } = options;
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    maxBytesPerPartition: options.maxBytesPerPartition,
    maxBytes: Math.max(options.maxBytesPerPartition * 4, 10 * 1024 * 1024),
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
    allowAutoTopicCreation: false,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    partitionAssigners: [taggedRoundRobin],
  });
  const heartbeatMs = options.heartbeatIntervalMs ?? 3_000;
  let memberState: SubscriptionState = 'stopped';
  /** Partition → state, for the current assignment only. */
  let partitions = new Map<number, PartitionState>();
  /** The claim in progress for the latest assignment; batches wait for it. */
  let claiming: Promise<void> = Promise.resolve();
  let markAssigned: () => void = () => undefined;
  const assigned = new Promise<void>((resolve) => (markAssigned = resolve));

  let generation = 0;
  let stopping = false;
  consumer.on(consumer.events.REBALANCING, () => {
    if (memberState === 'running') memberState = 'rebalancing';
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const owned = [...(payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
    const mine = ++generation;
    // Replace the promise synchronously, so a batch fetched for this assignment waits for it.
    claiming = claimAll(owned, mine);
  });

  /**
   * Claims until it works (Postgres may be briefly away) or a newer assignment supersedes this one.
   * Until then no batch is processed: they wait here.
   */
  async function claimAll(owned: number[], mine: number): Promise<void> {
    partitions = new Map();
    for (let attempt = 0; ; attempt++) {
      if (mine !== generation || stopping) return;
      try {
        const claims = owned.length ? await handler.claim(topic, owned) : [];
        if (mine !== generation) return;
        const next = new Map<number, PartitionState>();
        for (const claim of claims) {
          next.set(claim.partition, {
            claim,
            expected: claim.nextOffset,
            soughtTo: claim.nextOffset,
          });
          consumer.seek({ topic, partition: claim.partition, offset: claim.nextOffset.toString() });
        }
        partitions = next;
        // A partition paused because it was lost comes back only through a new claim.
        if (owned.length) consumer.resume([{ topic, partitions: owned }]);
        log.info({ topic, partitions: owned }, 'partitions claimed');
        if (!stopping) memberState = 'running';
        markAssigned();
        return;
      } catch (err) {
        log.error(
          { err, topic, partitions: owned, attempt },
          'claiming partitions failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** attempt)));
      }
    }
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    await claiming;
    const state = partitions.get(batch.partition);
    // Not ours (any more), or a seek is pending: the next fetch brings the right records.
    if (!state || payload.isStale()) return;
    // Where this fetch started (kafkajs has it on the batch but not in its typings).
    const fetched = BigInt((batch as unknown as { fetchedOffset: string }).fetchedOffset);
    if (fetched > state.expected && state.soughtTo !== state.expected) {
      // Kafka's committed offset ran ahead of ours (e.g. the read model was restored or rebuilt):
      // read from our own position. If the same thing happens again, the gap holds no records.
      state.soughtTo = state.expected;
      consumer.seek({ topic, partition: batch.partition, offset: state.expected.toString() });
      return;
    }
    const records: ConsumedRecord[] = [];
    for (const m of batch.messages) {
      if (BigInt(m.offset) < state.expected) continue; // applied before
      records.push({
        offset: m.offset,
        key: m.key ?? null,
        value: m.value ?? null,
        headers: stringHeaders(m.headers),
        timestamp: Number(m.timestamp),
      });
    }
    if (records.length === 0) return;

    const claim = state.claim;
    // kafkajs heartbeats only between fetches: keep the session alive while the batch is handled.
    const beat = setInterval(() => void payload.heartbeat().catch(() => undefined), heartbeatMs);
    let outcome: BatchOutcome;
    try {
      outcome = await handler.handle({
        topic,
        partition: batch.partition,
        claim,
        fromOffset: state.expected,
        records,
        highWatermark: BigInt(batch.highWatermark),
        heartbeat: () => payload.heartbeat(),
      });
    } finally {
      clearInterval(beat);
    }
    // A newer assignment replaced this claim while we worked: its seek decides what comes next.
    if (partitions.get(batch.partition)?.claim !== claim) return;
    switch (outcome.kind) {
      case 'done': {
        state.expected = outcome.nextOffset;
        state.soughtTo = null;
        payload.resolveOffset(records[records.length - 1]!.offset);
        // Lag monitoring only; never awaited on the hot path, never read back.
        consumer
          .commitOffsets([
            { topic, partition: batch.partition, offset: outcome.nextOffset.toString() },
          ])
          .catch(() => undefined);
        await payload.heartbeat().catch(() => undefined);
        return;
      }
      case 'moved':
        state.expected = outcome.nextOffset;
        state.soughtTo = outcome.nextOffset;
        consumer.seek({ topic, partition: batch.partition, offset: outcome.nextOffset.toString() });
        return;
      case 'retry':
        // Nothing was resolved, so the next fetch returns the same records; wait a little first
        // (heartbeating, so the group does not think we died).
        await pauseFor(
          outcome.delayMs,
          () => payload.heartbeat(),
          () => stopping,
        );
        return;
      case 'lost':
        partitions.delete(batch.partition);
        consumer.pause([{ topic, partitions: [batch.partition] }]);
        log.warn(
          { topic, partition: batch.partition },
          'partition owned by another member: paused',
        );
        return;
    }
  }

  consumer.on(consumer.events.CRASH, ({ payload }) => {
    // kafkajs restarts the consumer itself after retriable errors; a crash without restart
    // leaves this member out of the group until the process restarts: say so loudly.
    if (!payload.restart) memberState = 'failed';
    log[payload.restart ? 'warn' : 'error'](
      { err: payload.error, restart: payload.restart, topic },
      payload.restart ? 'consumer crashed; restarting' : 'consumer crashed and will not restart',
    );
  });

  let started = false;
  return {
    assigned,
    get state() {
      return memberState;
    },
    async start() {
      stopping = false;
      memberState = 'joining';
      if (options.evictDeadMembers) {
        await evictDeadMembers(kafka, options.groupId, log).catch((err: unknown) =>
          log.warn({ err, groupId: options.groupId }, 'could not evict dead group members'),
        );
      }
      started = true;
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      // Resolves once the first join completed (or the join crashed: kafkajs then retries it).
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.concurrency,
        eachBatch,
      });
    },
    async stop() {
      stopping = true;
      memberState = 'stopped';
      if (!started) return;
      started = false;
      await consumer.disconnect();
    },
  };
}

/**
 * Who a member is, carried in its group metadata (the assignment protocol's userData), so that a
 * later process can tell a member its host left behind. The assignment itself is kafkajs' round
 * robin, unchanged (members without this data are never evicted).
 */
const MEMBER_TAG = { host: hostname(), pid: process.pid };

const taggedRoundRobin: PartitionAssigner = (config) => {
  const inner = PartitionAssigners.roundRobin(config);
  return {
    name: inner.name,
    version: inner.version,
    assign: (group) => inner.assign(group),
    protocol: ({ topics }) => ({
      name: inner.name,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: inner.version,
        topics,
        userData: Buffer.from(JSON.stringify(MEMBER_TAG)),
      }),
    }),
  };
};

/**
 * A member left behind by a dead process of this host: same host, and its process is gone (or has
 * our pid: a container restarts its process under the same pid, and we have not joined yet).
 */
export function isDeadPredecessor(
  tag: { host?: unknown; pid?: unknown },
  self: { host: string; pid: number } = MEMBER_TAG,
  alive: (pid: number) => boolean = processAlive,
): boolean {
  if (tag.host !== self.host || typeof tag.pid !== 'number') return false;
  return tag.pid === self.pid || !alive(tag.pid);
}

/**
 * Whether process `pid` of this host still runs. Signal 0 answers for a zombie too (a process that
 * has exited and that its parent has not reaped yet): a service killed under `npm run up` with npm
 * is one until whoever adopted it reaps it, which on some hosts takes long. On Linux its state in
 * /proc tells (`Z`); elsewhere signal 0 is all there is.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ")".
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch (err) {
    // Gone since the signal, or no /proc here (not Linux: the signal's answer stands).
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** The slice of kafkajs' internal cluster client used to send LeaveGroup for another member. */
interface CoordinatorClient {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  findGroupCoordinator(group: { groupId: string }): Promise<{
    leaveGroup(request: { groupId: string; memberId: string }): Promise<unknown>;
  }>;
}

/**
 * Removes the group's dead predecessors (isDeadPredecessor) with a LeaveGroup request on their
 * behalf, as they would have sent on a graceful stop. kafkajs has no public call for this (its
 * admin client lacks removeMembersFromConsumerGroup), so it goes through kafkajs' own cluster client
 * (2.2.4, unmaintained: its internals no longer change). Returns the member ids removed.
 */
export async function evictDeadMembers(
  kafka: Kafka,
  groupId: string,
  log: Logger,
): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  let dead: string[];
  try {
    const { groups } = await admin.describeGroups([groupId]);
    dead = (groups[0]?.members ?? [])
      .filter((m) => {
        try {
          const { userData } = AssignerProtocol.MemberMetadata.decode(m.memberMetadata) ?? {};
          return userData?.length
            ? isDeadPredecessor(JSON.parse(userData.toString()) as { host?: unknown })
            : false;
        } catch {
          return false; // not ours to judge
        }
      })
      .map((m) => m.memberId);
  } finally {
    await admin.disconnect();
  }
  if (dead.length === 0) return [];
  const create = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster',
  );
  if (!create) throw new Error('kafkajs internals changed: no cluster client to send LeaveGroup');
  const cluster = (kafka as unknown as Record<symbol, (o: object) => CoordinatorClient>)[create]!({
    allowAutoTopicCreation: false,
  });
  await cluster.connect();
  try {
    const coordinator = await cluster.findGroupCoordinator({ groupId });
    for (const memberId of dead) await coordinator.leaveGroup({ groupId, memberId });
  } finally {
    await cluster.disconnect();
  }
  log.info({ groupId, members: dead }, 'removed group members a dead process left behind');
  return dead;
}

function stringHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (Buffer.isBuffer(v)) out[k] = v.toString('utf8');
    else if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v) && v.length) out[k] = String(v[v.length - 1]);
  }
  return out;
}

/** Waits `ms`, heartbeating every second (a blocked partition must not look like a dead member). */
async function pauseFor(
  ms: number,
  heartbeat: () => Promise<void>,
  stopping: () => boolean,
): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && !stopping()) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, until - Date.now())));
    await heartbeat().catch(() => undefined);
  }
}
