// Converts the JSON Schema zod emits into a Kubernetes *structural* OpenAPI v3 schema
// (apiextensions.k8s.io/v1 JSONSchemaProps). The apiserver rejects what JSON Schema allows but
// structural schemas do not: `additionalProperties` beside `properties`, `propertyNames`,
// numeric `exclusiveMinimum`, `const`, typed `anyOf` branches, `$schema`, and so on.

export type JsonSchema = { [key: string]: unknown };

const SAFE = Number.MAX_SAFE_INTEGER;
/** Keys passed through unchanged (value validations and Kubernetes extensions). */
const KEPT = new Set([
  'type', 'description', 'default', 'enum', 'pattern', 'format', 'minLength', 'maxLength',
  'minItems', 'maxItems', 'minimum', 'maximum', 'required', 'nullable', 'uniqueItems',
  'x-kubernetes-validations', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-map-type',
]);

export function toStructural(schema: JsonSchema): JsonSchema {
  if (Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf)) return unionToStructural(schema);
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (KEPT.has(key)) out[key] = value;
  }
  if ('const' in schema) {
    out.enum = [schema.const];
    out.type ??= typeof schema.const === 'number' ? 'number' : typeof schema.const;
  }
  if (typeof schema.exclusiveMinimum === 'number') {
    out.minimum = schema.exclusiveMinimum;
    out.exclusiveMinimum = true;
  }
  if (typeof schema.exclusiveMaximum === 'number') {
    out.maximum = schema.exclusiveMaximum;
    out.exclusiveMaximum = true;
  }
  // zod writes the safe-integer range on every int(); it is noise in `kubectl explain`.
  if (out.minimum === -SAFE) delete out.minimum;
  if (out.maximum === SAFE) delete out.maximum;

  if (schema.properties && typeof schema.properties === 'object') {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties as Record<string, JsonSchema>).map(([k, v]) => [k, toStructural(v)]),
    );
  } else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    out.additionalProperties = toStructural(schema.additionalProperties as JsonSchema);
  } else if (schema.type === 'object' && !schema.properties) {
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  if (Array.isArray(out.required) && out.required.length === 0) delete out.required;
  if (schema.items && typeof schema.items === 'object') out.items = toStructural(schema.items as JsonSchema);
  return out;
}

/**
 * A union is only expressible as int-or-string (e.g. a quantity); anything else is a bug in the API.
 * The branches' value validations move up beside anyOf: `pattern`/`maxLength` only constrain strings
 * and `minimum` only numbers, so each still applies to its own branch (as for resource.Quantity).
 */
function unionToStructural(schema: JsonSchema): JsonSchema {
  const branches = (schema.anyOf ?? schema.oneOf) as JsonSchema[];
  const types = new Set(branches.map((b) => b.type));
  if (branches.length === 2 && types.has('string') && (types.has('number') || types.has('integer'))) {
    const out: JsonSchema = { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
    if (schema.description) out.description = schema.description;
    const str = branches.find((b) => b.type === 'string')!;
    const num = branches.find((b) => b.type !== 'string')!;
    if (typeof str.pattern === 'string') out.pattern = str.pattern;
    if (typeof str.maxLength === 'number') out.maxLength = str.maxLength;
    if (typeof num.minimum === 'number') out.minimum = num.minimum;
    return out;
  }
  throw new Error(`cannot express union of ${[...types].join(', ')} as a structural schema`);
}
