-- Recovery (SPEC §8). The index has an id of its own, written into every volume marker it
-- owns, so an index that lost its database never silently starts over on a volume whose files
-- were offloaded. The marker also carries a generation the index bumps on every index run: a
-- marker behind the index is an older copy of the volume (a cloned or restored drive).
INSERT INTO meta (key, value) VALUES ('index_id', lower(hex(randomblob(16)))) ON CONFLICT (key) DO NOTHING;
ALTER TABLE volumes ADD COLUMN marker_generation INTEGER NOT NULL DEFAULT 0;

-- The newest catalog snapshot published to each destination, or why publishing failed there.
CREATE TABLE catalog_publications (
  destination     TEXT PRIMARY KEY,
  snapshot        TEXT,
  covers_run_id   INTEGER,
  published_at_ns INTEGER NOT NULL,
  error           TEXT
) STRICT;
