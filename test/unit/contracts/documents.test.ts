import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { generateContracts, ROOT, type Contracts } from '../../../scripts/gen-contracts';

/**
 * openapi.yaml and asyncapi.yaml are generated from the code (`npm run contracts`) and committed.
 * These tests fail when the committed files drift from what the code generates, so a schema change
 * cannot ship without its contract change being visible in review.
 */
let contracts: Contracts;
beforeAll(async () => {
  contracts = await generateContracts();
}, 30_000);

function firstDifference(a: string, b: string): string {
  const al = a.split('\n');
  const bl = b.split('\n');
  const i = al.findIndex((line, n) => line !== bl[n]);
  const at = i === -1 ? Math.min(al.length, bl.length) : i;
  return `line ${at + 1}:\n  committed: ${bl[at] ?? '(end)'}\n  generated: ${al[at] ?? '(end)'}`;
}

describe.each(['openapi.yaml', 'asyncapi.yaml'] as const)('%s', (file) => {
  it('is up to date with the code (run `npm run contracts` when this fails)', () => {
    const committed = readFileSync(path.join(ROOT, file), 'utf8');
    const generated = contracts[file];
    if (generated !== committed) {
      throw new Error(
        `${file} drifted from the code; run npm run contracts. First difference at ${firstDifference(generated, committed)}`,
      );
    }
  });
});

describe('openapi.yaml', () => {
  type Operation = { responses: Record<string, unknown>; security: Record<string, string[]>[] };
  const doc = () =>
    YAML.parse(contracts['openapi.yaml']) as {
      openapi: string;
      paths: Record<string, Record<string, Operation>>;
      components: { schemas: Record<string, unknown> };
    };

  it('documents every route of the api role', () => {
    expect(contracts.undocumented).toEqual([]);
    expect(Object.keys(doc().paths)).toEqual(
      expect.arrayContaining(['/v1/events', '/healthz', '/readyz', '/metrics']),
    );
  });

  it('lists every answer of POST /v1/events (SPEC §5) and its scope', () => {
    const op = doc().paths['/v1/events']!.post!;
    expect(Object.keys(op.responses).sort()).toEqual([
      '202',
      '400',
      '401',
      '403',
      '413',
      '415',
      '422',
      '429',
      '503',
    ]);
    expect(op.security).toEqual([{ apiKey: ['events:write'] }]);
  });

  it('gives every authenticated operation its 401 and 429, and every scoped one its 403', () => {
    for (const [url, methods] of Object.entries(doc().paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${url}`;
        if (op.security.length === 0) continue;
        expect([where, '401' in op.responses, '429' in op.responses]).toEqual([where, true, true]);
        if (op.security[0]!.apiKey!.length > 0)
          expect([where, '403' in op.responses]).toEqual([where, true]);
      }
    }
  });

  it('resolves every $ref', () => {
    const text = contracts['openapi.yaml'];
    const parsed = doc() as unknown as Record<string, Record<string, Record<string, unknown>>>;
    for (const [, section, name] of text.matchAll(/\$ref: "#\/components\/(\w+)\/([\w.-]+)"/g)) {
      expect([section, name, parsed.components![section!]?.[name!] !== undefined]).toEqual([
        section,
        name,
        true,
      ]);
    }
  });
});

describe('asyncapi.yaml', () => {
  const doc = () =>
    YAML.parse(contracts['asyncapi.yaml']) as {
      info: { description: string };
      channels: Record<string, { address: string; messages: Record<string, unknown> }>;
      components: {
        messages: Record<string, { payload: unknown }>;
        schemas: Record<string, unknown>;
      };
    };

  it('describes the five topics and says that consumers dedupe by event id', () => {
    const d = doc();
    expect(
      Object.values(d.channels)
        .map((c) => c.address)
        .sort(),
    ).toEqual([
      'incident.events',
      'incident.events.dlq',
      'sla.escalations',
      'sla.reports',
      'sla.warnings',
    ]);
    expect(d.info.description).toContain('consumers dedupe by event id');
    expect(Object.keys(d.channels.slaEscalations!.messages).sort()).toEqual([
      'IncidentEscalated',
      'InspectionBreachRetracted',
      'InspectionBreached',
      'SlaBreachRetracted',
      'SlaBreached',
      'SlaStandDown',
    ]);
  });

  it('uses the ingest schemas for incident.events', () => {
    const d = doc();
    expect(d.components.messages.IncidentEvent!.payload).toEqual({
      $ref: '#/components/schemas/IncidentEvent',
    });
    expect(d.components.schemas.IncidentEvent).toBeDefined();
  });
});
