import { z } from 'zod';
import { API_KEY_ENTRY } from './contracts/api-keys';

/**
 * Configuration comes from environment variables only, parsed once at start-up. A wrong value stops
 * the process with a message naming the variable (see `ConfigError`). Every variable is listed in the
 * README table; keep the two in step.
 */

const roleNames = ['api', 'projector', 'scheduler'] as const;
export type Role = (typeof roleNames)[number];

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max);
const flag = (byDefault: boolean) =>
  z
    .enum(['true', 'false'], 'true or false')
    .default(byDefault ? 'true' : 'false')
    .transform((v) => v === 'true');
const topicName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,200}$/, 'a Kafka topic name: letters, digits, ".", "_", "-"');

/**
 * The topics' default names. KAFKA_TOPIC_PREFIX is put before each of them; a topic variable that
 * is set is taken as it is (SPEC §4 gives the default names).
 */
const TOPIC_DEFAULTS = {
  KAFKA_TOPIC_EVENTS: 'incident.events',
  KAFKA_TOPIC_WARNINGS: 'sla.warnings',
  KAFKA_TOPIC_ESCALATIONS: 'sla.escalations',
  KAFKA_TOPIC_DLQ: 'incident.events.dlq',
  KAFKA_TOPIC_REPORTS: 'sla.reports',
} as const;

const schema = z.object({
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HTTP_PORT: int(0, 65535).default(8080),
  HTTP_REQUEST_TIMEOUT_MS: int(1000, 600_000).default(30_000),
  HTTP_CONNECTION_TIMEOUT_MS: int(1000, 3_600_000).default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ROLES: z
    .string()
    .default('api,projector,scheduler')
    .transform((s) =>
      s
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(roleNames)).min(1, 'at least one of api, projector, scheduler')),
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/sla'),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:9092')
    .transform((s) =>
      s
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'host:port')).min(1)),
  KAFKA_CLIENT_ID: z.string().min(1).default('sla-timer'),
  /** An instance of its own beside another on one broker: `KAFKA_TOPIC_PREFIX=test1.` */
  KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]{0,100}$/, 'up to 100 letters, digits, ".", "_", "-"')
    .default(''),
  KAFKA_TOPIC_EVENTS: topicName.default(TOPIC_DEFAULTS.KAFKA_TOPIC_EVENTS),
  KAFKA_TOPIC_WARNINGS: topicName.default(TOPIC_DEFAULTS.KAFKA_TOPIC_WARNINGS),
  KAFKA_TOPIC_ESCALATIONS: topicName.default(TOPIC_DEFAULTS.KAFKA_TOPIC_ESCALATIONS),
  KAFKA_TOPIC_DLQ: topicName.default(TOPIC_DEFAULTS.KAFKA_TOPIC_DLQ),
  /** `report.monthly_issued`, once per closed month (issue 15). */
  KAFKA_TOPIC_REPORTS: topicName.default(TOPIC_DEFAULTS.KAFKA_TOPIC_REPORTS),
  /** Create missing topics at start (off where the service may not create topics). */
  KAFKA_CREATE_TOPICS: flag(true),
  KAFKA_EVENTS_PARTITIONS: int(1, 1000).default(6),
  KAFKA_OTHER_PARTITIONS: int(1, 1000).default(3),
  /** -1 keeps `incident.events` forever: it is the event store. */
  KAFKA_EVENTS_RETENTION_MS: int(-1).default(-1),
  KAFKA_OTHER_RETENTION_MS: int(-1).default(7 * 24 * 3600 * 1000),
  /** Upper bound for "produce, then answer": past it the ingest API answers 503. */
  KAFKA_PRODUCE_TIMEOUT_MS: int(100, 60_000).default(5000),
  PROJECTOR_GROUP_ID: z.string().min(1).default('sla-projector'),
  /** Partitions the projector works on at once (each holds a database connection meanwhile). */
  PROJECTOR_CONCURRENCY: int(1, 64).default(3),
  /** Kafka fetch size per partition: bounds how many records one projector transaction applies. */
  PROJECTOR_FETCH_MAX_BYTES: int(16 * 1024, 64 * 1024 * 1024).default(2 * 1024 * 1024),
  /**
   * Consumer group session of the projector: a member that died without leaving holds its
   * partitions this long. Brokers accept 6 s and up by default (group.min.session.timeout.ms).
   */
  PROJECTOR_SESSION_TIMEOUT_MS: int(1000, 300_000).default(6000),
  /** On start, remove group members that dead processes of this host left behind (issue 12). */
  PROJECTOR_EVICT_DEAD_MEMBERS: flag(true),
  /** Records larger than this go to the dead-letter topic as `too_large`. */
  PROJECTOR_MAX_EVENT_BYTES: int(1024, 16 * 1024 * 1024).default(256 * 1024),
  /** The zone monthly reports use when the caller names none. */
  REPORT_TIME_ZONE: z
    .string()
    .default('Asia/Shanghai')
    .refine((tz) => isTimeZone(tz), 'an IANA time zone, e.g. Asia/Shanghai'),
  /** The scheduler issues each closed month's report (issue 15); `false` leaves it to another deployment. */
  REPORT_ISSUE_ENABLED: flag(true),
  /** Day of the next month the report is issued on (seed §4.5.3.6: before the 4th). */
  REPORT_ISSUE_DAY: int(1, 28).default(1),
  /** Local hour (REPORT_TIME_ZONE) of that day: time for stragglers before the figures freeze. */
  REPORT_ISSUE_HOUR: int(0, 23).default(1),
  /** Prefix of the `href` in `report.monthly_issued`, e.g. https://sla.example.com (none: a path). */
  REPORT_BASE_URL: z.string().url().optional(),
  /** Optional JSON file with the default policy; SPEC §2 is built in. */
  POLICY_FILE: z.string().optional(),
  SHUTDOWN_TIMEOUT_MS: int(100, 120_000).default(10_000),

  // --- ingest API (issue 5) ---
  /** API keys, comma/space separated `<keyId>:<scope>+<scope>:<sha256hex>`; `npm run api-key` makes one. */
  API_KEYS: z
    .string()
    .default('')
    .transform((s) => s.split(/[\s,]+/).filter(Boolean))
    .pipe(
      z
        .array(z.string().regex(API_KEY_ENTRY, '<keyId>:<scope>+<scope>:<sha256hex> entries'))
        .refine(
          (e) => new Set(e.map((x) => x.split(':')[0])).size === e.length,
          'duplicate key id',
        ),
    ),
  /** Events per POST /v1/events batch. */
  INGEST_MAX_BATCH: int(1, 10_000).default(500),
  /** Request body limit of POST /v1/events (413 above it). */
  INGEST_BODY_LIMIT_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** How long POST /v1/events waits for Kafka's acknowledgement before answering 503 (SPEC: ≤ 5 s). */
  INGEST_PUBLISH_TIMEOUT_MS: int(100, 60_000).default(4000),
  /** Events whose `time` is older than this are refused with 422 (default 30 days). */
  INGEST_MAX_EVENT_AGE_MS: int(60_000).default(30 * 24 * 3600 * 1000),
  /** Requests per API key per window; 0 turns rate limiting off. */
  RATE_LIMIT_MAX: int(0).default(12_000),
  RATE_LIMIT_WINDOW_MS: int(100, 3_600_000).default(60_000),
  /** Load shedding: 503 while the event loop lags more than this; 0 turns it off. */
  LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS: int(0, 60_000).default(500),

  // --- scheduler: timer runner and outbox relay (issue 7) ---
  /** Safety-net poll of the timer runner (the in-memory wheel fires on time between polls). */
  SCHEDULER_POLL_INTERVAL_MS: int(50, 60_000).default(1000),
  /** Most timers fired in one transaction. */
  SCHEDULER_BATCH_SIZE: int(1, 10_000).default(500),
  /** How far ahead the wheel keeps due times in memory (≤ 5 min: the NOTIFY trigger's window). */
  SCHEDULER_HORIZON_MS: int(1000, 300_000).default(60_000),
  /** Cap on due times held in memory; past it the wheel covers a shorter horizon. */
  SCHEDULER_WHEEL_MAX_ENTRIES: int(100, 10_000_000).default(200_000),
  /** How often the database-vs-process clock skew is measured (and logged when it changes). */
  SCHEDULER_SKEW_INTERVAL_MS: int(1000, 3_600_000).default(60_000),
  /**
   * Firing rounds in flight at once: a round starts when timers come due even while another is
   * still in flight, and a burst is drained by all of them (SKIP LOCKED keeps them apart).
   */
  SCHEDULER_CONCURRENCY: int(1, 16).default(2),
  /**
   * Commit firings without waiting for the WAL flush: a firing lost in a Postgres crash is redone
   * under the same event ids (src/scheduler/fire.ts). `false` waits for the flush.
   */
  SCHEDULER_ASYNC_COMMIT: flag(true),
  /** Outbox rows published per Kafka request. */
  OUTBOX_BATCH_SIZE: int(1, 10_000).default(500),
  /**
   * Relay rounds in flight at once: the next claim overlaps the produce of the one before
   * (src/outbox/relay.ts). Each holds a pool connection until its commit; 1 is the unpipelined relay.
   */
  OUTBOX_MAX_IN_FLIGHT: int(1, 16).default(3),
  /** Safety-net poll of the outbox relay (NOTIFY wakes it at once). */
  OUTBOX_POLL_INTERVAL_MS: int(50, 60_000).default(1000),
  /** Back-off after a failed publish: starts here, doubles up to OUTBOX_RETRY_MAX_MS. */
  OUTBOX_RETRY_MIN_MS: int(10, 60_000).default(200),
  OUTBOX_RETRY_MAX_MS: int(100, 600_000).default(2_000),

  // --- read API and live stream (issue 8) ---
  /** GET /v1/stream: comment sent this often so proxies keep an idle stream open. */
  STREAM_HEARTBEAT_MS: int(1000, 300_000).default(15_000),
  /** Fallback wake-up of stream clients when no NOTIFY arrives (listener connection down). */
  STREAM_POLL_MS: int(100, 60_000).default(2000),
  /** How long stream events are kept for Last-Event-ID resume. */
  STREAM_RETENTION_MS: int(60_000).default(24 * 3600 * 1000),
  /** Unsent bytes a stream client may have buffered before it is disconnected. */
  STREAM_CLIENT_BUFFER_BYTES: int(16 * 1024, 256 * 1024 * 1024).default(1024 * 1024),
  /** Concurrent stream clients per process; more get 503. */
  STREAM_MAX_CLIENTS: int(1, 100_000).default(100),
});

export type Config = Readonly<z.infer<typeof schema>>;

/** Every variable the service reads (the README table lists each). */
export const configVariables = Object.keys(schema.shape);

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, so `FOO= npm run up` falls back to the default.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`),
    );
  }
  const config = parsed.data;
  for (const [name, byDefault] of Object.entries(TOPIC_DEFAULTS)) {
    if (!(name in present))
      config[name as keyof typeof TOPIC_DEFAULTS] = config.KAFKA_TOPIC_PREFIX + byDefault;
  }
  // An idle event stream is kept open by its heartbeats; a shorter idle timeout would cut it.
  if (config.HTTP_CONNECTION_TIMEOUT_MS <= config.STREAM_HEARTBEAT_MS) {
    throw new ConfigError([
      `HTTP_CONNECTION_TIMEOUT_MS: must be longer than STREAM_HEARTBEAT_MS (${config.STREAM_HEARTBEAT_MS} ms), or idle event streams are closed`,
    ]);
  }
  return Object.freeze(config);
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
