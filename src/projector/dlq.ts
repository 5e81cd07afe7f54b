import { DLQ_HEADERS } from '../contracts/dlq';
import type { OutgoingRecord } from '../infra/kafka';
import type { PoisonRecord } from './decode';

/**
 * Dead-letter records: the original key, value and headers, plus headers that say why and where
 * from (DLQ_HEADERS, src/contracts/dlq.ts), so an operator can fix and re-post the event or find
 * it in the source topic.
 */
export { DLQ_HEADERS };

/** Header values are bounded: a poison record's issue list can be long. */
const MAX_MESSAGE = 2_000;

export function toDlqRecord(
  poison: PoisonRecord,
  origin: { topic: string; partition: number; groupId: string },
): OutgoingRecord {
  const { record } = poison;
  return {
    key: record.key?.toString('utf8') ?? '',
    value: record.value ?? Buffer.alloc(0),
    headers: {
      ...record.headers,
      [DLQ_HEADERS.error]: poison.reason,
      [DLQ_HEADERS.message]: poison.detail.slice(0, MAX_MESSAGE),
      [DLQ_HEADERS.topic]: origin.topic,
      [DLQ_HEADERS.partition]: String(origin.partition),
      [DLQ_HEADERS.offset]: poison.offset.toString(),
      [DLQ_HEADERS.timestamp]: String(record.timestamp),
      [DLQ_HEADERS.group]: origin.groupId,
    },
  };
}
