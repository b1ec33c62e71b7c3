// JSON Schema (as OpenAI clients send it for `response_format` and tool parameters) to the subset
// node-llama-cpp turns into a GBNF grammar. Every keyword that would change what is valid and that
// the grammar cannot enforce is refused with a 400 naming its place: an output that does not
// validate against the client's own schema would be a silent lie. Keywords that only annotate
// (title, examples, default...) are dropped.
import { ApiError, clip } from './api-error.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// Annotations: no effect on validity.
const ANNOTATIONS = new Set(['title', 'examples', 'default', '$schema', '$id', '$comment', 'deprecated', 'readOnly', 'writeOnly']);
const BASIC_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);
const FORMATS = new Set(['date-time', 'time', 'date']);
// A hostile schema must not make the grammar compiler (or this walk) the bottleneck.
const MAX_DEPTH = 32;
const MAX_NODES = 2000;
/**
 * llama.cpp's grammar parser does not enforce a repetition bound above 2000: `x{0,2001}` accepts
 * 2,002 x (measured on node-llama-cpp 3.21.1). A larger minLength, maxLength, minItems, maxItems,
 * minProperties or maxProperties would not hold, so it is refused.
 */
export const MAX_REPETITION = 2000;

export type GbnfSchema = Record<string, unknown>;

/**
 * What one request's grammars cost to compile, counted as llama.cpp's parser expands them: it
 * writes out a repetition `x{m,n}` as about max(m, n) rules. The grammar is compiled on the event
 * loop (synchronously: node-llama-cpp writes the GBNF, the native addon parses it, and parses it
 * again for each generation's evaluation state), so the sum over response_format and every tool of
 * a request is bounded. Measured on 2 busy cores (node-llama-cpp 3.21.1), per "rule": ~2 µs for
 * a repetition, a schema node ~8 (node-llama-cpp's writer), an enum value ~15 (each is an
 * alternative the parser starts a stack for), 32 characters of literal text ~1; at the bound, a
 * compilation took 30-70 ms and an evaluation state 30 ms (docs/security.md).
 */
export class GrammarBudget {
  static readonly MAX_RULES = 15_000;
  /** Rules a schema node costs beyond its repetitions (the rule, its alternatives and separators). */
  static readonly NODE_RULES = 8;
  static readonly ENUM_VALUE_RULES = 15;
  /** Literal text (property names, enum and const values) costs a rule per this many characters. */
  static readonly CHARS_PER_RULE = 32;
  rules = 0;

  /** Adds `rules`; past the bound, a 400 naming `where` and the limit. */
  charge(rules: number, where: string): void {
    this.rules += rules;
    if (this.rules > GrammarBudget.MAX_RULES) {
      throw new ApiError(400, `'${clip(where, 160)}' brings the grammar of this request over its limit of ${GrammarBudget.MAX_RULES} rules `
        + `(each schema node counts ${GrammarBudget.NODE_RULES}, each enum value ${GrammarBudget.ENUM_VALUE_RULES}, each minLength, maxLength, minItems, `
        + `maxItems, minProperties and maxProperties its value, literal text 1 per ${GrammarBudget.CHARS_PER_RULE} characters; summed over response_format and every tool)`, { param: clip(where, 160), code: 'grammar_too_large' });
    }
  }

  chargeText(text: string, where: string): void {
    this.charge(Math.ceil(text.length / GrammarBudget.CHARS_PER_RULE), where);
  }
}

/**
 * Converts `schema` (found at `param`) or throws a 400 naming the unsupported part. The rules it
 * will expand to are charged to `budget`, which one request shares across all its schemas.
 */
export function toGrammarSchema(schema: unknown, param: string, budget = new GrammarBudget()): GbnfSchema {
  let nodes = 0;
  const fail = (where: string, why: string) => new ApiError(400, `'${clip(where, 160)}' ${why}`, { param: clip(where, 160), code: 'unsupported_schema' });
  const isJsonScalar = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  const count = (where: string, v: unknown, min: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_REPETITION) {
      throw fail(where, `must be an integer between ${min} and ${MAX_REPETITION} (llama.cpp's grammars do not enforce larger bounds)`);
    }
    budget.charge(v, where);
    return v;
  };
  const literal = (v: unknown, where: string) => { if (typeof v === 'string') budget.chargeText(v, where); };

  const walk = (s: unknown, where: string, depth: number, defs: Set<string>): GbnfSchema => {
    if (++nodes > MAX_NODES) throw fail(param, `has more than ${MAX_NODES} schema nodes`);
    budget.charge(GrammarBudget.NODE_RULES, where);
    if (depth > MAX_DEPTH) throw fail(where, `nests deeper than ${MAX_DEPTH} levels`);
    if (s === true || (isObj(s) && Object.keys(s).every((k) => ANNOTATIONS.has(k) || k === 'description'))) {
      // Any JSON value.
      return { oneOf: [{ type: ['string', 'number', 'boolean', 'null'] }, { type: 'object', additionalProperties: true }, { type: 'array' }] };
    }
    if (!isObj(s)) throw fail(where, 'must be a JSON schema object');
    const out: GbnfSchema = {};
    const localDefs = new Set(defs);
    for (const key of ['$defs', 'definitions']) {
      if (s[key] === undefined) continue;
      if (!isObj(s[key])) throw fail(`${where}.${key}`, 'must be an object');
      // node-llama-cpp resolves only "#/$defs/NAME" references.
      if (key === 'definitions') throw fail(`${where}.definitions`, "is not supported: use '$defs'");
      for (const name of Object.keys(s[key])) localDefs.add(name);
    }
    if (s.$defs !== undefined) {
      const d: Obj = {};
      for (const [name, sub] of Object.entries(s.$defs as Obj)) {
        if (name === '__proto__') throw fail(`${where}.$defs.__proto__`, 'is not a supported definition name');
        d[name] = walk(sub, `${where}.$defs.${clip(name)}`, depth + 1, localDefs);
      }
      out.$defs = d;
    }
    if (typeof s.description === 'string') out.description = s.description;
    const type = s.type;
    const has = (k: string) => s[k] !== undefined;
    for (const key of Object.keys(s)) {
      if (ANNOTATIONS.has(key) || key === 'description' || key === '$defs') continue;
      const allowed = ['type', 'enum', 'const', 'oneOf', 'anyOf', '$ref', 'properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties',
        'items', 'prefixItems', 'minItems', 'maxItems', 'minLength', 'maxLength', 'format'];
      if (!allowed.includes(key)) throw fail(`${where}.${clip(key)}`, 'is not supported by the grammar (the output could not be guaranteed to validate)');
    }
    if (has('$ref')) {
      const m = typeof s.$ref === 'string' ? /^#\/\$defs\/([^/]+)$/.exec(s.$ref) : null;
      if (!m || !localDefs.has(m[1]!)) throw fail(`${where}.$ref`, "must point to a definition in '$defs' ('#/$defs/NAME')");
      out.$ref = s.$ref;
      return out;
    }
    if (has('const')) {
      if (!isJsonScalar(s.const)) throw fail(`${where}.const`, 'must be a string, number, boolean or null');
      literal(s.const, `${where}.const`);
      out.const = s.const;
      return out;
    }
    if (has('enum')) {
      if (!Array.isArray(s.enum) || s.enum.length === 0 || !s.enum.every(isJsonScalar)) throw fail(`${where}.enum`, 'must be a non-empty array of strings, numbers, booleans or nulls');
      for (const v of s.enum) literal(v, `${where}.enum`);
      budget.charge(s.enum.length * GrammarBudget.ENUM_VALUE_RULES, `${where}.enum`);
      out.enum = s.enum;
      return out;
    }
    for (const key of ['oneOf', 'anyOf']) {
      if (!has(key)) continue;
      // anyOf and oneOf differ only when alternatives overlap; the grammar accepts any one of them.
      const alts = s[key];
      if (!Array.isArray(alts) || alts.length === 0) throw fail(`${where}.${key}`, 'must be a non-empty array');
      if (has('type')) throw fail(`${where}.${key}`, "cannot be combined with 'type' here; put the type into each alternative");
      out.oneOf = alts.map((a, i) => walk(a, `${where}.${key}[${i}]`, depth + 1, localDefs));
      return out;
    }
    if (Array.isArray(type)) {
      if (type.length === 0 || !type.every((t) => typeof t === 'string' && BASIC_TYPES.has(t))) {
        throw fail(`${where}.type`, 'as an array may only list string, number, integer, boolean, null');
      }
      for (const k of ['minLength', 'maxLength', 'format']) if (has(k)) throw fail(`${where}.${k}`, "is not supported with a 'type' array");
      out.type = type;
      return out;
    }
    if (type === undefined && (has('properties') || has('required') || has('additionalProperties'))) return walk({ ...s, type: 'object' }, where, depth, defs);
    if (typeof type !== 'string') throw fail(`${where}.type`, "is required (or 'enum', 'const', 'anyOf', 'oneOf', '$ref')");
    const only = (keys: string[]) => {
      for (const k of Object.keys(s)) {
        if (['type', 'description', '$defs', ...ANNOTATIONS].includes(k) || keys.includes(k)) continue;
        throw fail(`${where}.${clip(k)}`, `does not apply to type '${clip(type)}'`);
      }
    };
    out.type = type;
    if (type === 'object') {
      only(['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties']);
      const props: Obj = {};
      if (has('properties')) {
        if (!isObj(s.properties)) throw fail(`${where}.properties`, 'must be an object');
        for (const [k, v] of Object.entries(s.properties)) {
          // Would set the prototype of the converted object instead of defining a property.
          if (k === '__proto__') throw fail(`${where}.properties.__proto__`, 'is not a supported property name');
          literal(k, `${where}.properties`);
          props[k] = walk(v, `${where}.properties.${clip(k)}`, depth + 1, localDefs);
        }
      }
      out.properties = props;
      if (has('required')) {
        if (!Array.isArray(s.required) || !s.required.every((r) => typeof r === 'string')) throw fail(`${where}.required`, 'must be an array of strings');
        for (const r of s.required as string[]) if (!(r in props)) throw fail(`${where}.required`, `names '${clip(r)}', which is not in 'properties'`);
        out.required = s.required;
      }
      if (has('additionalProperties')) {
        const ap = s.additionalProperties;
        out.additionalProperties = typeof ap === 'boolean' ? ap : walk(ap, `${where}.additionalProperties`, depth + 1, localDefs);
      }
      if (has('minProperties')) out.minProperties = count(`${where}.minProperties`, s.minProperties, 0);
      if (has('maxProperties')) out.maxProperties = count(`${where}.maxProperties`, s.maxProperties, 0);
    } else if (type === 'array') {
      only(['items', 'prefixItems', 'minItems', 'maxItems']);
      if (has('items')) out.items = walk(s.items, `${where}.items`, depth + 1, localDefs);
      if (has('prefixItems')) {
        if (!Array.isArray(s.prefixItems)) throw fail(`${where}.prefixItems`, 'must be an array');
        out.prefixItems = s.prefixItems.map((a, i) => walk(a, `${where}.prefixItems[${i}]`, depth + 1, localDefs));
      }
      if (has('minItems')) out.minItems = count(`${where}.minItems`, s.minItems, 0);
      if (has('maxItems')) out.maxItems = count(`${where}.maxItems`, s.maxItems, 0);
    } else if (type === 'string') {
      only(['minLength', 'maxLength', 'format']);
      if (has('format')) {
        if (typeof s.format !== 'string' || !FORMATS.has(s.format)) throw fail(`${where}.format`, `must be one of ${[...FORMATS].join(', ')} (other formats are not supported by the grammar)`);
        if (has('minLength') || has('maxLength')) throw fail(`${where}.format`, "cannot be combined with 'minLength'/'maxLength'");
        out.format = s.format;
      }
      if (has('minLength')) out.minLength = count(`${where}.minLength`, s.minLength, 0);
      if (has('maxLength')) out.maxLength = count(`${where}.maxLength`, s.maxLength, 0);
    } else if (BASIC_TYPES.has(type)) {
      only([]);
    } else {
      throw fail(`${where}.type`, `'${clip(type)}' is not a JSON schema type`);
    }
    return out;
  };
  return walk(schema, param, 0, new Set());
}
