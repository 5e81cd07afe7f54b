import { z } from 'zod';

/**
 * The error body of every non-2xx answer (src/http/server.ts `problem()`): a machine code, a message
 * for people, and for 400/422 one entry per offending field (`[3].data.severity` in a batch).
 */
export const fieldIssueSchema = z
  .object({
    path: z.string().describe('The field: `data.severity`, `[3].time` (batch item 3), `(body)`'),
    message: z.string(),
  })
  .meta({ id: 'FieldIssue' });

export const problemSchema = z
  .object({
    status: z.number().int().describe('The HTTP status, repeated'),
    code: z.string().describe('Machine-readable, e.g. invalid, unauthorized, kafka_unavailable'),
    message: z.string(),
    details: z.array(fieldIssueSchema).optional(),
  })
  .meta({ id: 'Problem', description: 'An error answer' });

export type ProblemBody = z.infer<typeof problemSchema>;
