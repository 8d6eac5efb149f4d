// What every command gets: parsed global flags, lazily loaded config and store, the clock
// captured for this invocation, a Reporter wired to the terminal, and output helpers that
// honour --json and --quiet.

import os from 'node:os';
import path from 'node:path';
import { Clock, clockFromEnv } from '../clock.js';
import { defaultConfigPath, loadConfig } from '../config/load.js';
import { Config, VolumeConfig } from '../config/types.js';
import { createHasher, Hasher } from '../core/index/hash-pool.js';
import { createPutPool, PutPool } from '../destinations/local/put-pool.js';
import { Hooks, Reporter } from '../core/reporter.js';
import { reconcileOpenIntents } from '../core/offload/reconcile.js';
import { isProcessAlive, RunContext, RunIdentity } from '../core/runs.js';
import { Destination } from '../destinations/destination.js';
import { createDestination, defaultDestinationEnvironment } from '../destinations/registry.js';
import { UsageError } from '../errors.js';
import { Store } from '../store/store.js';
import { hooksFromEnv } from './hooks.js';
import { ProgressRenderer } from './render/progress.js';

export interface Output {
  write(text: string): void;
}

export interface Deps {
  env: NodeJS.ProcessEnv;
  stdout: Output;
  stderr: Output;
  stderrIsTTY: boolean;
  clock: Clock;
  hooks: Hooks;
  pid: number;
  host: string;
}

export interface GlobalOptions {
  config?: string;
  db?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: boolean;
  debug?: boolean;
}

/** The global flags from commander's values, each checked for the type it must have. */
export function globalOptionsFrom(values: Record<string, unknown>): GlobalOptions {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    config: text(values.config),
    db: text(values.db),
    json: values.json === true,
    quiet: values.quiet === true,
    progress: values.progress !== false,
    debug: values.debug === true,
  };
}

export class CommandContext {
  private loadedConfig: Config | null = null;
  private openedStore: Store | null = null;
  private storeAttempted = false;
  private fileHasher: Hasher | null = null;
  /** Starts no worker until a local put needs one. */
  private readonly putPool: PutPool | null = createPutPool();
  readonly nowNs: bigint;
  readonly reporter: Reporter;
  private readonly progressRenderer: ProgressRenderer | null;

  constructor(
    readonly deps: Deps,
    readonly globals: GlobalOptions,
  ) {
    this.nowNs = deps.clock.nowNs();
    const showProgress = deps.stderrIsTTY && globals.progress !== false && !globals.quiet;
    this.progressRenderer = showProgress ? new ProgressRenderer() : null;
    this.reporter = {
      progress: (p) => this.progressRenderer?.update(p),
      warn: (message) => this.eprint(`warning: ${message}`),
      info: (message) => {
        if (!globals.quiet && !globals.json) this.eprint(message);
      },
    };
  }

  get json(): boolean {
    return this.globals.json === true;
  }

  configPath(): string {
    return path.resolve(this.globals.config ?? defaultConfigPath(this.deps.env));
  }

  config(): Config {
    this.loadedConfig ??= loadConfig(this.configPath(), this.deps.env);
    return this.loadedConfig;
  }

  volume(name: string): VolumeConfig {
    const volume = this.config().volumes.get(name);
    if (!volume) {
      const known = [...this.config().volumes.keys()];
      throw new UsageError(`no volume '${name}' in ${this.config().source}${known.length ? `; volumes: ${known.join(', ')}` : ''}`);
    }
    return volume;
  }

  dbPath(): string {
    return path.resolve(this.globals.db ?? this.config().db);
  }

  /**
   * The store, opened once: dead runs of this host are marked aborted and open offload
   * intents are reconciled before any command looks at the data.
   */
  store(options: { create?: boolean } = {}): Store {
    if (this.openedStore) return this.openedStore;
    const dbPath = this.dbPath();
    this.storeAttempted = true;
    const store = Store.open(dbPath, { create: options.create ?? true });
    this.openedStore = store;
    if (store.backupPath) this.reporter.info(`database upgraded; the previous version is kept at ${store.backupPath}`);
    const reaped = store.runs.reapDead(this.deps.host, isProcessAlive, this.nowNs);
    for (const runId of reaped) this.reporter.warn(`run ${runId} was interrupted (its process is gone); marked aborted`);
    for (const outcome of reconcileOpenIntents(store, this.nowNs)) this.reporter.warn(outcome);
    return store;
  }

  /** True once the store was opened (or opening it was attempted with a resolved path). */
  get hasStore(): boolean {
    return this.storeAttempted;
  }

  nodeId(): number {
    return this.store().ensureNode(this.config().node);
  }

  identity(): RunIdentity {
    return { nodeId: this.nodeId(), pid: this.deps.pid, host: this.deps.host };
  }

  /** Who runs, its one "now", the clock and where to report: what every core run is given. */
  runContext(): RunContext {
    return { identity: this.identity(), nowNs: this.nowNs, clock: this.deps.clock, reporter: this.reporter, hooks: this.deps.hooks };
  }

  /** One line of ordinary output on stdout (not in --json mode). */
  print(line = ''): void {
    this.deps.stdout.write(`${line}\n`);
  }

  eprint(line: string): void {
    this.progressRenderer?.clear();
    this.deps.stderr.write(`${line}\n`);
  }

  /** Emit a command's result: one JSON document with --json, else the text lines. */
  emit(result: unknown, text: () => string[]): void {
    this.progressRenderer?.stop();
    if (this.json) {
      this.deps.stdout.write(`${JSON.stringify(result, jsonReplacer, 2)}\n`);
      return;
    }
    for (const line of text()) this.print(line);
  }

  /** A configured destination; local ones share one hashing pool and one put pool, each started on first use. */
  destination(name: string): Destination {
    this.fileHasher ??= createHasher();
    const environment = { ...defaultDestinationEnvironment(this.deps.env), fileHasher: this.fileHasher, putPool: this.putPool };
    return createDestination(this.config().destinations.get(name)!, environment);
  }

  async close(): Promise<void> {
    this.progressRenderer?.stop();
    this.openedStore?.close();
    await this.fileHasher?.close();
    await this.putPool?.close();
  }
}

/** What a value becomes in a --json document (see jsonReplacer), for readers such as the tests. */
export type JsonOf<T> = T extends bigint
  ? string
  : T extends Buffer
    ? string
    : T extends Map<infer K, infer V>
      ? Record<K & string, JsonOf<V>>
      : T extends readonly (infer E)[]
        ? JsonOf<E>[]
        : T extends object
          ? { [K in keyof T]: JsonOf<T[K]> }
          : T;

/** bigint nanoseconds become decimal strings in JSON (exact, unlike numbers). */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Map) return Object.fromEntries(value);
  if (Buffer.isBuffer(value)) return value.toString('hex');
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return Buffer.from((value as { data: number[] }).data).toString('hex');
  }
  return value;
}

/** The real process: its streams, its environment, the system clock (unless pinned for a test). */
export function defaultDeps(): Deps {
  return {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    stderrIsTTY: process.stderr.isTTY === true,
    clock: clockFromEnv(process.env),
    hooks: hooksFromEnv(process.env),
    pid: process.pid,
    host: os.hostname(),
  };
}
