// What every command gets: parsed global flags, lazily loaded config and store, the clock
// captured for this invocation, a Reporter wired to the terminal, and output helpers that
// honour --json and --quiet.

import type { Command } from 'commander';
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
import { errorMessage, UsageError } from '../errors.js';
import { Store } from '../store/store.js';
import { publishCatalog, PublishOutcome } from '../core/catalog.js';
import { loadOrCreateNodeKey, NodeKey } from '../core/node-key.js';
import { publishAttestation } from '../core/attestation.js';
import { namespaceOf } from '../core/namespace.js';
import { hooksFromEnv } from './hooks.js';
import { escapeControl } from './render/format.js';
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
  private loadedKey: NodeKey | null = null;
  private fileHasher: Hasher | null = null;
  /** Starts no worker until a local put needs one. */
  private readonly putPool: PutPool | null = createPutPool();
  readonly nowNs: bigint;
  readonly reporter: Reporter;
  private readonly progressRenderer: ProgressRenderer | null;
  /** With -q (and no --json): the text result, held until the exit code says whether to show it. */
  private heldLines: string[] | null;

  constructor(
    readonly deps: Deps,
    readonly globals: GlobalOptions,
    /** The whole command tree (for `completion`); null outside a parsed command line. */
    readonly program: Command | null = null,
  ) {
    this.nowNs = deps.clock.nowNs();
    this.heldLines = globals.quiet && !globals.json ? [] : null;
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
    // Only init and index create a database: any other command meeting none must not leave an
    // empty one behind (it would stand in the way of `recover`).
    const store = Store.open(dbPath, { create: options.create ?? false });
    this.openedStore = store;
    // The node's key pair is made with the database.
    if (options.create) this.nodeKey();
    if (store.backupPath) this.reporter.info(`database upgraded; the previous version is kept at ${store.backupPath}`);
    const reaped = store.runs.reapDead(this.deps.host, isProcessAlive, this.nowNs);
    for (const runId of reaped) this.reporter.warn(`run ${runId} was interrupted (its process is gone); marked aborted`);
    for (const outcome of reconcileOpenIntents(store, this.nowNs)) this.reporter.warn(outcome);
    return store;
  }

  /** This node's key pair, beside the database (made on first use, as with a new database). */
  nodeKey(): NodeKey {
    this.loadedKey ??= loadOrCreateNodeKey(this.dbPath());
    return this.loadedKey;
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

  /** One line of ordinary output on stdout (not in --json mode); held under -q. */
  print(line = ''): void {
    if (this.heldLines) this.heldLines.push(line);
    else this.deps.stdout.write(`${escapeControl(line)}\n`);
  }

  /**
   * The end of a command under -q: a success prints nothing (cron mails nothing), any other
   * exit code shows the held result, which says what went wrong.
   */
  release(exitCode: number): void {
    const held = this.heldLines;
    this.heldLines = null;
    if (held && exitCode !== 0) for (const line of held) this.print(line);
  }

  eprint(line: string): void {
    this.progressRenderer?.clear();
    this.deps.stderr.write(`${escapeControl(line)}\n`);
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

  /**
   * After a command that changed the index or the evidence: publish a snapshot of the database
   * to the destinations it touched that this index has marked (best effort: a failure is a
   * warning, never a failed run).
   * When the command changed nothing but times (a sync with nothing new, a verify that found
   * everything sound), a destination whose last snapshot was placed keeps it: it is still the
   * map of what is where, so it is recorded as current instead of published again.
   */
  async publishCatalog(destinationNames: Iterable<string>, options: { material?: boolean } = {}): Promise<PublishOutcome[]> {
    if (!this.openedStore) return [];
    const store = this.openedStore;
    // A destination this index never marked holds nothing of it (a sync --init comes first).
    const names = [...new Set(destinationNames)].filter((name) => store.places.destinationId(name) !== null);
    if (names.length === 0) return [];
    const config = this.config();
    const published = new Map(store.catalog.publications().map((p) => [p.destination, p]));
    const current = options.material === false ? names.filter((n) => published.get(n)?.snapshot && !published.get(n)?.error) : [];
    const coversRunId = store.catalog.newestRunId();
    for (const name of current) {
      store.catalog.recordPublication({ destination: name, snapshot: published.get(name)!.snapshot, coversRunId, publishedAtNs: this.nowNs, error: null });
    }
    const outcomes = await publishCatalog(
      store,
      names.filter((n) => !current.includes(n)).map((name) => this.destination(name)),
      { node: config.node, key: this.nodeKey(), keep: config.catalogKeep, nowNs: this.nowNs, reporter: this.reporter, hooks: this.deps.hooks, scratchDir: path.dirname(this.dbPath()) },
    );
    return [...current.map((name) => ({ destination: name, snapshot: published.get(name)!.snapshot, removed: [], error: null })), ...outcomes];
  }

  /**
   * After a sync or verify: a signed attestation per destination of what this node found there
   * about its own namespaces (best effort, like the catalog).
   */
  async publishAttestations(checks: SelfCheck[], catalogs: PublishOutcome[]): Promise<void> {
    if (!this.openedStore || checks.length === 0) return;
    const store = this.openedStore;
    const config = this.config();
    for (const [destinationName, entries] of groupBy(checks, (c) => c.destination)) {
      const destination = this.destination(destinationName);
      try {
        const destinationId = store.places.destinationId(destinationName);
        if (destinationId === null) continue;
        const catalog = catalogs.find((c) => c.destination === destinationName)?.snapshot ?? null;
        const about = entries.map((e) => ({
          node: config.node,
          namespace: namespaceOf(e.volume, destinationName),
          volume: store.volume(e.volume.name)?.uid ?? '',
          catalog,
          coversRunId: e.runId,
          checked: e.checked,
          ok: e.ok,
          missing: [],
          corrupt: [],
          // Counts only: a node's word about its own copies is its evidence, not news for a peer.
          truncated: true,
        }));
        await publishAttestation(store, destination, this.nodeKey(), { node: config.node, destination: destinationId, atNs: this.nowNs, method: entries[0].method, about });
      } catch (err) {
        this.reporter.warn(`the attestation could not be published to '${destinationName}': ${errorMessage(err)}`);
      }
    }
  }

  /** After a command failed: end the runs it left running, so none waits for the reaper. */
  failOpenRuns(err: unknown): void {
    if (!this.openedStore?.db.open) return;
    try {
      this.openedStore.runs.failUnfinished(this.deps.clock.nowNs(), `failed: ${errorMessage(err)}`);
    } catch {
      // The database itself failed (full, damaged): the next command reaps the run.
    }
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

/** What a sync or verify found about one volume at one destination, for its attestation. */
export interface SelfCheck {
  volume: VolumeConfig;
  destination: string;
  runId: number;
  method: string;
  checked: number;
  ok: number;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

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
