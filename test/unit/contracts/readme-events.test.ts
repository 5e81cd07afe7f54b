/**
 * README "Lifecycle events" lists every event type POST /v1/events takes, with the `data` fields
 * each requires and allows: pinned here to the contract (src/contracts/events.ts), so the table
 * cannot drift from what the API accepts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { EVENT_TYPES, eventDataSchemas } from '../../../src/contracts/events';

const fields = (cell: string) => [...cell.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!).sort();

type Row = { type: string; required: string[]; optional: string[] };

function readmeRows(): Row[] {
  const readme = readFileSync(path.join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const section = readme.split('\n### Lifecycle events\n')[1]?.split('\n### ')[0] ?? '';
  return [...section.matchAll(/^\| `([a-z_]+\.[a-z_]+)` +\|([^|]*)\|([^|]*)\|/gm)].map((m) => ({
    type: m[1]!,
    required: fields(m[2]!),
    optional: fields(m[3]!),
  }));
}

test('the README table names every event type, each once, and nothing else', () => {
  expect(
    readmeRows()
      .map((r) => r.type)
      .sort(),
  ).toEqual([...EVENT_TYPES].sort());
});

test.each([...EVENT_TYPES])(
  '%s: the README names its required and optional data fields',
  (type) => {
    const schemas = eventDataSchemas as unknown as Record<string, z.ZodType>;
    const json = z.toJSONSchema(schemas[type]!, { io: 'input' }) as {
      properties?: Record<string, unknown>;
      required?: string[];
    };
    const required = [...(json.required ?? [])].sort();
    const optional = Object.keys(json.properties ?? {})
      .filter((p) => !required.includes(p))
      .sort();
    expect(readmeRows().find((r) => r.type === type)).toEqual({ type, required, optional });
  },
);
