/**
 * Headers of a dead-letter record (incident.events.dlq, src/projector/dlq.ts writes them): why the
 * record was set aside and where it came from. Part of the AsyncAPI document (contracts/asyncapi.ts).
 */
export const DLQ_HEADERS = {
  error: 'dlq-error',
  message: 'dlq-error-message',
  topic: 'dlq-original-topic',
  partition: 'dlq-original-partition',
  offset: 'dlq-original-offset',
  timestamp: 'dlq-original-timestamp',
  group: 'dlq-consumer-group',
} as const;
