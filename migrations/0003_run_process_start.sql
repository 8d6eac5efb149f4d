-- A run's process is identified by more than its pid: pids are reused (pid_max can be as low
-- as 32768), and a crashed run whose pid now belongs to an unrelated process must not hold
-- its volume forever. process_start is an opaque token of the process's start (on Linux the
-- boot id and the start time in clock ticks since boot); NULL where it cannot be read, and
-- for runs recorded before this migration, which are then judged by their pid alone.

ALTER TABLE runs ADD COLUMN process_start TEXT;
