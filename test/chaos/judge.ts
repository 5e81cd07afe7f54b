/**
 * The judge: clients that are not the service. An HTTP poster of its own (fetch, with its own
 * timeout), a Kafka consumer of its own on the SLA topics that dedupes by CloudEvent id, and
 * plain SQL on the read model. It knows what must fire: every incident it got a 202 for is a
 * sev I report whose `response` and `dispatch` deadlines are exactly 5 min (SPEC §2) after the
 * report time it chose, so each must give one `sla.breached` per milestone (never before the
 * deadline) and one `incident.escalated` (1 → 2, SPEC §4 "one page per tier change").
 */
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { Pool } from 'pg';
import { ensureTopics } from '../../scripts/kafka-local';
import type { Topics } from './service';

export const RESPONSE_MS = 5 * 60_000; // SPEC §2: sev I response and dispatch, 5 min
const MILESTONES = ['response', 'dispatch'] as const;

// ---------------------------------------------------------------------------------------------
// Incidents

export interface PlannedIncident {
  id: string;
  /** When response and dispatch are due (epoch ms): report time + 5 min. */
  dueAt: number;
}

export function reportEvent(incident: PlannedIncident): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: `${incident.id}-reported`,
    source: '/chaos',
    type: 'incident.reported',
    subject: incident.id,
    time: new Date(incident.dueAt - RESPONSE_MS).toISOString(),
    data: { severity: 'I', title: 'chaos', site: 'chaos-site' },
  };
}

export interface PostOutcome {
  /** HTTP status, or 0 when no answer came (connection refused or reset, client timeout). */
  status: number;
  ms: number;
}

/** POSTs a batch of reports; the outcome applies to every incident in it. */
export async function postReports(
  baseUrl: string,
  token: string,
  incidents: PlannedIncident[],
  timeoutMs = 15_000,
): Promise<PostOutcome> {
  const started = Date.now();
  try {
    const res = await fetch(`${baseUrl}/v1/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/cloudevents-batch+json',
      },
      body: JSON.stringify(incidents.map(reportEvent)),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return { status: res.status, ms: Date.now() - started };
  } catch {
    return { status: 0, ms: Date.now() - started };
  }
}

/** What the poster saw, per status (0 = no answer). */
export class StatusTally {
  readonly counts = new Map<number, number>();
  add(status: number, n = 1): void {
    this.counts.set(status, (this.counts.get(status) ?? 0) + n);
  }
  get(status: number): number {
    return this.counts.get(status) ?? 0;
  }
  /** Statuses outside `allowed`, with counts. */
  outside(allowed: number[]): Record<string, number> {
    return Object.fromEntries([...this.counts].filter(([s]) => !allowed.includes(s)));
  }
  text(): string {
    return [...this.counts]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s === 0 ? 'no answer' : s}: ${n}`)
      .join(', ');
  }
}

// ---------------------------------------------------------------------------------------------
// Kafka

export function createTopicsFor(brokers: string, topics: Topics): Promise<string[]> {
  return ensureTopics(brokers, [
    { name: topics.events, partitions: 3 },
    { name: topics.warnings, partitions: 1 },
    { name: topics.escalations, partitions: 1 },
    { name: topics.dlq, partitions: 1 },
  ]);
}

export interface Received {
  id: string;
  type: string;
  incidentId: string;
  milestone: string | null;
  dueAt: number | null;
  /** Envelope `time`: when the service says it emitted the event. */
  time: number;
  /** When this consumer got it (epoch ms, this machine's clock). */
  receivedAt: number;
}

/**
 * A consumer group of its own on the SLA topics, from the beginning. Copies of one record (same
 * partition and offset: the consumer itself re-read after a broker restart) count once; the same
 * id at another offset is a re-publication (allowed: at-least-once, README "dedupe by id").
 */
export class Pager {
  /** First copy of each id. */
  readonly byId = new Map<string, Received>();
  /** Records that repeat an id already seen at another offset. */
  republished = 0;
  private readonly offsets = new Set<string>();
  private consumer: Consumer | null = null;

  constructor(
    private readonly brokers: string,
    private readonly topics: string[],
    private readonly groupId: string,
  ) {}

  async start(): Promise<void> {
    const kafka = new Kafka({
      clientId: 'chaos-judge',
      brokers: [this.brokers],
      logLevel: logLevel.NOTHING,
      retry: { retries: 100, initialRetryTime: 300, maxRetryTime: 3_000 },
    });
    const consumer = kafka.consumer({ groupId: this.groupId, retry: { retries: 100 } });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: this.topics, fromBeginning: true });
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, () => resolve()),
    );
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const at = `${topic}/${partition}/${message.offset}`;
        if (this.offsets.has(at)) return;
        this.offsets.add(at);
        const event = JSON.parse(message.value!.toString()) as {
          id: string;
          type: string;
          subject: string;
          time: string;
          data: { milestone?: string; dueAt?: string };
        };
        if (this.byId.has(event.id)) {
          this.republished += 1;
          return;
        }
        this.byId.set(event.id, {
          id: event.id,
          type: event.type,
          incidentId: event.subject,
          milestone: event.data.milestone ?? null,
          dueAt: event.data.dueAt ? Date.parse(event.data.dueAt) : null,
          time: Date.parse(event.time),
          receivedAt: Date.now(),
        });
      },
    });
    await joined;
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
  }

  /** Breaches (sla.breached) received so far. */
  breaches(): Received[] {
    return [...this.byId.values()].filter((r) => r.type === 'sla.breached');
  }
}

// ---------------------------------------------------------------------------------------------
// Verdict

export interface Verdict {
  expectedBreaches: number;
  received: number;
  /** Expected (incident, milestone) breaches never received. */
  lost: number;
  /** (incident, milestone) breached under more than one id, or escalated more than once. */
  doubleFires: number;
  /** Same id delivered again at another offset (at-least-once; consumers dedupe). */
  republished: number;
  /** Received before the deadline (this consumer's clock), or stamped before it. */
  early: number;
  /** Lateness of each received expected breach: receivedAt − dueAt (ms). */
  lateness: number[];
  /** Incidents without exactly one incident.escalated. */
  escalationsWrong: number;
  /** Some of what went wrong, for the failure message. */
  samples: string[];
}

/** Compares what the pager got with what the incidents promised. */
export function judge(pager: Pager, incidents: PlannedIncident[]): Verdict {
  const byKey = new Map<string, Received[]>();
  const escalations = new Map<string, number>();
  for (const r of pager.byId.values()) {
    if (r.type === 'sla.breached') {
      const key = `${r.incidentId}/${r.milestone}`;
      byKey.set(key, [...(byKey.get(key) ?? []), r]);
    } else if (r.type === 'incident.escalated') {
      escalations.set(r.incidentId, (escalations.get(r.incidentId) ?? 0) + 1);
    }
  }
  const v: Verdict = {
    expectedBreaches: incidents.length * MILESTONES.length,
    received: 0,
    lost: 0,
    doubleFires: 0,
    republished: pager.republished,
    early: 0,
    lateness: [],
    escalationsWrong: 0,
    samples: [],
  };
  const note = (s: string) => v.samples.length < 10 && v.samples.push(s);
  for (const incident of incidents) {
    for (const milestone of MILESTONES) {
      const got = byKey.get(`${incident.id}/${milestone}`) ?? [];
      if (got.length === 0) {
        v.lost += 1;
        note(`lost: ${incident.id} ${milestone} due ${new Date(incident.dueAt).toISOString()}`);
        continue;
      }
      v.received += 1;
      if (got.length > 1) {
        v.doubleFires += 1;
        note(`double: ${incident.id} ${milestone} ids ${got.map((g) => g.id).join(' ')}`);
      }
      const first = got[0]!;
      if (first.receivedAt < incident.dueAt || first.time < incident.dueAt) {
        v.early += 1;
        note(
          `early: ${incident.id} ${milestone} due ${new Date(incident.dueAt).toISOString()}, ` +
            `event dueAt ${first.dueAt === null ? '-' : new Date(first.dueAt).toISOString()}, ` +
            `emitted ${new Date(first.time).toISOString()}, received ${new Date(first.receivedAt).toISOString()}`,
        );
      }
      v.lateness.push(first.receivedAt - incident.dueAt);
    }
    const esc = escalations.get(incident.id) ?? 0;
    if (esc !== 1) {
      v.escalationsWrong += 1;
      note(`escalated ${esc}× : ${incident.id}`);
    }
  }
  return v;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function describeVerdict(v: Verdict): string {
  const ms = (x: number) => (Number.isNaN(x) ? '-' : `${(x / 1000).toFixed(2)} s`);
  return (
    `breaches expected ${v.expectedBreaches}, received ${v.received}; lost ${v.lost}, ` +
    `double fires ${v.doubleFires}, early ${v.early}, escalations wrong ${v.escalationsWrong}, ` +
    `republished copies ${v.republished}; lateness p50 ${ms(percentile(v.lateness, 50))} ` +
    `p99 ${ms(percentile(v.lateness, 99))} max ${ms(v.lateness.length ? Math.max(...v.lateness) : NaN)}`
  );
}

// ---------------------------------------------------------------------------------------------
// Read model (SQL on the service's database: the judge's own connection)

export async function missingFromReadModel(databaseUrl: string, ids: string[]): Promise<string[]> {
  const pool = new Pool({ connectionString: databaseUrl, max: 1 });
  try {
    const { rows } = await pool.query<{ incident_id: string }>(
      `SELECT k AS incident_id FROM unnest($1::text[]) k
       WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.incident_id = k)`,
      [ids],
    );
    return rows.map((r) => r.incident_id);
  } finally {
    await pool.end();
  }
}
