-- tests/bench/feed-explain.sql — EXPLAIN (ANALYZE, BUFFERS) of the feed's
-- access paths, for tests/bench/scale.sh: the first page and a page 5,000
-- posts down (half-way on a small table), newest first and by rank, overall. These are the orderings
-- and the partial-index predicate of sql/003_posts.sql (posts_new,
-- posts_ranked); the statements the server really runs are shown next to
-- them by scale.sh (auto_explain). A plan here that scans posts means the
-- indexes no longer serve the feed.
\set ON_ERROR_STOP on
-- 5000 posts down, or half-way on a smaller table
SELECT least(5000, count(*) / 2) AS deep FROM posts
 WHERE parent_pk IS NULL AND status = 0 \gset
SELECT rank AS deep_rank, pk AS deep_ranked_pk FROM posts
 WHERE parent_pk IS NULL AND status = 0
 ORDER BY rank DESC, pk DESC OFFSET :deep LIMIT 1 \gset
SELECT pk AS deep_new_pk FROM posts
 WHERE parent_pk IS NULL AND status = 0
 ORDER BY pk DESC OFFSET :deep LIMIT 1 \gset

\echo '-- ranked, first page'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT pk, id, author_pk, body_sealed, day, score, reply_count, community_pk, rank
  FROM posts WHERE parent_pk IS NULL AND status = 0
 ORDER BY rank DESC, pk DESC LIMIT 21;

\echo '-- ranked,' :deep 'posts down (keyset: after the last rank and pk seen)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT pk, id, author_pk, body_sealed, day, score, reply_count, community_pk, rank
  FROM posts WHERE parent_pk IS NULL AND status = 0
   AND (rank, pk) < (:deep_rank, :deep_ranked_pk)
 ORDER BY rank DESC, pk DESC LIMIT 21;

\echo '-- new, first page'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT pk, id, author_pk, body_sealed, day, score, reply_count, community_pk
  FROM posts WHERE parent_pk IS NULL AND status = 0
 ORDER BY pk DESC LIMIT 21;

\echo '-- new,' :deep 'posts down (keyset: after the last pk seen)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT pk, id, author_pk, body_sealed, day, score, reply_count, community_pk
  FROM posts WHERE parent_pk IS NULL AND status = 0 AND pk < :deep_new_pk
 ORDER BY pk DESC LIMIT 21;

