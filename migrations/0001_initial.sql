-- squirrel's first schema: the tables SPEC §4 sketches. Later migrations add columns and
-- indexes; they never rewrite history. All times are integer nanoseconds since the epoch,
-- hashes are 32-byte BLAKE3 blobs, and run ids are the only ordering used for coverage.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE nodes (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE volumes (
  id        INTEGER PRIMARY KEY,
  name      TEXT NOT NULL UNIQUE,
  root_path TEXT NOT NULL
) STRICT;

-- The run sequence: AUTOINCREMENT so an id is never reused, even after a delete.
CREATE TABLE runs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  kind          TEXT NOT NULL CHECK (kind IN ('index', 'sync', 'verify', 'offload', 'restore')),
  volume_id     INTEGER REFERENCES volumes(id),
  destination   TEXT,
  status        TEXT NOT NULL CHECK (status IN ('running', 'success', 'partial', 'failed', 'aborted')),
  started_at_ns INTEGER NOT NULL,
  ended_at_ns   INTEGER,
  pid           INTEGER NOT NULL,
  host          TEXT NOT NULL,
  node_id       INTEGER NOT NULL REFERENCES nodes(id),
  counts        TEXT NOT NULL DEFAULT '{}',   -- JSON object of counters, e.g. {"new":3}
  note          TEXT                          -- audit note, e.g. why a run was aborted
) STRICT;
CREATE INDEX runs_by_volume ON runs (volume_id, kind, status);

-- Content is the entity: never updated, never deleted.
CREATE TABLE contents (
  id             INTEGER PRIMARY KEY,
  blake3         BLOB NOT NULL UNIQUE CHECK (length(blake3) = 32),
  size           INTEGER NOT NULL CHECK (size >= 0),
  origin_node_id INTEGER NOT NULL REFERENCES nodes(id),
  origin_run_id  INTEGER NOT NULL REFERENCES runs(id)
) STRICT;

-- One row per (path, content) a path held. Only the status and the run markers move;
-- new content at a path supersedes the row instead of rewriting it.
CREATE TABLE files (
  id                    INTEGER PRIMARY KEY,
  volume_id             INTEGER NOT NULL REFERENCES volumes(id),
  path                  TEXT NOT NULL,
  content_id            INTEGER NOT NULL REFERENCES contents(id),
  mtime_ns              INTEGER NOT NULL,
  status                TEXT NOT NULL CHECK (status IN ('present', 'missing', 'superseded', 'offloaded')),
  first_seen_run_id     INTEGER NOT NULL REFERENCES runs(id),
  last_seen_run_id      INTEGER NOT NULL REFERENCES runs(id),
  status_changed_run_id INTEGER NOT NULL REFERENCES runs(id)
) STRICT;
CREATE UNIQUE INDEX files_live_path ON files (volume_id, path) WHERE status <> 'superseded';
CREATE INDEX files_by_path ON files (volume_id, path);
CREATE INDEX files_by_content ON files (content_id);

-- The durability version vector: per (volume, destination, origin node), the highest origin
-- run whose content is provably at the destination.
CREATE TABLE destination_run_ids (
  volume_id      INTEGER NOT NULL REFERENCES volumes(id),
  destination    TEXT NOT NULL,
  origin_node_id INTEGER NOT NULL REFERENCES nodes(id),
  origin_run_id  INTEGER NOT NULL,
  verify_method  TEXT NOT NULL,
  source_node_id INTEGER NOT NULL REFERENCES nodes(id),
  updated_at_ns  INTEGER NOT NULL,
  verified_at_ns INTEGER,                    -- NULL: unknown, infinitely stale
  version        INTEGER NOT NULL CHECK (version >= 1),
  PRIMARY KEY (volume_id, destination, origin_node_id)
) STRICT;

-- One insert-only row per applied write to destination_run_ids.
CREATE TABLE destination_run_ids_history (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  volume_id      INTEGER NOT NULL,
  destination    TEXT NOT NULL,
  origin_node_id INTEGER NOT NULL,
  origin_run_id  INTEGER NOT NULL,
  verify_method  TEXT NOT NULL,
  source_node_id INTEGER NOT NULL,
  updated_at_ns  INTEGER NOT NULL,
  verified_at_ns INTEGER,
  version        INTEGER NOT NULL,
  run_id         INTEGER REFERENCES runs(id),
  change         TEXT NOT NULL               -- 'advance' | 'reverify' | 'create'
) STRICT;
CREATE INDEX destination_run_ids_history_by_key
  ON destination_run_ids_history (volume_id, destination, origin_node_id, version);

-- The copy ledger: which content sits at which path of which destination, and what the
-- last look at it found.
CREATE TABLE remote_copies (
  volume_id      INTEGER NOT NULL REFERENCES volumes(id),
  destination    TEXT NOT NULL,
  path           TEXT NOT NULL,
  content_id     INTEGER NOT NULL REFERENCES contents(id),
  state          TEXT NOT NULL CHECK (state IN ('ok', 'missing', 'corrupt')),
  pushed_run_id  INTEGER NOT NULL REFERENCES runs(id),
  verified_at_ns INTEGER,
  version        INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (volume_id, destination, path)
) STRICT;
CREATE INDEX remote_copies_by_content ON remote_copies (volume_id, destination, content_id);

-- Offload intents: written and committed before an unlink, closed after the status flip,
-- so a crash in between is reconciled from facts on disk, never guessed.
CREATE TABLE offload_intents (
  id            INTEGER PRIMARY KEY,
  run_id        INTEGER NOT NULL REFERENCES runs(id),
  file_id       INTEGER NOT NULL REFERENCES files(id),
  volume_id     INTEGER NOT NULL REFERENCES volumes(id),
  path          TEXT NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('open', 'done', 'dropped')),
  created_at_ns INTEGER NOT NULL,
  closed_at_ns  INTEGER,
  note          TEXT
) STRICT;
CREATE INDEX offload_intents_open ON offload_intents (state) WHERE state = 'open';
