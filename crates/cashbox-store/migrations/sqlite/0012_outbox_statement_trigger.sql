-- Nothing to do: SQLite's triggers run per row, in-process, and cost little. (PostgreSQL's
-- outbox trigger now runs once per statement.)
SELECT 1;
