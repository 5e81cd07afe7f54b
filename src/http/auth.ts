import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
} from 'fastify';
import type { ApiKeyStore, Principal, Scope } from './api-keys';
import { problem } from './server';

/**
 * Authentication is default-deny: every route needs a valid API key unless it declares
 * `config: { public: true }`. Authorization is per route: `preHandler: requireScope('incidents:read')`.
 * Keys and tokens: see ./api-keys.ts.
 */

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook for every non-public route. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** The route needs no API key (health, metrics, documentation). */
    public?: boolean;
  }
}

const BEARER = /^Bearer[ ]+(\S+)[ ]*$/i;

/**
 * Installs default-deny authentication on the root instance (call it before registering routes;
 * hooks are not inherited by routes declared earlier). A route without `config.public` answers 401
 * unless `Authorization: Bearer <token>` names a configured key. Unknown URLs pass through to 404.
 */
export function installAuth(app: FastifyInstance, keys: ApiKeyStore): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions;
    if (route.config.public === true || route.url === undefined) return;
    const header = request.headers.authorization;
    const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    const principal = token ? keys.verify(token) : null;
    if (!principal) return unauthorized(reply, header === undefined);
    request.principal = principal;
  });
}

function unauthorized(reply: FastifyReply, missing: boolean): FastifyReply {
  return reply
    .code(401)
    .header('www-authenticate', 'Bearer realm="sla-timer"')
    .send(
      problem(
        401,
        'unauthorized',
        missing
          ? 'an API key is required: Authorization: Bearer <token>'
          : 'the API key is not valid',
      ),
    );
}

/** Marks the handler so the OpenAPI generator can document the scope a route needs. */
export const REQUIRED_SCOPE = Symbol.for('sla-timer.requiredScope');

export type ScopeCheck = preHandlerAsyncHookHandler & { [REQUIRED_SCOPE]: Scope };

/**
 * Route-level authorization: `app.get(url, { preHandler: requireScope('incidents:read') }, h)`.
 * 401 when nobody is authenticated (also when `installAuth` was forgotten), 403 without the scope.
 */
export function requireScope(scope: Scope): ScopeCheck {
  const check = async (request: FastifyRequest, reply: FastifyReply) => {
    const principal = request.principal;
    if (!principal) return unauthorized(reply, request.headers.authorization === undefined);
    if (!principal.scopes.has(scope)) {
      return reply
        .code(403)
        .send(problem(403, 'forbidden', `the API key lacks the scope ${scope}`));
    }
  };
  return Object.assign(check, { [REQUIRED_SCOPE]: scope });
}

/** The scope a route requires, from its preHandler(s); undefined when none is declared. */
export function requiredScopeOf(preHandler: unknown): Scope | undefined {
  const handlers = Array.isArray(preHandler) ? (preHandler as unknown[]) : [preHandler];
  for (const h of handlers) {
    if (typeof h === 'function' && REQUIRED_SCOPE in h) return (h as ScopeCheck)[REQUIRED_SCOPE];
  }
  return undefined;
}

export { SCOPES, type Scope, type Principal } from './api-keys';
