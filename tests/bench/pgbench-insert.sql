-- tests/bench/pgbench-insert.sql — the reference for POST /posts in
-- tests/bench/run.sh: one single-row INSERT per transaction, committed
-- (synchronous_commit on, as the server runs), into the scratch table the
-- bench creates on the stack's database and drops afterwards. The row is
-- about the size of a sealed post body.
\set n random(1, 1000000000)
INSERT INTO bench_pgbench_scratch (body) VALUES (md5(:n::text) || repeat(' pgbench', 32));
