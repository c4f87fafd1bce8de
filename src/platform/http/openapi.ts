import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/**
 * Publishes the OpenAPI 3.1 document built from the routes' own schemas at
 * /api/openapi.json and a browsable page at /api/docs (assets served locally: Ward makes no
 * outbound calls, and neither does its documentation page).
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Ward API',
        version: '1',
        description:
          'HIPAA-grade health-data platform. Bearer tokens; X-Purpose-Of-Use (HL7) on every PHI request; errors are application/problem+json with a stable code.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    staticCSP: true,
    // The page loads nothing from elsewhere: no validator badge, no remote fonts or styles.
    transformStaticCSP: () => docsCsp,
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, () => app.swagger());
}

const docsCsp = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self'",
].join('; ');
