import { createRequire } from 'node:module';

/**
 * For tests: a JSON Schema 2020-12 validator of an OpenAPI document's component schemas that knows
 * nothing of zod (Ajv 8 with its formats, the pair Fastify's validator compiler uses; reached
 * through ajv-formats, since the repository's top-level `ajv` is ESLint's Ajv 6). Strict: a
 * keyword Ajv does not know (a typo, or something zod emits that JSON Schema lacks) fails.
 */
export interface Validate {
  (data: unknown): boolean;
  errors?: { instancePath: string; message?: string }[] | null;
}
interface Ajv {
  addSchema(schema: object, key: string): Ajv;
  addKeyword(keyword: string): Ajv;
  compile(schema: object): Validate;
  getSchema(ref: string): Validate | undefined;
}

const fromFormats = createRequire(require.resolve('ajv-formats'));

export function documentValidator(document: { components: object }): { component(name: string): Validate; compile(schema: object): Validate } {
  const Ajv2020 = (fromFormats('ajv/dist/2020') as { default: new (options: object) => Ajv }).default;
  const addFormats = (fromFormats('ajv-formats') as { default: (ajv: Ajv) => Ajv }).default;
  const ajv = addFormats(new Ajv2020({ strict: true, strictTypes: false, allErrors: true }));
  // The components at their own $refs (`#/components/schemas/...`).
  ajv.addKeyword('components').addSchema({ components: document.components }, 'doc');
  return {
    component(name) {
      const validate = ajv.getSchema(`doc#/components/schemas/${name}`);
      if (!validate) throw new Error(`no component ${name}`);
      return validate;
    },
    compile: (schema) => ajv.compile(schema),
  };
}
