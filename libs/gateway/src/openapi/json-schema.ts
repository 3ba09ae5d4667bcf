import { z } from 'zod';

/**
 * JSON Schema 2020-12, the dialect of OpenAPI 3.1. `io: 'input'` describes a body as its sender
 * writes it: a request's optional fields stay optional, and a response's `z.object` stays open
 * (no `additionalProperties: false`), so a client tolerates fields a newer server adds, while the
 * requests' strict objects are closed. The few custom checks (code-point lengths, `data`) carry
 * their JSON Schema keywords in `.meta()`; `unrepresentable: 'any'` lets them through.
 */
const OPTIONS = { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' } as const;

type JsonSchema = Record<string, unknown>;

/** One schema as JSON Schema, for a Fastify route or a document (without `$schema`). */
export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return withoutDialect(z.toJSONSchema(schema, OPTIONS) as JsonSchema);
}

/** Each schema by its name, as OpenAPI components that refer to each other as `#/components/schemas/<name>`. */
export function componentSchemas(schemas: Readonly<Record<string, z.ZodType>>): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, { ...OPTIONS, uri: (id) => `#/components/schemas/${id}` }).schemas as Record<string, JsonSchema>;
  return Object.fromEntries(Object.entries(generated).map(([id, schema]) => [id, withoutDialect(schema)]));
}

/** The document (or the route) states the dialect once; a component's own `$id` would change how its `$ref`s resolve. */
function withoutDialect(schema: JsonSchema): JsonSchema {
  const copy = { ...schema };
  delete copy['$schema'];
  delete copy['$id'];
  return copy;
}

/** An object schema's properties as OpenAPI query parameters, each with its description beside its schema. */
export function queryParameters(schema: z.ZodObject): JsonSchema[] {
  const { properties = {}, required = [] } = jsonSchemaOf(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: 'query', required: required.includes(name), schema: rest, ...(description === undefined ? {} : { description }) };
  });
}
