import type { Kafka } from 'kafkajs';
import type { Config } from '../config';

/**
 * The topics of SPEC §4, created when missing: by the service at start (KAFKA_CREATE_TOPICS), by
 * `npm run up` and `npm run kafka -- topics`, and by the tests. Existing topics are left as they
 * are (partitions and retention are changed with Kafka's own tools, never behind an operator's back).
 */
export interface TopicSpec {
  name: string;
  partitions: number;
  /** retention.ms; -1 keeps everything. Omitted: the broker's default. */
  retentionMs?: number;
}

export type TopicConfig = Pick<
  Config,
  | 'KAFKA_TOPIC_EVENTS'
  | 'KAFKA_TOPIC_WARNINGS'
  | 'KAFKA_TOPIC_ESCALATIONS'
  | 'KAFKA_TOPIC_DLQ'
  | 'KAFKA_TOPIC_REPORTS'
  | 'KAFKA_EVENTS_PARTITIONS'
  | 'KAFKA_OTHER_PARTITIONS'
  | 'KAFKA_EVENTS_RETENTION_MS'
  | 'KAFKA_OTHER_RETENTION_MS'
>;

/** `incident.events` keeps its history (it is the event store); the others keep a week by default. */
export function serviceTopics(c: TopicConfig): TopicSpec[] {
  const other = (name: string): TopicSpec => ({
    name,
    partitions: c.KAFKA_OTHER_PARTITIONS,
    retentionMs: c.KAFKA_OTHER_RETENTION_MS,
  });
  return [
    {
      name: c.KAFKA_TOPIC_EVENTS,
      partitions: c.KAFKA_EVENTS_PARTITIONS,
      retentionMs: c.KAFKA_EVENTS_RETENTION_MS,
    },
    other(c.KAFKA_TOPIC_WARNINGS),
    other(c.KAFKA_TOPIC_ESCALATIONS),
    other(c.KAFKA_TOPIC_DLQ),
    other(c.KAFKA_TOPIC_REPORTS),
  ];
}

/**
 * Creates the topics that do not exist yet, with the broker's default replication factor, and
 * waits for their partition leaders, so a producer may write right away. Resolves the names it
 * created. Two callers racing is fine: a topic created meanwhile counts as existing.
 */
export async function ensureTopics(kafka: Kafka, topics: TopicSpec[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length === 0) return [];
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        configEntries:
          t.retentionMs === undefined
            ? []
            : [{ name: 'retention.ms', value: String(t.retentionMs) }],
      })),
    });
    return missing.map((t) => t.name);
  } finally {
    await admin.disconnect();
  }
}
