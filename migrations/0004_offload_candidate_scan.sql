-- The offload plan reads every present row of a volume in path order. With the columns it
-- needs in a partial index, that scan reads the index alone instead of one table row per
-- file (measured: 1M files, 3.9 s -> 2.5 s for the scan on a loaded 2-core machine).
CREATE INDEX files_present_scan ON files (volume_id, path, content_id, mtime_ns, status_changed_run_id)
  WHERE status = 'present';
