-- Storage identity (SPEC §7): a copy counts only if it is a distinct physical copy.
-- A volume gets a random id, written into each namespace it owns at a destination, so two
-- indexes (two machines, or two databases on one) never share a namespace unknowingly.
ALTER TABLE volumes ADD COLUMN uid TEXT;
UPDATE volumes SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;

-- The random id each destination's marker carried when this index first met it: a marker
-- with another id is another (or a re-initialised) destination, whose copies the ledger
-- knows nothing about.
CREATE TABLE destinations (
  name           TEXT PRIMARY KEY,
  destination_id TEXT NOT NULL,
  recorded_at_ns INTEGER NOT NULL
) STRICT;

-- How many times this index has written each namespace marker it owns. The marker carries the
-- same count; a marker ahead of the index means another copy of this index (a copied database)
-- has written there since, and nothing there can be assumed.
CREATE TABLE namespace_claims (
  volume_id   INTEGER NOT NULL REFERENCES volumes(id),
  destination TEXT NOT NULL,
  namespace   TEXT NOT NULL,
  writes      INTEGER NOT NULL CHECK (writes >= 1),
  PRIMARY KEY (volume_id, destination)
) STRICT;

-- Paths a sync refused to place at a destination (two local names that are one name there,
-- e.g. Photo.jpg and photo.jpg on exFAT; a name the destination cannot store, like a ':' on
-- exFAT): current state, rewritten by each sync. The gate
-- refuses these paths on that destination, and coverage does not wait for them.
CREATE TABLE name_refusals (
  volume_id   INTEGER NOT NULL REFERENCES volumes(id),
  destination TEXT NOT NULL,
  path        TEXT NOT NULL,
  reason      TEXT NOT NULL,
  detail      TEXT NOT NULL,
  run_id      INTEGER NOT NULL REFERENCES runs(id),
  PRIMARY KEY (volume_id, destination, path)
) STRICT;

-- The permission bits the index saw, so restore can bring them back (NULL: indexed before
-- this migration; restore then keeps the owner-only default).
ALTER TABLE files ADD COLUMN mode INTEGER;

-- The run that last verified a copy. A stamp later than the reader's "now" is trusted only
-- when a run that began after the reader wrote it (its clock was read later); from an earlier
-- run it means a clock that ran ahead, and the stamp counts as unknown.
ALTER TABLE remote_copies ADD COLUMN verified_run_id INTEGER;
