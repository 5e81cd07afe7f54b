import { Kafka, logLevel, Partitioners, type Admin, type Producer, type LogEntry } from 'kafkajs';
import { UnavailableError } from '../errors';
import type { Logger } from './logger';

/** The kafkajs client, for the infra modules that take one (consumer, topics); built by createKafka. */
export type { Kafka };

/**
 * The narrow Kafka port. kafkajs is unmaintained since 2023; everything that touches it lives in
 * src/infra, so swapping the client is a change here, not across the code base.
 */
export interface OutgoingRecord {
  key: string;
  value: string | Buffer;
  headers?: Record<string, string>;
}

export interface EventPublisher {
  /**
   * Resolves once every record is acknowledged by all in-sync replicas (acks=all); rejects with an
   * UnavailableError when that does not happen within the timeout. Records of one call may be
   * partially written when it rejects: callers retry with the same ids, consumers dedupe by id.
   */
  publish(
    topic: string,
    records: OutgoingRecord[],
    options?: { timeoutMs?: number },
  ): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
}

export function createKafka(settings: KafkaSettings, log?: Logger): Kafka {
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => forward(log, entry),
  });
}

function forward(
  log: Logger | undefined,
  { level, namespace, log: { message, ...extra } }: LogEntry,
): void {
  // Retries are bounded on purpose: a caller waits at most KAFKA_PRODUCE_TIMEOUT_MS and then retries
  // with the same event ids; consumers dedupe by id, so the stricter ordering is not needed.
  if (!log || message.startsWith('Limiting retries for the idempotent producer')) return;
  const fields = { component: 'kafkajs', namespace, ...stripNoise(extra) };
  if (level === logLevel.ERROR) log.error(fields, message);
  else if (level === logLevel.WARN) log.warn(fields, message);
  else log.debug(fields, message);
}

function stripNoise(extra: Record<string, unknown>): Record<string, unknown> {
  const { timestamp: _t, logger: _l, ...rest } = extra;
  return rest;
}

export interface PublisherOptions {
  /**
   * Idempotent producer (the default): the broker drops a retried duplicate and keeps a
   * partition's order across retries. kafkajs pays for it with one produce request in flight per
   * broker for the whole producer: concurrent publish calls wait for each other's
   * acknowledgements. The outbox relay turns it off: it keeps order per key itself (one key never
   * in two requests at once, src/outbox/relay.ts) and its consumers dedupe by id, so its
   * pipelined rounds' requests can overlap.
   */
  idempotent?: boolean;
}

/** An acks=all producer that (re)connects on demand and never waits unboundedly. */
export class KafkaPublisher implements EventPublisher {
  private readonly producer: Producer;
  private connecting: Promise<void> | null = null;
  private connected = false;

  constructor(
    kafka: Kafka,
    private readonly defaultTimeoutMs: number,
    { idempotent = true }: PublisherOptions = {},
  ) {
    this.producer = kafka.producer({
      idempotent,
      maxInFlightRequests: 5,
      allowAutoTopicCreation: false,
      // The Java client's murmur2 partitioner: a key lands on the same partition as with any other
      // client (kcat, Kafka Streams), and kafkajs stops warning about its changed default.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.producer.on(this.producer.events.DISCONNECT, () => {
      this.connected = false;
    });
  }

  async publish(
    topic: string,
    records: OutgoingRecord[],
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    if (records.length === 0) return;
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    await withTimeout(
      (async () => {
        await this.connect();
        await this.producer.send({
          topic,
          acks: -1,
          timeout: timeoutMs,
          messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
        });
      })(),
      timeoutMs,
      () => new UnavailableError('kafka', `Kafka did not acknowledge within ${timeoutMs} ms`),
    ).catch((err: unknown) => {
      if (err instanceof UnavailableError) throw err;
      throw new UnavailableError('kafka', `Kafka write failed: ${(err as Error).message}`, {
        cause: err,
      });
    });
  }

  /**
   * Connects now, in the background, so that the first publish need not (after a crash: the
   * first overdue breach, issue 12). A failure is left to that publish to meet and report.
   */
  warmUp(): void {
    this.connect().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.connected) return;
    this.connecting ??= this.producer.connect().then(
      () => {
        this.connected = true;
        this.connecting = null;
      },
      (err: unknown) => {
        this.connecting = null;
        throw err;
      },
    );
    await this.connecting;
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** Readiness: the broker answers a metadata request (more honest than a port check). */
export class KafkaHealth {
  private admin: Admin | null = null;

  constructor(private readonly kafka: Kafka) {}

  async check(timeoutMs = 2_000): Promise<void> {
    const attempt = async () => {
      this.admin ??= this.kafka.admin({ retry: { retries: 0 } });
      await this.admin.connect();
      await this.admin.describeCluster();
    };
    await withTimeout(
      attempt(),
      timeoutMs,
      () => new Error(`no metadata within ${timeoutMs} ms`),
    ).catch(async (err: unknown) => {
      // Start over with a fresh admin client next time; a half-open connection never recovers.
      const stale = this.admin;
      this.admin = null;
      await stale?.disconnect().catch(() => undefined);
      throw err;
    });
  }

  async close(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
  }
}

export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
