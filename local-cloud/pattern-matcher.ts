import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * EventBridge event patterns, matched the way EventBridge (aws/event-ruler) matches them.
 * No emulator exists, so the local bus matches with this; the CDK stack deploys the same
 * pattern objects to AWS. `compileEventPattern` validates once and returns a fast matcher.
 */
export type EventMatcher = (event: unknown) => boolean;

export class InvalidEventPatternError extends Error {
  override readonly name = 'InvalidEventPatternError';
  constructor(path: string, reason: string) {
    super(`Event pattern is not valid at ${path || '<root>'}: ${reason}`);
  }
}

/** Validates the pattern (throws InvalidEventPatternError) and returns a matcher for events. */
export function compileEventPattern(pattern: unknown): EventMatcher {
  if (!isPlainObject(pattern)) throw new InvalidEventPatternError('', 'a pattern must be a JSON object');
  const matchObject = compileObject(pattern, '');
  return (event) => matchObject(event);
}

export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  return compileEventPattern(pattern)(event);
}

type ObjectMatcher = (value: unknown) => boolean;
/** Gets every leaf value found at one field (arrays flattened); empty when the field is absent or an object. */
type LeafMatcher = (values: readonly LeafValue[]) => boolean;
type LeafValue = string | number | boolean | null;

function compileObject(pattern: Record<string, unknown>, path: string): ObjectMatcher {
  const keys = Object.keys(pattern);
  if (keys.length === 0) throw new InvalidEventPatternError(path, 'empty objects are not allowed');

  const fields: Array<(object: Record<string, unknown>) => boolean> = [];
  for (const key of keys) {
    const value = pattern[key];
    const fieldPath = path ? `${path}.${key}` : key;
    if (key === '$or') {
      fields.push(compileOr(value, fieldPath));
    } else if (Array.isArray(value)) {
      const leaf = compileLeaf(value, fieldPath);
      fields.push((object) => leaf(leafValues(object[key])));
    } else if (isPlainObject(value)) {
      const nested = compileObject(value, fieldPath);
      fields.push((object) => nested(object[key]));
    } else {
      throw new InvalidEventPatternError(
        fieldPath,
        `a field must hold an array of values or a nested object, got ${JSON.stringify(value)}`,
      );
    }
  }

  // Arrays of objects in the event match when any one element matches the whole sub-pattern;
  // an absent or non-object field is matched as an empty object so `exists: false` below it holds.
  return (value) => candidateObjects(value).some((object) => fields.every((field) => field(object)));
}

function compileOr(value: unknown, path: string): (object: Record<string, unknown>) => boolean {
  if (!Array.isArray(value) || value.length < 2 || !value.every(isPlainObject)) {
    throw new InvalidEventPatternError(path, '$or must be an array of at least two pattern objects');
  }
  const branches = value.map((branch, index) => compileObject(branch, `${path}[${index}]`));
  return (object) => branches.some((branch) => branch(object));
}

function candidateObjects(value: unknown): Array<Record<string, unknown>> {
  if (isPlainObject(value)) return [value];
  if (Array.isArray(value)) {
    const objects = value.flat(Number.POSITIVE_INFINITY).filter(isPlainObject);
    if (objects.length > 0) return objects;
  }
  return [{}];
}

function leafValues(value: unknown): LeafValue[] {
  if (value === undefined || isPlainObject(value)) return [];
  if (Array.isArray(value)) return value.flat(Number.POSITIVE_INFINITY).filter(isLeafValue);
  return isLeafValue(value) ? [value] : [];
}

function compileLeaf(alternatives: unknown[], path: string): LeafMatcher {
  if (alternatives.length === 0) throw new InvalidEventPatternError(path, 'empty arrays are not allowed');
  const matchers = alternatives.map((alternative, index) =>
    compileAlternative(alternative, `${path}[${index}]`),
  );
  return (values) => matchers.some((matcher) => matcher(values));
}

/** One element of a leaf array: an exact value or a one-operator object. */
function compileAlternative(alternative: unknown, path: string): LeafMatcher {
  if (isLeafValue(alternative)) return anyValue((value) => value === alternative);
  if (!isPlainObject(alternative)) {
    throw new InvalidEventPatternError(
      path,
      `expected a value or an operator object, got ${JSON.stringify(alternative)}`,
    );
  }
  const keys = Object.keys(alternative);
  const [operator] = keys;
  if (keys.length !== 1 || operator === undefined) {
    throw new InvalidEventPatternError(path, 'an operator object must have exactly one operator');
  }
  const operand = alternative[operator];
  const at = `${path}.${operator}`;
  switch (operator) {
    case 'exists':
      if (typeof operand !== 'boolean') throw new InvalidEventPatternError(at, 'exists takes true or false');
      return (values) => values.length > 0 === operand;
    case 'prefix':
    case 'suffix':
    case 'equals-ignore-case':
    case 'wildcard':
    case 'cidr':
      return anyValue(compileStringTest(operator, operand, at));
    case 'numeric':
      return anyValue(compileNumeric(operand, at));
    case 'anything-but': {
      const excluded = compileAnythingBut(operand, at);
      return anyValue((value) => !excluded(value));
    }
    default:
      throw new InvalidEventPatternError(path, `unknown operator "${operator}"`);
  }
}

function anyValue(test: (value: LeafValue) => boolean): LeafMatcher {
  return (values) => values.some(test);
}

type ValueTest = (value: LeafValue) => boolean;

function compileStringTest(operator: string, operand: unknown, path: string): ValueTest {
  switch (operator) {
    case 'prefix':
    case 'suffix': {
      const { text, ignoreCase } = affixOperand(operand, path, operator);
      const needle = ignoreCase ? text.toLowerCase() : text;
      const test =
        operator === 'prefix'
          ? (candidate: string) => candidate.startsWith(needle)
          : (candidate: string) => candidate.endsWith(needle);
      return (value) => typeof value === 'string' && test(ignoreCase ? value.toLowerCase() : value);
    }
    case 'equals-ignore-case': {
      const texts = stringOrStrings(operand, path, operator).map((text) => text.toLowerCase());
      return (value) => typeof value === 'string' && texts.includes(value.toLowerCase());
    }
    case 'wildcard': {
      const expressions = stringOrStrings(operand, path, operator).map((text) =>
        wildcardToRegExp(text, path),
      );
      return (value) => typeof value === 'string' && expressions.some((expression) => expression.test(value));
    }
    case 'cidr':
      return compileCidr(operand, path);
    default:
      throw new InvalidEventPatternError(path, `unknown operator "${operator}"`);
  }
}

/** `prefix`/`suffix` take a string or `{ "equals-ignore-case": string }`. */
function affixOperand(
  operand: unknown,
  path: string,
  operator: string,
): { text: string; ignoreCase: boolean } {
  if (typeof operand === 'string') return { text: operand, ignoreCase: false };
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    const text = operand['equals-ignore-case'];
    if (keys.length === 1 && typeof text === 'string') return { text, ignoreCase: true };
  }
  throw new InvalidEventPatternError(path, `${operator} takes a string or {"equals-ignore-case": string}`);
}

function stringOrStrings(operand: unknown, path: string, operator: string): string[] {
  if (typeof operand === 'string') return [operand];
  if (Array.isArray(operand) && operand.length > 0 && operand.every((item) => typeof item === 'string')) {
    return operand;
  }
  throw new InvalidEventPatternError(path, `${operator} takes a string or a non-empty array of strings`);
}

/** `*` matches any run of characters; `\*` is a literal star and `\\` a literal backslash. */
function wildcardToRegExp(wildcard: string, path: string): RegExp {
  let source = '';
  for (let index = 0; index < wildcard.length; index++) {
    const char = wildcard[index] as string;
    if (char === '\\') {
      const next = wildcard[index + 1];
      if (next !== '*' && next !== '\\') {
        throw new InvalidEventPatternError(path, `invalid escape in wildcard "${wildcard}" at ${index}`);
      }
      source += `\\${next}`;
      index++;
    } else if (char === '*') {
      if (wildcard[index + 1] === '*') {
        throw new InvalidEventPatternError(
          path,
          `consecutive wildcard characters in "${wildcard}" at ${index}`,
        );
      }
      source += '[\\s\\S]*';
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

function compileCidr(operand: unknown, path: string): ValueTest {
  const parsed = typeof operand === 'string' ? /^([^/]+)\/(\d{1,3})$/.exec(operand) : null;
  const address = parsed?.[1] ?? '';
  const bits = Number(parsed?.[2]);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family || bits > (family === 'ipv4' ? 32 : 128)) {
    throw new InvalidEventPatternError(
      path,
      `cidr takes an IPv4 or IPv6 CIDR block, got ${JSON.stringify(operand)}`,
    );
  }
  const block = new BlockList();
  block.addSubnet(address, bits, family);
  return (value) => {
    if (typeof value !== 'string') return false;
    const valueFamily = isIPv4(value) ? 'ipv4' : isIPv6(value) ? 'ipv6' : undefined;
    return valueFamily === family && block.check(value, valueFamily);
  };
}

const NUMERIC_COMPARISONS: Record<string, (value: number, bound: number) => boolean> = {
  '=': (value, bound) => value === bound,
  '<': (value, bound) => value < bound,
  '<=': (value, bound) => value <= bound,
  '>': (value, bound) => value > bound,
  '>=': (value, bound) => value >= bound,
};

/** `numeric`: ["=", n] or one or two bounds, e.g. [">", 0, "<=", 5]. Only JSON numbers match. */
function compileNumeric(operand: unknown, path: string): ValueTest {
  const invalid = (reason: string) => new InvalidEventPatternError(path, reason);
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) {
    throw invalid('numeric takes [op, number] or [op, number, op, number]');
  }
  const tests: ValueTest[] = [];
  const bounds: Record<'lower' | 'upper' | 'equal', number[]> = { lower: [], upper: [], equal: [] };
  for (let index = 0; index < operand.length; index += 2) {
    const operator: unknown = operand[index];
    const bound: unknown = operand[index + 1];
    const comparison = typeof operator === 'string' ? NUMERIC_COMPARISONS[operator] : undefined;
    if (typeof operator !== 'string' || !comparison)
      throw invalid(`unknown numeric operator ${JSON.stringify(operator)}`);
    if (typeof bound !== 'number' || !Number.isFinite(bound)) throw invalid('numeric bounds must be numbers');
    bounds[operator === '=' ? 'equal' : operator.startsWith('>') ? 'lower' : 'upper'].push(bound);
    tests.push((value) => typeof value === 'number' && comparison(value, bound));
  }
  if (tests.length === 2) {
    const [lower] = bounds.lower;
    const [upper] = bounds.upper;
    if (lower === undefined || upper === undefined)
      throw invalid('a numeric range needs one lower and one upper bound');
    if (lower >= upper) throw invalid('the lower bound of a numeric range must be below the upper bound');
  }
  return (value) => tests.every((test) => test(value));
}

/** Returns the test for the values that `anything-but` excludes. */
function compileAnythingBut(operand: unknown, path: string): ValueTest {
  const isExact = (item: unknown): item is string | number =>
    typeof item === 'string' || typeof item === 'number';
  if (isExact(operand)) return (value) => value === operand;
  if (Array.isArray(operand)) {
    if (operand.length === 0 || !operand.every(isExact)) {
      throw new InvalidEventPatternError(path, 'anything-but takes a non-empty array of strings or numbers');
    }
    return (value) => operand.includes(value as string | number);
  }
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    const [operator] = keys;
    if (keys.length === 1 && operator !== undefined) {
      if (operator === 'prefix' || operator === 'suffix') {
        if (typeof operand[operator] === 'string' && operand[operator] !== '') {
          return compileStringTest(operator, operand[operator], `${path}.${operator}`);
        }
      } else if (operator === 'equals-ignore-case' || operator === 'wildcard') {
        return compileStringTest(operator, operand[operator], `${path}.${operator}`);
      }
    }
  }
  throw new InvalidEventPatternError(
    path,
    'anything-but takes a string, a number, an array of them, or one of {prefix|suffix|equals-ignore-case|wildcard}',
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isLeafValue(value: unknown): value is LeafValue {
  return (
    value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
  );
}
