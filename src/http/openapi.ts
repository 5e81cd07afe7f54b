import type { FastifyInstance, RouteOptions } from 'fastify';
import { z } from 'zod';
import { problemSchema } from '../contracts/http-common';
import { SchemaComponents } from '../contracts/json-schema';
import { requiredScopeOf } from './auth';

/**
 * The OpenAPI document is generated from the routes themselves. A route documents itself with zod
 * schemas in its config — the same schemas its handler validates with:
 *
 *   app.get('/v1/incidents/:id', {
 *     preHandler: requireScope('incidents:read'),
 *     config: { docs: { summary: 'One incident', tags: ['incidents'],
 *                       params: incidentIdParams, responses: { 200: incidentSchema } } },
 *   }, handler);
 *
 * `ApiDocs.collect(app)` must run before the routes are registered (fastify reports routes through
 * an `onRoute` hook). Security is derived, not declared: a route with `config.public` needs no key;
 * otherwise the scope comes from its `requireScope(...)` hook, and the 401/403/429/503 answers every
 * authenticated route can give are added, as is 400 when the route takes input and 413/415 when it
 * takes a body. The public probes (/healthz, /readyz, /metrics) and the /board page take neither
 * input nor a key and answer no 4xx of their own (.redocly.lint-ignore.yaml says so to the linter).
 */

export interface ResponseDocs {
  description: string;
  /** Media type → schema; omitted for an empty body. */
  content?: Record<string, z.ZodType>;
  headers?: Record<string, { description: string; schema?: z.ZodType }>;
}

export interface RouteDocs {
  summary: string;
  description?: string;
  tags?: string[];
  operationId?: string;
  params?: z.ZodType;
  querystring?: z.ZodType;
  /** Request headers worth documenting (an object schema; optional fields are optional headers). */
  headers?: z.ZodType;
  /** A zod schema (application/json) or media type → schema. */
  body?: z.ZodType | { description?: string; content: Record<string, z.ZodType> };
  /** A zod schema (application/json, described by its `.describe()`) or full response docs. */
  responses: Record<number, z.ZodType | ResponseDocs>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** OpenAPI documentation of the route (src/http/openapi.ts). */
    docs?: RouteDocs;
  }
}

export interface ApiInfo {
  title: string;
  version: string;
  description: string;
  license: { name: string; identifier: string };
}

export interface ApiServer {
  url: string;
  description: string;
  variables?: Record<string, { default: string; description: string }>;
}

type Json = Record<string, unknown>;

interface DocumentedRoute {
  method: string;
  url: string;
  docs: RouteDocs | undefined;
  public: boolean;
  scope: string | undefined;
}

export class ApiDocs {
  private readonly routes: DocumentedRoute[] = [];

  constructor(
    private readonly info: ApiInfo,
    /** Routes registered before `collect` (health, metrics), documented by hand. */
    private readonly extraRoutes: { method: string; url: string; docs: RouteDocs }[] = [],
    private readonly servers: ApiServer[] = [],
  ) {}

  /** Records every route registered on `app` (and its children) from now on. */
  collect(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      if (route.schema?.hide) return;
      for (const method of [route.method].flat()) {
        if (method === 'HEAD' || method === 'OPTIONS') continue;
        this.routes.push({
          method,
          url: route.url,
          docs: route.config?.docs,
          public: route.config?.public === true,
          scope: requiredScopeOf(route.onRequest) ?? requiredScopeOf(route.preHandler),
        });
      }
    });
  }

  /** `METHOD url` of every collected route without `config.docs` (the drift test fails on them). */
  undocumented(): string[] {
    return this.routes.filter((r) => !r.docs).map((r) => `${r.method} ${r.url}`);
  }

  /** The OpenAPI 3.1 document: deterministic (paths, methods and components sorted). */
  document(): Json {
    const components = new SchemaComponents();
    const all: DocumentedRoute[] = [
      ...this.extraRoutes.map((r) => ({ ...r, public: true, scope: undefined })),
      ...this.routes,
    ].sort((a, b) => cmp(a.url, b.url) || cmp(a.method, b.method));
    const paths: Record<string, Json> = {};
    for (const route of all) {
      if (!route.docs) continue;
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      (paths[path] ??= {})[route.method.toLowerCase()] = operation(route, route.docs, components);
    }
    return {
      openapi: '3.1.0',
      info: this.info,
      servers: this.servers,
      paths,
      components: {
        schemas: components.all(),
        responses: standardResponses(components),
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An API key (`npm run api-key`) as `Authorization: Bearer <token>`. The scopes a ' +
              'route needs are listed in its security requirement: events:write, incidents:read, ' +
              'admin (independent; admin does not imply the others).',
          },
        },
      },
    };
  }
}

function operation(route: DocumentedRoute, docs: RouteDocs, components: SchemaComponents): Json {
  const op: Json = { summary: docs.summary };
  if (docs.description) op.description = docs.description;
  if (docs.tags) op.tags = docs.tags;
  op.operationId = docs.operationId ?? defaultOperationId(route.method, route.url);
  const parameters = [
    ...parametersOf(docs.params, 'path', components),
    ...parametersOf(docs.querystring, 'query', components),
    ...parametersOf(docs.headers, 'header', components),
  ];
  if (parameters.length) op.parameters = parameters;
  if (docs.body) op.requestBody = requestBody(docs.body, components);

  const responses: Json = {};
  for (const [status, res] of Object.entries(docs.responses)) {
    responses[status] = response(Number(status), res, components);
  }
  const hasInput = Boolean(docs.params || docs.querystring || docs.body);
  const standard: [string, string, boolean][] = [
    ['400', 'BadRequest', hasInput],
    ['401', 'Unauthorized', !route.public],
    ['403', 'Forbidden', !route.public && route.scope !== undefined],
    // fastify's own answers for any body: over the route's bodyLimit, or a media type it cannot parse.
    ['413', 'PayloadTooLarge', Boolean(docs.body)],
    ['415', 'UnsupportedMediaType', Boolean(docs.body)],
    ['429', 'RateLimited', !route.public],
    ['503', 'Unavailable', !route.public],
  ];
  for (const [status, name, applies] of standard) {
    if (applies && !(status in responses))
      responses[status] = { $ref: `#/components/responses/${name}` };
  }
  op.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => cmp(a, b)));
  op.security = route.public ? [] : [{ apiKey: route.scope ? [route.scope] : [] }];
  return op;
}

function parametersOf(
  schema: z.ZodType | undefined,
  where: 'path' | 'query' | 'header',
  components: SchemaComponents,
): Json[] {
  if (!schema) return [];
  const json = components.convert(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, prop]) => {
    const { description, ...propSchema } = prop;
    const param: Json = { name, in: where, required: where === 'path' || required.has(name) };
    if (typeof description === 'string') param.description = description;
    param.schema = propSchema;
    return param;
  });
}

function requestBody(body: NonNullable<RouteDocs['body']>, components: SchemaComponents): Json {
  const { description, content } =
    body instanceof z.ZodType
      ? { description: undefined, content: { 'application/json': body } }
      : body;
  const out: Json = { required: true };
  if (description) out.description = description;
  out.content = mapValues(content, (schema) => ({ schema: components.convert(schema, 'input') }));
  return out;
}

function response(
  status: number,
  res: z.ZodType | ResponseDocs,
  components: SchemaComponents,
): Json {
  const docs: ResponseDocs =
    res instanceof z.ZodType
      ? {
          description: res.description ?? defaultDescription(status),
          content: { 'application/json': res },
        }
      : res;
  const out: Json = { description: docs.description };
  if (docs.headers) {
    out.headers = mapValues(docs.headers, (h) => ({
      description: h.description,
      schema: h.schema ? components.convert(h.schema, 'output') : { type: 'string' },
    }));
  }
  if (docs.content) {
    out.content = mapValues(docs.content, (schema) => ({
      schema: components.convert(schema, 'output'),
    }));
  }
  return out;
}

function standardResponses(components: SchemaComponents): Json {
  const problem = { 'application/json': { schema: components.convert(problemSchema, 'output') } };
  const retryAfter = {
    'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
  };
  return {
    BadRequest: {
      description: 'Malformed or invalid input; `details` names every bad field',
      content: problem,
    },
    Unauthorized: { description: 'No API key, or not a valid one', content: problem },
    Forbidden: { description: 'The API key lacks the scope the route needs', content: problem },
    PayloadTooLarge: { description: 'The body is larger than the route accepts', content: problem },
    UnsupportedMediaType: {
      description: 'The body is not of a media type the route reads',
      content: problem,
    },
    RateLimited: {
      description: 'Too many requests for this API key',
      headers: retryAfter,
      content: problem,
    },
    Unavailable: {
      description: 'A dependency (Kafka, Postgres) is unavailable, or the service sheds load',
      headers: retryAfter,
      content: problem,
    },
  };
}

function defaultOperationId(method: string, url: string): string {
  const words = url
    .split('/')
    .filter((s) => s && s !== 'v1')
    .map((s) => (s.startsWith(':') ? `by-${s.slice(1)}` : s))
    .flatMap((s) => s.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  return [method.toLowerCase(), ...words]
    .map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1)))
    .join('');
}

function defaultDescription(status: number): string {
  return (
    { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No content' }[status] ?? `HTTP ${status}`
  );
}

function mapValues<T, U>(o: Record<string, T>, f: (v: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
