import { z } from 'zod';
import { ApiKeyStore } from '../../../src/http/api-keys';
import { installAuth, requireScope } from '../../../src/http/auth';
import { ApiDocs } from '../../../src/http/openapi';
import { buildServer } from '../../../src/http/server';
import { createLogger } from '../../../src/infra/logger';
import { createMetricsRegistry } from '../../../src/infra/metrics';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function documentOf(
  register: (app: ReturnType<typeof buildServer>) => void,
): Promise<{ doc: Json; docs: ApiDocs }> {
  const app = buildServer({
    logger: createLogger('silent'),
    metrics: createMetricsRegistry(),
    readiness: [],
  });
  installAuth(app, new ApiKeyStore([]));
  const docs = new ApiDocs({
    title: 't',
    version: '1',
    description: 'd',
    license: { name: 'Apache License 2.0', identifier: 'Apache-2.0' },
  });
  docs.collect(app);
  register(app);
  await app.ready();
  await app.close();
  return { doc: docs.document(), docs };
}

const Thing = z.object({ id: z.string(), size: z.number().int().default(1) }).meta({ id: 'Thing' });

describe('ApiDocs', () => {
  it('derives security from requireScope and config.public, and adds the standard answers', async () => {
    const { doc } = await documentOf((app) => {
      app.get(
        '/v1/things/:id',
        {
          preHandler: requireScope('incidents:read'),
          config: {
            docs: {
              summary: 'One thing',
              params: z.object({ id: z.string().describe('The id') }),
              querystring: z.object({ verbose: z.enum(['true', 'false']).optional() }),
              responses: { 200: Thing },
            },
          },
        },
        async () => ({}),
      );
      app.get(
        '/open',
        { config: { public: true, docs: { summary: 'Open', responses: { 200: z.string() } } } },
        async () => '',
      );
    });
    const op = doc.paths['/v1/things/{id}'].get;
    expect(op.operationId).toBe('getThingsById');
    expect(op.security).toEqual([{ apiKey: ['incidents:read'] }]);
    expect(Object.keys(op.responses as Json).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '429',
      '503',
    ]);
    expect(op.parameters).toEqual([
      { name: 'id', in: 'path', required: true, description: 'The id', schema: { type: 'string' } },
      {
        name: 'verbose',
        in: 'query',
        required: false,
        schema: { type: 'string', enum: ['true', 'false'] },
      },
    ]);
    expect(op.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Thing',
    });
    expect(doc.paths['/open'].get.security).toEqual([]);
    expect(Object.keys(doc.paths['/open'].get.responses as Json)).toEqual(['200']);
    expect(doc.components.responses.Unauthorized.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Problem',
    });
  });

  it('keeps request and response variants of one component apart', async () => {
    const { doc } = await documentOf((app) => {
      app.post(
        '/things',
        { config: { docs: { summary: 'Make', body: Thing, responses: { 201: Thing } } } },
        async () => ({}),
      );
    });
    // Input: `size` optional (it has a default); output: required.
    expect(doc.components.schemas.Thing.required).toEqual(['id']);
    expect(doc.components.schemas.ThingOutput.required).toEqual(['id', 'size']);
    expect(doc.paths['/things'].post.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Thing',
    });
  });

  it('reports routes without docs and skips hidden ones', async () => {
    const { docs } = await documentOf((app) => {
      app.get('/forgotten', async () => '');
      app.get('/hidden', { schema: { hide: true } }, async () => '');
    });
    expect(docs.undocumented()).toEqual(['GET /forgotten']);
  });
});

describe('served documentation', () => {
  it('serves /openapi.json and the /docs page without a key', async () => {
    const { buildTestApi } = await import('./app');
    const api = await buildTestApi();
    try {
      const spec = await api.app.inject('/openapi.json');
      expect(spec.statusCode).toBe(200);
      const doc = spec.json<Json>();
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.paths['/v1/events'].post.security).toEqual([{ apiKey: ['events:write'] }]);
      const page = await api.app.inject('/docs');
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toContain('text/html');
      expect((await api.app.inject('/docs/json')).json<Json>().paths).toEqual(doc.paths);
    } finally {
      await api.app.close();
    }
  });
});
