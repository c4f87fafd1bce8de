/**
 * Small JSON-schema builders shared by route files, so every route declares its request and
 * response shapes (undeclared fields are never serialized) without repeating boilerplate.
 */

/** A closed object: the listed properties, the required ones, nothing else. */
export function object(
  properties: Record<string, unknown>,
  required: readonly string[] = Object.keys(properties),
) {
  return {
    type: 'object',
    properties,
    required: [...required],
    additionalProperties: false,
  } as const;
}

export const uuid = { type: 'string', format: 'uuid' } as const;
export const dateTime = { type: 'string', format: 'date-time' } as const;
export const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;
export const nullableString = { type: ['string', 'null'] } as const;
export const stringList = { type: 'array', items: { type: 'string' } } as const;

/** `{ id }` path parameters. */
export const idParams = object({ id: uuid });

/** The problem+json shape every error response has. */
export const problem = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      items: object({ path: { type: 'string' }, message: { type: 'string' } }),
    },
  },
  required: ['type', 'title', 'status', 'code'],
} as const;

/** Standard error responses to add to a route's response map. */
export const errorResponses = {
  400: problem,
  401: problem,
  403: problem,
  404: problem,
  409: problem,
} as const;

/** An empty success body. */
export const empty = object({});
