/*
 * cmd_bench_data.c — `sotto bench-data <n_posts> [n_accounts [jobs]]`: synthetic
 * accounts, posts, replies and votes for benchmarks and scale checks,
 * stored exactly as the server stores its own.
 *
 * Accounts are password accounts (one shared Argon2id hash of a random
 * password nobody keeps, so none of them can log in), with random ids
 * found through auth_id_hash(), the id sealed and the data key wrapped as
 * POST /auth/register does. Post bodies (40..400 characters of words)
 * are sealed with the author's data key for the field
 * { "posts", "body", row = the post's public id, owner = author pk }.
 * Top-level posts spread evenly over the last 365 days in pk order (newest
 * last); about one in eleven rows is a reply to a recent post of the same
 * batch; one visible top-level post in five gets 1..5 votes. Accounts
 * start with trust 0.30..0.70; a fifth of them only ever get down-votes.
 * Rows are loaded with COPY in short transactions, so the schema's
 * triggers keep score, rank, reply_count and trust as they would for real
 * requests. Communities are not generated.
 *
 * The work is split between jobs (processes, one connection each), each
 * with its own share of the accounts, whose posts it writes and who vote
 * on them: jobs never wait for each other's row locks. Days still rise
 * with pk within each job; across jobs the pk ranges interleave.
 *
 * `sotto bench-data --post-rows <n>` makes one such account and n posts
 * of it sealed but not stored, for the bench's pgbench_post line
 * (post_rows_run).
 *
 * It writes into cfg->database_url and refuses to run unless SOTTO_DEV=1
 * (a development or bench stack): it is not meant for a real database.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "arena.h"
#include "auth.h"
#include "cmd.h"
#include "config.h"
#include "context.h"
#include "copyin.h"
#include "crypto.h"
#include "db.h"
#include "post_view.h"
#include "util.h"

#define BENCHDATA_DEFAULT_ACCOUNTS 100
#define BENCHDATA_MAX_POSTS 100000000L
#define BENCHDATA_MAX_ACCOUNTS 1000000L
#define BENCHDATA_MAX_JOBS 64

#define BATCH_POSTS 1000        /* top-level posts per transaction (see batch_votes) */
#define BODY_MIN 40             /* characters of a generated body */
#define BODY_MAX 400
#define DAYS 365                /* top-level posts spread over this many days */
#define REPLY_PER_MILLE 90      /* chance that a generated row is a reply */
#define REPLY_WINDOW 500        /* a reply answers one of the latest posts of its batch */
#define HELD_PER_MILLE 5        /* top-level posts held by moderation (status 1) */
#define REMOVED_PER_MILLE 5     /* ... and removed (status 2) */
#define VOTED_PER_MILLE 200     /* visible top-level posts that get votes at all */
#define VOTES_MAX 5             /* such a post gets 1..VOTES_MAX votes, distinct voters */
#define VOTE_ROWS_PER_TX 500    /* rows of a batch whose votes share a transaction */
#define PROGRESS_US 5000000     /* a progress line at most this often */
#define UNLIKED_PER_MILLE 200   /* accounts whose posts only ever get down-votes */
#define POST_ID_BYTES 16        /* public post id: 22 characters of base64url */

static struct db_stmt stmt_account_pks = {
	"bench_account_pks",
	"SELECT nextval(pg_get_serial_sequence('accounts', 'pk')) "
	"FROM generate_series(1, $1::integer)", 1, 0
};
static struct db_stmt stmt_post_pks = {
	"bench_post_pks",
	"SELECT nextval(pg_get_serial_sequence('posts', 'pk')) "
	"FROM generate_series(1, $1::integer)", 1, 0
};

static const char *const words[] = {
	"about", "after", "again", "air", "almost", "always", "and", "animal", "another",
	"answer", "around", "because", "been", "before", "began", "being", "below", "between",
	"big", "book", "both", "boy", "but", "came", "can", "car", "change", "children", "city",
	"close", "come", "could", "country", "day", "did", "different", "does", "don't", "down",
	"each", "earth", "end", "enough", "even", "every", "eye", "face", "family", "far",
	"father", "feel", "few", "find", "first", "follow", "food", "form", "found", "friend",
	"from", "garden", "get", "girl", "give", "good", "great", "grow", "hand", "hard", "have",
	"head", "hear", "help", "here", "high", "home", "house", "idea", "important", "just",
	"keep", "kind", "know", "land", "large", "last", "learn", "leave", "left", "letter",
	"life", "light", "like", "line", "list", "little", "live", "long", "look", "made",
	"make", "many", "may", "mean", "might", "more", "morning", "most", "mother", "mountain",
	"move", "much", "music", "must", "name", "near", "need", "never", "new", "next", "night",
	"nothing", "now", "number", "often", "old", "once", "only", "open", "other", "our",
	"own", "page", "paper", "part", "people", "picture", "place", "plant", "play", "point",
	"question", "quickly", "quiet", "rain", "read", "really", "right", "river", "room",
	"run", "said", "same", "saw", "say", "school", "sea", "second", "see", "seem", "sentence",
	"set", "should", "show", "side", "small", "some", "something", "sometimes", "song",
	"soon", "sound", "spell", "start", "state", "still", "stop", "story", "study", "such",
	"take", "talk", "tell", "than", "thank", "that", "their", "them", "then", "there",
	"these", "they", "thing", "think", "this", "those", "thought", "through", "time",
	"today", "together", "too", "took", "tree", "try", "turn", "under", "until", "very",
	"walk", "want", "watch", "water", "way", "week", "well", "went", "were", "what", "when",
	"where", "while", "white", "why", "with", "without", "word", "work", "world", "would",
	"write", "year", "yes", "you", "young", "your", "kindness", "neighbour", "tomorrow",
};
#define N_WORDS (sizeof(words) / sizeof(words[0]))

/* xoshiro256**: fast and good enough for text and choices; never for ids or keys. */
struct rng {
	uint64_t s[4];
};

/* What one generated row of posts will be. */
struct row_plan {
	int32_t parent;       /* row index of the parent in its batch; -1 top-level */
	uint32_t author;      /* index into the accounts of this run */
	int32_t day;
	int16_t status;       /* 0 visible, 1 held, 2 removed */
};

struct bench {
	char tag[24];         /* "bench-data", or "bench-data[job]" with several jobs */
	const struct config *cfg;
	struct db *db;
	struct arena *a;      /* reset after every transaction */
	struct context ctx;   /* only its keys, for auth_id_hash() */
	struct rng rng;
	struct copyin copy;   /* the COPY in progress; its buffer is reused */
	size_t n_accounts;
	int64_t *acct_pk;
	uint16_t *appeal;     /* per mille: chance that a vote on the account's post is up */
	unsigned char *keys;  /* n_accounts data keys, CRYPTO_KEY_BYTES each (sodium_malloc) */
	int64_t today;
	uint64_t t0_us;
	uint64_t posts_us, votes_us;   /* time spent loading each, so far */
	uint64_t progress_us;          /* when the last progress line was printed */
	long posts, replies, votes;
};

/* ---- randomness and text --------------------------------------------- */

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in [0, n) for n > 0 (multiply-shift; its bias is below 2^-32). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static void rng_seed(struct rng *r)
{
	randombytes_buf(r->s, sizeof(r->s));
	if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
		r->s[0] = 1;    /* the one state xoshiro cannot leave */
}

/*
 * Sentences of common words, BODY_MIN..BODY_MAX characters (uniform
 * target length), into out; returns the length (out is not terminated).
 */
static size_t body_make(struct rng *r, char out[BODY_MAX])
{
	size_t target = BODY_MIN + rng_below(r, BODY_MAX - BODY_MIN + 1), len = 0;
	bool sentence_start = true;

	while (len < target) {
		const char *w = words[rng_below(r, N_WORDS)];
		size_t wl = strlen(w);

		if (len + 1 + wl + 1 > BODY_MAX)  /* room for the space and a final '.' */
			break;
		if (len > 0)
			out[len++] = ' ';
		memcpy(out + len, w, wl);
		if (sentence_start)
			out[len] = (char)toupper((unsigned char)out[len]);
		len += wl;
		sentence_start = rng_below(r, 10) == 0;
		if (sentence_start)
			out[len++] = '.';
	}
	if (out[len - 1] != '.')
		out[len++] = '.';
	return len;
}

/* BEGIN, or -1 (reported). */
static int begin_or_report(struct bench *b)
{
	if (db_begin(b->db) == 0)
		return 0;
	fprintf(stderr, "bench-data: BEGIN failed: %s\n",
	        db_down(b->db) ? "connection lost" : "refused");
	return -1;
}

/* ---- accounts -------------------------------------------------------- */

static int cmp_int64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return (a > b) - (a < b);
}

/* n fresh values of stmt's identity sequence into out, ascending. 0 or -1. */
static int reserve_pks(struct bench *b, struct db_stmt *stmt, size_t n, int64_t *out)
{
	char count[24];
	const char *params[1] = { count }, *state = NULL;
	PGresult *res;

	snprintf(count, sizeof(count), "%zu", n);
	res = db_exec(b->db, b->a, stmt, params, &state);
	if (res == NULL || (size_t)PQntuples(res) != n) {
		fprintf(stderr, "bench-data: reserving ids failed%s%s\n",
		        state != NULL && state[0] != '\0' ? ": SQLSTATE " : "",
		        state != NULL ? state : "");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (util_parse_int64(PQgetvalue(res, (int)i, 0), 1, INT64_MAX - 1, &out[i]) != 0)
			return -1;
	qsort(out, n, sizeof(*out), cmp_int64);
	return 0;
}

/* The argon2id hash every generated account shares: of a random password, then forgotten. */
static int shared_password_hash(char out[crypto_pwhash_STRBYTES])
{
	unsigned char pw[32];
	int rc;

	randombytes_buf(pw, sizeof(pw));
	rc = crypto_pwhash_str(out, (const char *)pw, sizeof(pw),
	                       crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                       crypto_pwhash_MEMLIMIT_INTERACTIVE);
	sodium_memzero(pw, sizeof(pw));
	if (rc != 0)
		fprintf(stderr, "bench-data: password hashing failed (out of memory)\n");
	return rc == 0 ? 0 : -1;
}

/*
 * The accounts row of account i into the COPY buffer: a fresh random id
 * (kept only hashed and sealed), its data key new in b->keys, wrapped
 * into wrapped/version for the account_keys row. 0 or -1.
 */
static int account_row(struct bench *b, size_t i, const char *pwhash,
                       unsigned char wrapped[CRYPTO_WRAPPED_BYTES], uint32_t *version)
{
	unsigned char *key = b->keys + i * CRYPTO_KEY_BYTES, id_hash[AUTH_HASH_BYTES];
	const unsigned char *sealed;
	struct crypto_field f;
	char row[24], trust[8], *id = util_random_id(b->a, AUTH_ID_BYTES);
	size_t sealed_len;
	int64_t day = b->today - DAYS - (int64_t)rng_below(&b->rng, 60);

	if (id == NULL)
		return -1;
	auth_id_hash(&b->ctx, id, id_hash);
	crypto_data_key_new(key);
	auth_account_field(&f, row, sizeof(row), b->acct_pk[i], "account_id");
	sealed = crypto_seal(b->a, key, CRYPTO_DATA_KEY_VERSION, &f, id, strlen(id), &sealed_len);
	if (sealed == NULL || crypto_wrap_key(b->cfg, b->acct_pk[i], key, wrapped, version) != 0)
		return -1;
	copyin_int(&b->copy, b->acct_pk[i], '\t');
	copyin_bytea(&b->copy, id_hash, sizeof(id_hash), '\t');
	copyin_bytea(&b->copy, sealed, sealed_len, '\t');
	copyin_text(&b->copy, pwhash, '\t');
	copyin_int(&b->copy, ACCOUNT_PASSWORD, '\t');
	copyin_int(&b->copy, day > 0 ? day : 0, '\t');
	/* A spread of starting trust, 0.30..0.70; up-votes move it from there (triggers). */
	snprintf(trust, sizeof(trust), "0.%02u", 30 + rng_below(&b->rng, 41));
	copyin_text(&b->copy, trust, '\n');
	return 0;
}

/*
 * b->n_accounts accounts and their wrapped data keys, in one transaction:
 * fills b->acct_pk, b->keys and b->appeal. 0, or -1 (reported).
 */
static int create_accounts(struct bench *b)
{
	static const char copy_accounts[] =
		"COPY accounts (pk, id_hash, id_sealed, password_hash, auth, day_joined, trust) "
		"FROM STDIN";
	static const char copy_keys[] =
		"COPY account_keys (account_pk, version, wrapped) FROM STDIN";
	char pwhash[crypto_pwhash_STRBYTES];
	size_t n = b->n_accounts;
	unsigned char *wrapped = arena_alloc(b->a, n * CRYPTO_WRAPPED_BYTES);
	uint32_t *versions = arena_alloc(b->a, n * sizeof(*versions));
	bool ok = true;
	int rc = -1;

	if (wrapped == NULL || versions == NULL) {
		fprintf(stderr, "bench-data: out of memory\n");
		goto out;
	}
	if (shared_password_hash(pwhash) != 0 || begin_or_report(b) != 0 ||
	    reserve_pks(b, &stmt_account_pks, n, b->acct_pk) != 0 ||
	    copyin_begin(&b->copy, db_conn(b->db), copy_accounts, "bench-data: COPY accounts") != 0)
		goto out;
	for (size_t i = 0; i < n && ok; i++) {
		ok = account_row(b, i, pwhash, wrapped + i * CRYPTO_WRAPPED_BYTES, &versions[i]) == 0;
		if (!ok)
			fprintf(stderr, "bench-data: sealing an account failed (out of memory?)\n");
		ok = ok && copyin_row_done(&b->copy) == 0;
	}
	if (copyin_end(&b->copy, ok) != 0 ||
	    copyin_begin(&b->copy, db_conn(b->db), copy_keys, "bench-data: COPY account_keys") != 0)
		goto out;
	for (size_t i = 0; i < n && ok; i++) {
		copyin_int(&b->copy, b->acct_pk[i], '\t');
		copyin_int(&b->copy, versions[i], '\t');
		copyin_bytea(&b->copy, wrapped + i * CRYPTO_WRAPPED_BYTES, CRYPTO_WRAPPED_BYTES, '\n');
		ok = copyin_row_done(&b->copy) == 0;
	}
	if (copyin_end(&b->copy, ok) != 0)
		goto out;
	if (db_commit(b->db) != 0) {
		fprintf(stderr, "bench-data: COMMIT of the accounts failed\n");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		b->appeal[i] = rng_below(&b->rng, 1000) < UNLIKED_PER_MILLE
		               ? 0 : (uint16_t)(400 + rng_below(&b->rng, 551));
	rc = 0;
out:
	if (rc != 0)
		db_rollback(b->db);
	arena_reset(b->a);
	return rc;
}

/* ---- posts, replies, votes ------------------------------------------- */

/*
 * Plan a batch of n_top top-level posts, the first being number first of
 * total (which sets its day), with replies mixed in. rows has room for
 * 2 * n_top, tops (scratch: row indices of top-level posts) for n_top.
 * Returns the number of rows planned.
 */
static size_t plan_batch(struct bench *b, struct row_plan *rows, int32_t *tops,
                         long first, long n_top, long total)
{
	size_t n = 0, n_tops = 0, cap = 2 * (size_t)n_top;

	while (n_tops < (size_t)n_top) {
		struct row_plan *r = &rows[n];
		bool reply = n_tops > 0 && n + ((size_t)n_top - n_tops) < cap &&
		             rng_below(&b->rng, 1000) < REPLY_PER_MILLE;

		r->author = rng_below(&b->rng, (uint32_t)b->n_accounts);
		if (reply) {
			uint32_t window = n_tops < REPLY_WINDOW ? (uint32_t)n_tops : REPLY_WINDOW;

			r->parent = tops[n_tops - 1 - rng_below(&b->rng, window)];
			r->day = rows[r->parent].day + (int32_t)rng_below(&b->rng, 2);
			if (r->day > b->today)
				r->day = (int32_t)b->today;
			r->status = 0;
		} else {
			int64_t g = first + (int64_t)n_tops;
			uint32_t x = rng_below(&b->rng, 1000);

			r->parent = -1;
			r->day = (int32_t)(b->today - (DAYS - 1) + g * DAYS / total);
			r->status = x < HELD_PER_MILLE ? 1 : x < HELD_PER_MILLE + REMOVED_PER_MILLE ? 2 : 0;
			tops[n_tops++] = (int32_t)n;
		}
		n++;
	}
	return n;
}

/*
 * A generated body of post id by account i of the run, sealed as POST
 * /posts seals it (post_view.h), on b->a; NULL when out of memory.
 */
static const unsigned char *body_sealed(struct bench *b, size_t i, const char *id,
                                        size_t *sealed_len)
{
	char body[BODY_MAX];
	size_t len = body_make(&b->rng, body);
	struct crypto_field f;

	post_body_field(&f, id, b->acct_pk[i]);
	return crypto_seal(b->a, b->keys + i * CRYPTO_KEY_BYTES, CRYPTO_DATA_KEY_VERSION, &f,
	                   body, len, sealed_len);
}

/* The posts row i of a batch into the COPY buffer, its body sealed. 0 or -1. */
static int post_row(struct bench *b, const struct row_plan *r, const int64_t *pks, size_t i)
{
	int64_t author = b->acct_pk[r->author];
	char *id = util_random_id(b->a, POST_ID_BYTES);
	const unsigned char *sealed;
	size_t sealed_len;

	if (id == NULL)
		return -1;
	sealed = body_sealed(b, r->author, id, &sealed_len);
	if (sealed == NULL)
		return -1;
	copyin_int(&b->copy, pks[i], '\t');
	copyin_text(&b->copy, id, '\t');
	copyin_int(&b->copy, author, '\t');
	if (r->parent >= 0)
		copyin_int(&b->copy, pks[r->parent], '\t');
	else
		copyin_null(&b->copy, '\t');
	copyin_bytea(&b->copy, sealed, sealed_len, '\t');
	copyin_int(&b->copy, r->day, '\t');
	copyin_int(&b->copy, r->status, '\n');
	return 0;
}

static int emit_posts(struct bench *b, const struct row_plan *rows, size_t n,
                      const int64_t *pks)
{
	static const char copy_posts[] =
		"COPY posts (pk, id, author_pk, parent_pk, body_sealed, day, status) FROM STDIN";
	bool ok = true;

	if (copyin_begin(&b->copy, db_conn(b->db), copy_posts, "bench-data: COPY posts") != 0)
		return -1;
	for (size_t i = 0; i < n && ok; i++) {
		ok = post_row(b, &rows[i], pks, i) == 0;
		if (!ok)
			fprintf(stderr, "bench-data: sealing a post failed (out of memory?)\n");
		ok = ok && copyin_row_done(&b->copy) == 0;
	}
	return copyin_end(&b->copy, ok);
}

/*
 * Votes on some visible top-level posts among rows [lo, hi) of a batch:
 * 1..VOTES_MAX distinct voters each, up with the author's appeal, in one
 * COPY. *n_votes counts them. 0 or -1.
 */
static int emit_votes(struct bench *b, const struct row_plan *rows, size_t lo, size_t hi,
                      const int64_t *pks, long *n_votes)
{
	static const char copy_votes[] = "COPY votes (post_pk, voter_pk, value) FROM STDIN";
	uint32_t n_acc = (uint32_t)b->n_accounts, max = n_acc < VOTES_MAX ? n_acc : VOTES_MAX;
	bool ok = true;

	if (copyin_begin(&b->copy, db_conn(b->db), copy_votes, "bench-data: COPY votes") != 0)
		return -1;
	for (size_t i = lo; i < hi && ok; i++) {
		const struct row_plan *r = &rows[i];
		uint32_t k, start;

		if (r->parent >= 0 || r->status != 0 || rng_below(&b->rng, 1000) >= VOTED_PER_MILLE)
			continue;
		k = 1 + rng_below(&b->rng, max);
		start = rng_below(&b->rng, n_acc);
		for (uint32_t j = 0; j < k; j++) {
			copyin_int(&b->copy, pks[i], '\t');
			copyin_int(&b->copy, b->acct_pk[(start + j) % n_acc], '\t');
			copyin_int(&b->copy, rng_below(&b->rng, 1000) < b->appeal[r->author] ? 1 : -1, '\n');
		}
		*n_votes += k;
		ok = copyin_row_done(&b->copy) == 0;
	}
	return copyin_end(&b->copy, ok);
}

static double seconds_since(uint64_t t0_us)
{
	return (double)(util_now_us() - t0_us) / 1e6;
}

/*
 * The votes of a batch whose posts are committed, VOTE_ROWS_PER_TX rows
 * per transaction. Short transactions matter: every up-vote from another
 * account moves the author's trust, and the trust trigger then rewrites
 * the rank of every post of that author; inside one long transaction
 * each rewrite also walks all the versions the earlier ones left behind.
 * *n_votes counts the committed votes. 0 or -1.
 */
static int batch_votes(struct bench *b, const struct row_plan *rows, size_t n,
                       const int64_t *pks, long *n_votes)
{
	for (size_t lo = 0; lo < n; lo += VOTE_ROWS_PER_TX) {
		size_t hi = n - lo < VOTE_ROWS_PER_TX ? n : lo + VOTE_ROWS_PER_TX;
		long votes = 0;

		if (begin_or_report(b) != 0)
			return -1;
		if (emit_votes(b, rows, lo, hi, pks, &votes) != 0) {
			db_rollback(b->db);
			return -1;
		}
		if (db_commit(b->db) != 0) {
			fprintf(stderr, "bench-data: COMMIT of votes failed\n");
			return -1;
		}
		*n_votes += votes;
	}
	return 0;
}

/*
 * A batch: n_top top-level posts (from number first of total) and their
 * replies in one transaction, then their votes. rows, tops and pks are
 * scratch of 2 * BATCH_POSTS, BATCH_POSTS and 2 * BATCH_POSTS entries.
 * 0 or -1.
 */
static int run_batch(struct bench *b, struct row_plan *rows, int32_t *tops, int64_t *pks,
                     long first, long n_top, long total)
{
	size_t n = plan_batch(b, rows, tops, first, n_top, total);
	uint64_t t_posts = util_now_us(), t_votes;
	int rc = -1;

	if (begin_or_report(b) != 0)
		goto out;
	if (reserve_pks(b, &stmt_post_pks, n, pks) != 0 || emit_posts(b, rows, n, pks) != 0) {
		db_rollback(b->db);
		goto out;
	}
	if (db_commit(b->db) != 0) {
		fprintf(stderr, "bench-data: COMMIT of a batch of posts failed\n");
		goto out;
	}
	b->posts += n_top;
	b->replies += (long)n - n_top;
	t_votes = util_now_us();
	b->posts_us += t_votes - t_posts;
	rc = batch_votes(b, rows, n, pks, &b->votes);
	b->votes_us += util_now_us() - t_votes;
out:
	arena_reset(b->a);
	return rc;
}

/* A progress line, at most every PROGRESS_US and always for the last batch. */
static void progress(struct bench *b, long total)
{
	uint64_t now = util_now_us();
	double s = (double)(now - b->t0_us) / 1e6;

	if (b->posts < total && now - b->progress_us < PROGRESS_US)
		return;
	b->progress_us = now;
	printf("%s: %ld/%ld posts, %ld replies, %ld votes, %.1f s (%.0f posts/s; "
	       "loading posts %.1f s, votes %.1f s)\n",
	       b->tag, b->posts, total, b->replies, b->votes, s, (double)b->posts / s,
	       (double)b->posts_us / 1e6, (double)b->votes_us / 1e6);
	fflush(stdout);
}

/* Fresh statistics and visibility maps for the planner after the load. 0 or -1. */
static int vacuum_analyze(const struct config *cfg)
{
	static const char *const sql[] = {
		"VACUUM (ANALYZE) accounts", "VACUUM (ANALYZE) account_keys",
		"VACUUM (ANALYZE) posts", "VACUUM (ANALYZE) votes",
	};
	struct db *db = db_new(cfg->database_url, 0);
	PGconn *conn = db != NULL && db_ready(db) ? db_conn(db) : NULL;
	int rc = 0;

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == 0; i++) {
		PGresult *res = conn != NULL ? PQexec(conn, sql[i]) : NULL;

		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
			copyin_report(sql[i], res);
			rc = -1;
		}
		PQclear(res);
	}
	db_free(db);
	return rc;
}

/* 0 when the arguments and the configuration allow a run, else -1 (said why). */
static int check_run(const struct config *cfg, long n_posts, long n_accounts)
{
	if (n_posts < 1 || n_posts > BENCHDATA_MAX_POSTS ||
	    n_accounts < 1 || n_accounts > BENCHDATA_MAX_ACCOUNTS) {
		fprintf(stderr, "bench-data: n_posts must be 1..%ld and n_accounts 1..%ld\n",
		        BENCHDATA_MAX_POSTS, BENCHDATA_MAX_ACCOUNTS);
		return -1;
	}
	if (!cfg->dev) {
		fprintf(stderr, "bench-data: refusing to write synthetic accounts and posts "
		        "outside a development stack (SOTTO_DEV=1)\n");
		return -1;
	}
	if (config_content_key_newest(cfg) == NULL) {
		fprintf(stderr, "bench-data: no CONTENT_KEYS configured\n");
		return -1;
	}
	return 0;
}

/* The state of job (0 = the only one) for n_accounts accounts. 0, or -1 (said why). */
static int bench_open(struct bench *b, const struct config *cfg, long n_accounts, int job)
{
	memset(b, 0, sizeof(*b));
	if (job > 0)
		snprintf(b->tag, sizeof(b->tag), "bench-data[%d]", job);
	else
		snprintf(b->tag, sizeof(b->tag), "bench-data");
	b->cfg = cfg;
	b->ctx.cfg = cfg;
	b->n_accounts = (size_t)n_accounts;
	b->today = util_today();
	b->t0_us = util_now_us();
	rng_seed(&b->rng);
	if (context_keys_derive(cfg, &b->ctx.keys) != 0) {
		fprintf(stderr, "bench-data: deriving the account lookup key failed\n");
		return -1;
	}
	b->db = db_new(cfg->database_url, 0);   /* no statement_timeout: a COPY takes seconds */
	b->a = arena_new();
	b->acct_pk = calloc(b->n_accounts, sizeof(*b->acct_pk));
	b->appeal = calloc(b->n_accounts, sizeof(*b->appeal));
	b->keys = sodium_allocarray(b->n_accounts, CRYPTO_KEY_BYTES);
	if (b->db == NULL || b->a == NULL || b->acct_pk == NULL || b->appeal == NULL ||
	    b->keys == NULL) {
		fprintf(stderr, "bench-data: out of memory\n");
		return -1;
	}
	if (!db_ready(b->db)) {
		fprintf(stderr, "bench-data: cannot connect to the database (DATABASE_URL)\n");
		return -1;
	}
	return 0;
}

/* Wipe the keys and free everything bench_open() and the run allocated. */
static void bench_close(struct bench *b)
{
	sodium_memzero(&b->ctx.keys, sizeof(b->ctx.keys));
	if (b->keys != NULL)
		sodium_free(b->keys);   /* wipes them */
	free(b->acct_pk);
	free(b->appeal);
	copyin_free(&b->copy);
	arena_free(b->a);
	db_free(b->db);
	memset(b, 0, sizeof(*b));
}

/*
 * One job: n_accounts new accounts, n_posts top-level posts among them
 * with their replies and votes, on its own connection. job numbers the
 * job in its output (0: the only one). 0 or -1.
 */
static int run_job(const struct config *cfg, long n_posts, long n_accounts, int job)
{
	struct bench b;
	struct row_plan *rows = calloc(2 * BATCH_POSTS, sizeof(*rows));
	int32_t *tops = calloc(BATCH_POSTS, sizeof(*tops));
	int64_t *pks = calloc(2 * BATCH_POSTS, sizeof(*pks));
	int rc = -1;

	memset(&b, 0, sizeof(b));
	if (rows == NULL || tops == NULL || pks == NULL) {
		fprintf(stderr, "bench-data: out of memory\n");
		goto out;
	}
	if (bench_open(&b, cfg, n_accounts, job) != 0 || create_accounts(&b) != 0)
		goto out;
	printf("%s: %ld accounts in %.1f s\n", b.tag, n_accounts, seconds_since(b.t0_us));
	for (long first = 0; first < n_posts; first += BATCH_POSTS) {
		long n_top = n_posts - first < BATCH_POSTS ? n_posts - first : BATCH_POSTS;

		if (run_batch(&b, rows, tops, pks, first, n_top, n_posts) != 0)
			goto out;
		progress(&b, n_posts);
	}
	rc = 0;
out:
	if (rc != 0 && b.posts > 0)
		fprintf(stderr, "%s: the %ld posts committed before the failure stay\n",
		        b.tag, b.posts);
	fflush(stdout);
	bench_close(&b);
	free(rows);
	free(tops);
	free(pks);
	return rc;
}

/* The share of job j (0-based) of n split between jobs. */
static long share(long n, int jobs, int j)
{
	return n / jobs + (j < n % jobs ? 1 : 0);
}

/*
 * Run jobs jobs in child processes, each on its share of the posts and
 * accounts, and wait for all of them. 0 when every job succeeded, else -1.
 * Nothing is open yet: each child opens its own connection.
 */
static int run_jobs(const struct config *cfg, long n_posts, long n_accounts, int jobs)
{
	int started = 0, rc = 0, status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	for (int j = 0; j < jobs; j++) {
		if ((pid = fork()) < 0) {
			fprintf(stderr, "bench-data: fork failed: %s\n", strerror(errno));
			rc = -1;
			break;
		}
		if (pid == 0)
			_exit(run_job(cfg, share(n_posts, jobs, j), share(n_accounts, jobs, j),
			              j + 1) == 0 ? 0 : 1);
		started++;
	}
	/* Children that started run to their end (a failed fork stops none of them). */
	while (started > 0) {
		if (wait(&status) < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		started--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = -1;
	}
	return rc;
}

/*
 * Add n_accounts new accounts and n_posts new top-level posts (plus
 * replies and votes) to the database of cfg, then VACUUM (ANALYZE) the
 * tables it wrote. jobs processes share the work, each with its own
 * connection, accounts and posts (0: one per core; never more than
 * accounts or posts). Prints progress, figures and the elapsed time to
 * stdout; errors (SQLSTATEs only, never values) to stderr. Batches
 * already committed stay when a later one fails. Returns 0, or -1.
 */
static int benchdata_run(const struct config *cfg, long n_posts, long n_accounts, int jobs)
{
	uint64_t t0 = util_now_us(), t_load;

	if (check_run(cfg, n_posts, n_accounts) != 0)
		return -1;
	if (jobs <= 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		jobs = cores > 0 && cores <= BENCHDATA_MAX_JOBS ? (int)cores : 1;
	}
	/* Every job needs an account to write with and a post to write. */
	if (jobs > n_accounts)
		jobs = (int)n_accounts;
	if (jobs > n_posts)
		jobs = (int)n_posts;
	printf("bench-data: %ld posts by %ld new accounts, %d job%s\n", n_posts, n_accounts,
	       jobs, jobs == 1 ? "" : "s");
	if ((jobs == 1 ? run_job(cfg, n_posts, n_accounts, 0)
	               : run_jobs(cfg, n_posts, n_accounts, jobs)) != 0)
		return -1;
	t_load = util_now_us();
	if (vacuum_analyze(cfg) != 0)
		return -1;
	printf("bench-data: done: %ld posts in %.1f s (%.0f posts/s), vacuum analyze %.1f s, "
	       "total %.1f s\n", n_posts, (double)(t_load - t0) / 1e6,
	       (double)n_posts / ((double)(t_load - t0) / 1e6), seconds_since(t_load),
	       seconds_since(t0));
	return 0;
}

/* ---- rows for tests/bench/pgbench-post.sql ---------------------------- */

/* Rows 0..n-1 of bench_post_rows for account 0 of b, in one COPY. 0 or -1. */
static int emit_post_rows(struct bench *b, long n)
{
	static const char copy_rows[] = "COPY bench_post_rows (n, id, body) FROM STDIN";
	bool ok = true;

	if (copyin_begin(&b->copy, db_conn(b->db), copy_rows, "bench-data: COPY bench_post_rows") != 0)
		return -1;
	for (long i = 0; i < n && ok; i++) {
		char *id = util_random_id(b->a, POST_ID_BYTES);
		const unsigned char *sealed;
		size_t sealed_len = 0;

		sealed = id != NULL ? body_sealed(b, 0, id, &sealed_len) : NULL;
		ok = sealed != NULL;
		if (!ok) {
			fprintf(stderr, "bench-data: sealing a post failed (out of memory?)\n");
			break;
		}
		copyin_int(&b->copy, i, '\t');
		copyin_text(&b->copy, id, '\t');
		copyin_bytea(&b->copy, sealed, sealed_len, '\n');
		ok = copyin_row_done(&b->copy) == 0;
		arena_reset(b->a);   /* the COPY buffer holds the row now */
	}
	return copyin_end(&b->copy, ok);
}

/*
 * `--post-rows n`: one new account (as the others) and n posts of it,
 * each a fresh public id and a body sealed for that id and author, as
 * POST /posts seals it, but not stored: rows (n = 0..n-1, id, body) of
 * the table bench_post_rows, made afresh (unlogged: scratch for the
 * bench, which drops it). tests/bench/pgbench-post.sql writes row n as
 * the post the server would write, so the classifier (`sotto moderate`)
 * opens and scores those posts as it does the server's. Prints
 * "bench-data: post rows of account <pk>" (the author the script needs).
 * 0, or -1 (said why).
 */
static int post_rows_run(const struct config *cfg, long n)
{
	struct bench b;
	int rc = -1;

	memset(&b, 0, sizeof(b));
	if (check_run(cfg, n, 1) != 0 || bench_open(&b, cfg, 1, 0) != 0 ||
	    create_accounts(&b) != 0)
		goto out;
	if (db_exec_plain(b.db, "DROP TABLE IF EXISTS bench_post_rows") != 0 ||
	    db_exec_plain(b.db, "CREATE UNLOGGED TABLE bench_post_rows (n bigint PRIMARY KEY, "
	                  "id text NOT NULL, body bytea NOT NULL)") != 0) {
		fprintf(stderr, "bench-data: cannot make the table bench_post_rows\n");
		goto out;
	}
	if (begin_or_report(&b) != 0)
		goto out;
	if (emit_post_rows(&b, n) != 0) {
		db_rollback(b.db);
		goto out;
	}
	if (db_commit(b.db) != 0 || db_exec_plain(b.db, "VACUUM (ANALYZE) bench_post_rows") != 0) {
		fprintf(stderr, "bench-data: COMMIT of bench_post_rows failed\n");
		goto out;
	}
	printf("bench-data: %ld post rows in %.1f s\n", n, seconds_since(b.t0_us));
	printf("bench-data: post rows of account %lld\n", (long long)b.acct_pk[0]);
	rc = 0;
out:
	fflush(stdout);
	bench_close(&b);
	return rc;
}

int cmd_bench_data(int argc, char **argv, const struct config *cfg)
{
	int64_t n_posts, n_accounts = BENCHDATA_DEFAULT_ACCOUNTS, jobs = 0;

	if (argc == 3 && strcmp(argv[1], "--post-rows") == 0 &&
	    util_parse_int64(argv[2], 1, BENCHDATA_MAX_POSTS, &n_posts) == 0)
		return post_rows_run(cfg, (long)n_posts) == 0 ? 0 : 1;
	if (argc < 2 || argc > 4 ||
	    util_parse_int64(argv[1], 1, BENCHDATA_MAX_POSTS, &n_posts) != 0 ||
	    (argc >= 3 &&
	     util_parse_int64(argv[2], 1, BENCHDATA_MAX_ACCOUNTS, &n_accounts) != 0) ||
	    (argc == 4 && util_parse_int64(argv[3], 1, BENCHDATA_MAX_JOBS, &jobs) != 0)) {
		fprintf(stderr, "usage: sotto bench-data <n_posts 1..%ld> [n_accounts 1..%ld "
		        "(default %d) [jobs 1..%d (default: one per core)]]\n"
		        "       sotto bench-data --post-rows <n 1..%ld>\n", BENCHDATA_MAX_POSTS,
		        BENCHDATA_MAX_ACCOUNTS, BENCHDATA_DEFAULT_ACCOUNTS, BENCHDATA_MAX_JOBS,
		        BENCHDATA_MAX_POSTS);
		return 2;
	}
	return benchdata_run(cfg, (long)n_posts, (long)n_accounts, (int)jobs) == 0 ? 0 : 1;
}
