-- tests/bench/pgbench-post.sql — the reference for POST /posts in
-- tests/bench/run.sh (the pgbench_post line): the statements the server runs
-- to create a top-level post, in its order, each committed on its own as the
-- server commits it (synchronous_commit on), against the stack's own tables,
-- indexes and triggers. Only the database's share of the work: no TLS,
-- nginx, FastCGI, token check, guardrails or sealing.
--
-- tests/static/test_bench_post.py compares each statement below with the
-- server's prepared statement it names, after replacing the server's $k with
-- what follows "$k =" here, and checks that POST /posts runs those
-- statements in this order: change one and the other with it.
--
-- The server seals each body for its post's public id and author, which
-- pgbench cannot do, and the classifier (`sotto moderate`) opens every new
-- post: so the ids and bodies come from bench_post_rows, made by
-- `sotto bench-data --post-rows` for the account :author (run.sh), and the
-- classifier scores these posts as it scores the server's. Row n is used
-- once: client c takes rows base + c, base + c + :clients... (-D k=0).
-- Variables (pgbench -D): author, day (today, as the server counts days),
-- clients (pgbench's -c), base (the first row not used yet), k = 0.
\set n :base + :client_id + :clients * :k
\set k :k + 1
-- statement auth_account_keys (app/auth.c): the author's data key, on every
-- post (the cached account record carries no key).
--   $1 = :author
SELECT k.version, k.wrapped, a.id_sealed FROM account_keys k JOIN accounts a ON a.pk = k.account_pk WHERE k.account_pk = :author;
-- statement post_insert (app/handlers_posts.c): a top-level post in no
-- community.
--   $1 = (SELECT id FROM bench_post_rows WHERE n = :n)
--   $2 = :author
--   $3 = NULL
--   $4 = NULL
--   $5 = (SELECT body FROM bench_post_rows WHERE n = :n)
--   $6 = :day
INSERT INTO posts (id, author_pk, parent_pk, community_pk, body_sealed, day) VALUES ((SELECT id FROM bench_post_rows WHERE n = :n), :author, NULL, NULL, (SELECT body FROM bench_post_rows WHERE n = :n), :day);
