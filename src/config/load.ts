// Reading a config file: path resolution and YAML parsing only. Validation is pure and
// lives in validate.ts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML, { YAMLError } from 'yaml';
import { ConfigError, errnoCode, errorDetail, UsageError } from '../errors.js';
import { Config } from './types.js';
import { placeProblems } from './places.js';
import { validateConfig } from './validate.js';

export function defaultConfigPath(env: NodeJS.ProcessEnv): string {
  return env.SQUIRREL_CONFIG || path.join(os.homedir(), '.squirrel', 'config.yaml');
}

/** `line 2, column 1: Map keys must be unique (YAML)`: where first, like a key path. */
function yamlProblem(error: YAMLError): string {
  const where = error.linePos ? `line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '(yaml)';
  const what = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  return `${where}: ${what} (YAML)`;
}

export function parseConfigText(text: string, source: string): unknown {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map(yamlProblem), source);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

export function loadConfig(configPath: string, env: NodeJS.ProcessEnv): Config {
  const absolute = path.resolve(configPath);
  let text: string;
  try {
    text = fs.readFileSync(absolute, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') {
      throw new UsageError(`no config file at ${absolute}; create one with \`squirrel init\`, or pass --config PATH (or set SQUIRREL_CONFIG)`, 'config-missing');
    }
    throw new ConfigError([`(file): cannot read ${absolute}: ${errorDetail(err)}`], absolute);
  }
  const raw = parseConfigText(text, absolute);
  const result = validateConfig(raw, { env, homeDir: os.homedir(), hostName: os.hostname(), configPath: absolute });
  if (result.errors) throw new ConfigError(result.errors, absolute);
  const overlaps = placeProblems(result.config);
  if (overlaps.length > 0) throw new ConfigError(overlaps, absolute);
  return result.config;
}
