import { UnavailableError } from '../../../src/errors';
import type { EventPublisher, OutgoingRecord } from '../../../src/infra/kafka';

/**
 * The whole EventPublisher port in memory. `mode` decides what publish does: acknowledge, fail as
 * an unreachable Kafka does (UnavailableError), or never answer (a hung broker; the caller's
 * timeout must fire).
 */
export class InMemoryPublisher implements EventPublisher {
  readonly published: { topic: string; record: OutgoingRecord }[] = [];
  calls = 0;
  mode: 'ack' | 'down' | 'hang' = 'ack';
  closed = false;

  async publish(topic: string, records: OutgoingRecord[]): Promise<void> {
    if (this.closed) throw new Error('publisher is closed');
    this.calls++;
    if (this.mode === 'down') throw new UnavailableError('kafka', 'broker unreachable');
    if (this.mode === 'hang') return new Promise<void>(() => undefined);
    for (const record of records) this.published.push({ topic, record });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
