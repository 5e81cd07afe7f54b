/**
 * The committed contracts pass the tools their readers run: `redocly lint` (the recommended
 * ruleset, redocly.yaml; the public pages' missing 4XX are the only ignored occurrences, in
 * .redocly.lint-ignore.yaml) and the official AsyncAPI parser. documents.test.ts keeps the committed
 * files equal to what the code generates, so this lints the generator's output too.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Parser } from '@asyncapi/parser';
import YAML from 'yaml';
import { ROOT } from '../../../scripts/gen-contracts';

jest.setTimeout(60_000);

interface RedoclyReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: {
    ruleId: string;
    severity: string;
    message: string;
    location: { pointer: string }[];
  }[];
}

describe('openapi.yaml under redocly lint (recommended rules)', () => {
  let report: RedoclyReport;
  beforeAll(async () => {
    const cli = path.join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    // redocly exits 1 on errors; the JSON report is on stdout either way.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [cli, 'lint', 'openapi.yaml', '--format=json'],
      {
        cwd: ROOT,
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
        maxBuffer: 16 * 1024 * 1024,
      },
    ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    report = JSON.parse(stdout) as RedoclyReport;
  });

  it('has no errors and no warnings', () => {
    const problems = report.problems.map(
      (p) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`,
    );
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('ignores only the public pages without a 4XX (three probes and the wallboard)', () => {
    expect(report.totals.ignored).toBe(4);
    const ignore = YAML.parse(
      readFileSync(path.join(ROOT, '.redocly.lint-ignore.yaml'), 'utf8'),
    ) as Record<string, Record<string, string[]>>;
    expect(ignore).toEqual({
      'openapi.yaml': {
        'operation-4xx-response': [
          '#/paths/~1board/get/responses',
          '#/paths/~1healthz/get/responses',
          '#/paths/~1metrics/get/responses',
          '#/paths/~1readyz/get/responses',
        ],
      },
    });
  });

  it('declares servers, a license, and 413/415 for every operation that takes a body', () => {
    const doc = YAML.parse(readFileSync(path.join(ROOT, 'openapi.yaml'), 'utf8')) as {
      servers: { url: string }[];
      info: { license: { name: string; identifier: string } };
      paths: Record<string, Record<string, { requestBody?: unknown; responses: object }>>;
    };
    expect(doc.servers.length).toBeGreaterThan(0);
    expect(doc.info.license.identifier).toBe('Apache-2.0');
    for (const [url, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        if (!op.requestBody) continue;
        expect([method, url, Object.keys(op.responses)]).toEqual([
          method,
          url,
          expect.arrayContaining(['400', '413', '415']),
        ]);
      }
    }
  });

  it('documents the three CloudEvents content modes of POST /v1/events', () => {
    const doc = YAML.parse(readFileSync(path.join(ROOT, 'openapi.yaml'), 'utf8')) as {
      paths: Record<
        string,
        Record<
          string,
          { parameters: { name: string; in: string }[]; requestBody: { content: object } }
        >
      >;
    };
    const op = doc.paths['/v1/events']!.post!;
    expect(Object.keys(op.requestBody.content).sort()).toEqual([
      'application/cloudevents+json',
      'application/cloudevents-batch+json',
      'application/json',
    ]);
    expect(op.parameters.filter((p) => p.in === 'header').map((p) => p.name)).toEqual([
      'ce-specversion',
      'ce-id',
      'ce-source',
      'ce-type',
      'ce-subject',
      'ce-time',
    ]);
  });
});

describe('asyncapi.yaml under the AsyncAPI parser', () => {
  it('parses with no diagnostics at all, and declares servers and a license', async () => {
    const { document, diagnostics } = await new Parser().parse(
      readFileSync(path.join(ROOT, 'asyncapi.yaml'), 'utf8'),
    );
    expect(
      diagnostics.map(
        (d) => `${d.severity} ${String(d.code)} at ${d.path.join('.')}: ${d.message}`,
      ),
    ).toEqual([]);
    expect(document).toBeDefined();
    expect(
      document!
        .servers()
        .all()
        .map((s) => s.protocol()),
    ).toEqual(['kafka']);
    expect(document!.info().license()?.name()).toBe('Apache-2.0');
  });
});
