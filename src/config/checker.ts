// Reading raw YAML for config validation: typed getters that record every problem under its
// key path instead of stopping at the first, and a did-you-mean for unknown keys.

import path from 'node:path';
import { Secret } from './types.js';

export interface ValidateContext {
  env: Record<string, string | undefined>;
  homeDir: string;
  hostName: string;
  /** Where the config file lives; the default database sits next to it. */
  configPath: string;
}

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type Raw = Record<string, unknown>;

export function isObject(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

export function didYouMean(key: string, known: string[]): string {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? ` (did you mean '${best}'?)` : '';
}

/** Collects every problem, each under its key path, while reading typed values out of raw YAML data. */
export class Checker {
  readonly errors: string[] = [];
  constructor(private readonly ctx: ValidateContext) {}

  error(keyPath: string, message: string): void {
    this.errors.push(`${keyPath}: ${message}`);
  }

  unknownKeys(obj: Raw, known: string[], keyPath: string, context = ''): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.error(join(keyPath, key), `unknown key${context}${didYouMean(key, known)}`);
    }
  }

  string(obj: Raw, key: string, keyPath: string, required: boolean): string | null {
    const value = obj[key];
    if (value === undefined || value === null) {
      if (required) this.error(join(keyPath, key), 'is required');
      return null;
    }
    if (typeof value !== 'string' || value.trim() === '') {
      this.error(join(keyPath, key), `expected a non-empty string, got ${typeName(value)}`);
      return null;
    }
    return value;
  }

  name(value: unknown, keyPath: string): string | null {
    if (typeof value !== 'string') {
      this.error(keyPath, `expected a name, got ${typeName(value)}`);
      return null;
    }
    if (!NAME_PATTERN.test(value)) {
      this.error(keyPath, `'${value}' is not a valid name (lower-case letters, digits, '_' and '-', starting with a letter or digit)`);
      return null;
    }
    return value;
  }

  absolutePath(obj: Raw, key: string, keyPath: string, required: boolean): string | null {
    const value = this.string(obj, key, keyPath, required);
    if (value === null) return null;
    const expanded = value === '~' ? this.ctx.homeDir : value.startsWith('~/') ? path.join(this.ctx.homeDir, value.slice(2)) : value;
    if (!path.isAbsolute(expanded)) {
      this.error(join(keyPath, key), `'${value}' must be an absolute path (or start with ~/)`);
      return null;
    }
    return path.resolve(expanded);
  }

  /** A list of defined destination names; undefined when the key is absent. */
  nameList(obj: Raw, key: string, keyPath: string, defined: Set<string>): string[] | null {
    const value = obj[key];
    const listPath = join(keyPath, key);
    if (value === undefined) return null;
    if (!Array.isArray(value)) {
      this.error(listPath, `expected a list of destination names like [nas, offsite], got ${typeName(value)}`);
      return null;
    }
    const seen = new Set<string>();
    const names: string[] = [];
    value.forEach((item, i) => {
      const itemPath = `${listPath}[${i}]`;
      const name = this.name(item, itemPath);
      if (name === null) return;
      if (seen.has(name)) this.error(itemPath, `'${name}' is listed twice`);
      else if (!defined.has(name)) this.error(itemPath, `'${name}' is not a defined destination${didYouMean(name, [...defined])}`);
      seen.add(name);
      names.push(name);
    });
    return names;
  }

  secret(obj: Raw, key: string, keyPath: string): Secret | null {
    const value = obj[key];
    const secretPath = join(keyPath, key);
    if (value === undefined || value === null) return null;
    // The value itself is never echoed: an inline secret must not end up in a terminal or a log.
    if (!isObject(value) || typeof value.env !== 'string' || Object.keys(value).length !== 1) {
      this.error(secretPath, 'secrets are given as { env: VARIABLE_NAME }, never inline');
      return null;
    }
    if (!ENV_NAME_PATTERN.test(value.env)) {
      this.error(secretPath, `'${value.env}' is not an environment variable name (letters, digits and '_', not starting with a digit)`);
      return null;
    }
    const resolved = this.ctx.env[value.env];
    if (resolved === undefined || resolved === '') {
      this.error(secretPath, `environment variable ${value.env} is not set`);
      return null;
    }
    return new Secret(resolved, value.env);
  }

  boolean(obj: Raw, key: string, keyPath: string, fallback: boolean): boolean {
    const value = obj[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') {
      this.error(join(keyPath, key), `expected true or false, got ${typeName(value)}`);
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(obj: Raw, key: string, keyPath: string, allowed: T[], fallback: T | null): T | null {
    const value = obj[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string' || !allowed.includes(value as T)) {
      this.error(join(keyPath, key), `expected one of ${allowed.join(', ')}, got ${typeName(value)}`);
      return fallback;
    }
    return value as T;
  }
}

export function join(keyPath: string, key: string): string {
  return keyPath ? `${keyPath}.${key}` : key;
}
