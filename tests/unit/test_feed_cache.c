/* Unit tests for a worker's cache of rendered feed pages: what it holds, and its bound in bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "feed_cache.h"

#define TEXT_BYTES (40 * 1024)   /* a page of 20 posts of 2 KiB each */

static char text[TEXT_BYTES];

/* A page of n posts sharing text, each post_len bytes long. */
static void make_page(struct feed_page *p, size_t n, size_t post_len, const char *cursor)
{
	memset(p, 0, sizeof(*p));
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		p->pk[i] = (int64_t)(i + 1);
		p->author[i] = (int64_t)(100 + i);
		p->post[i] = text;
		p->post_len[i] = post_len;
	}
	p->next_cursor = cursor;
}

static void key_of(char *key, size_t size, int i)
{
	snprintf(key, size, "r||20|1|%d,0,0,0", i);
}

/* Offer page under n distinct keys at now_us, fresh until expires_us; the cache stays in its bound. */
static void offer(struct feed_cache *c, const struct feed_page *page, int n, uint64_t now_us,
                  uint64_t expires_us)
{
	char key[FEED_CACHE_KEY_MAX];

	for (int i = 0; i < n; i++) {
		key_of(key, sizeof(key), i);
		feed_cache_put(c, key, page, now_us, expires_us);
		assert_true(feed_cache_bytes(c) <= FEED_CACHE_MAX_BYTES);
	}
}

static void test_a_stored_page_is_a_copy_until_it_expires(void **state)
{
	struct feed_cache *c = feed_cache_new();
	struct feed_page page;
	const struct feed_page *got;
	char cursor[] = "next-cursor";
	(void)state;

	assert_non_null(c);
	memset(text, 'a', sizeof(text));
	make_page(&page, 20, 100, cursor);
	feed_cache_put(c, "r||20|0|0,0,0,0", &page, 1000, 2000);
	memset(text, 'b', sizeof(text));
	cursor[0] = 'X';
	got = feed_cache_get(c, "r||20|0|0,0,0,0", 1999);
	assert_non_null(got);
	assert_int_equal(got->n, 20);
	assert_int_equal(got->pk[19], 20);
	assert_int_equal(got->author[0], 100);
	assert_int_equal(got->post_len[3], 100);
	assert_int_equal(got->post[3][0], 'a');
	assert_string_equal(got->next_cursor, "next-cursor");
	assert_null(feed_cache_get(c, "r||20|0|0,0,0,0", 2000));
	assert_null(feed_cache_get(c, "n||20|0|0,0,0,0", 1999));
	feed_cache_free(c);
}

static void test_pages_never_take_more_than_the_bound(void **state)
{
	struct feed_cache *c = feed_cache_new();
	struct feed_page page;
	char key[FEED_CACHE_KEY_MAX];
	size_t stored = 0;
	(void)state;

	assert_non_null(c);
	make_page(&page, 20, TEXT_BYTES / 20, NULL);
	/* Fresh pages under distinct keys, far more than the bound holds. */
	offer(c, &page, 200, 1000, 1000000);
	for (int i = 0; i < 200; i++) {
		key_of(key, sizeof(key), i);
		stored += feed_cache_get(c, key, 1000) != NULL;
	}
	/* Full, not empty: as many pages as fit are kept. */
	assert_true(stored >= FEED_CACHE_MAX_BYTES / (TEXT_BYTES + 8192));
	assert_true(stored * TEXT_BYTES <= FEED_CACHE_MAX_BYTES);
	assert_true(feed_cache_bytes(c) >= stored * TEXT_BYTES);
	feed_cache_free(c);
}

static void test_expired_pages_make_room(void **state)
{
	struct feed_cache *c = feed_cache_new();
	struct feed_page page;
	size_t full;
	(void)state;

	assert_non_null(c);
	make_page(&page, 20, TEXT_BYTES / 20, NULL);
	offer(c, &page, 200, 1000, 2000);
	full = feed_cache_bytes(c);
	assert_true(full + TEXT_BYTES > FEED_CACHE_MAX_BYTES);
	/*
	 * Later, when all of them have expired, a page twice their size gets
	 * in (what its own slot held would not make room enough), and the
	 * expired pages are gone.
	 */
	make_page(&page, 20, TEXT_BYTES / 10, NULL);
	feed_cache_put(c, "n||20|0|0,0,0,0", &page, 5000, 6000);
	assert_non_null(feed_cache_get(c, "n||20|0|0,0,0,0", 5000));
	assert_true(feed_cache_bytes(c) >= 2 * TEXT_BYTES);
	assert_true(feed_cache_bytes(c) < 2 * TEXT_BYTES + 8192);
	feed_cache_free(c);
}

static void test_a_page_over_the_bound_is_not_stored(void **state)
{
	static char huge[FEED_CACHE_MAX_BYTES];
	struct feed_cache *c = feed_cache_new();
	struct feed_page page;
	(void)state;

	assert_non_null(c);
	make_page(&page, 1, sizeof(huge), NULL);
	page.post[0] = huge;
	feed_cache_put(c, "r||20|0|0,0,0,0", &page, 1000, 2000);
	assert_null(feed_cache_get(c, "r||20|0|0,0,0,0", 1000));
	assert_int_equal(feed_cache_bytes(c), 0);
	feed_cache_free(c);
}

static void test_a_content_change_gives_back_every_byte(void **state)
{
	struct feed_cache *c = feed_cache_new();
	struct feed_page page;
	char key[FEED_CACHE_KEY_MAX];
	(void)state;

	assert_non_null(c);
	make_page(&page, 20, 200, NULL);
	offer(c, &page, 10, 1000, 2000);
	assert_true(feed_cache_bytes(c) > 0);
	feed_cache_sync(c, 1, 0);
	assert_int_equal(feed_cache_bytes(c), 0);
	key_of(key, sizeof(key), 0);
	assert_null(feed_cache_get(c, key, 1000));
	feed_cache_free(c);
}

static void test_votes_are_kept_per_viewer_generation_and_page(void **state)
{
	struct feed_cache *c = feed_cache_new();
	struct feed_page page, other;
	int votes[20], got[20];
	(void)state;

	assert_non_null(c);
	make_page(&page, 20, 10, NULL);
	make_page(&other, 20, 10, NULL);
	other.pk[7] = 99;
	for (int i = 0; i < 20; i++)
		votes[i] = i % 3 - 1;
	votes[5] = FEED_HIDDEN;
	feed_cache_votes_put(c, 7, 3, &page, votes, 2000);
	assert_true(feed_cache_votes_get(c, 7, 3, &page, 1999, got));
	assert_memory_equal(got, votes, sizeof(votes));
	assert_false(feed_cache_votes_get(c, 8, 3, &page, 1999, got));
	assert_false(feed_cache_votes_get(c, 7, 4, &page, 1999, got));
	assert_false(feed_cache_votes_get(c, 7, 3, &other, 1999, got));
	assert_false(feed_cache_votes_get(c, 7, 3, &page, 2000, got));
	feed_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_stored_page_is_a_copy_until_it_expires),
		cmocka_unit_test(test_pages_never_take_more_than_the_bound),
		cmocka_unit_test(test_expired_pages_make_room),
		cmocka_unit_test(test_a_page_over_the_bound_is_not_stored),
		cmocka_unit_test(test_a_content_change_gives_back_every_byte),
		cmocka_unit_test(test_votes_are_kept_per_viewer_generation_and_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
