-- What says a copy is still the very file that was read (a local destination: its inode and
-- mtime, taken when its bytes were read and matched). A file put back at the path by a
-- snapshot rollback, a "previous versions" restore or a cloned drive has the same size but
-- not the same fingerprint: offload does not count it, and sync reads it again. Null: unknown
-- (a network destination, or a copy recorded before this column).
ALTER TABLE remote_copies ADD COLUMN fingerprint TEXT;
