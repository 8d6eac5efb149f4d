-- A destination rolled back (a file-system snapshot, a NAS "restore", a disk image) shows a
-- namespace marker written fewer times than this index wrote it. The index counts a write
-- before making it (a crash leaves the marker one behind, which is fine) and confirms it once
-- the marker landed: a marker behind the confirmed count has been rewound.
ALTER TABLE namespace_claims ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
