/*
 * handlers_oauth.c — third-party clients (OAuth 2.1, docs/oauth.md):
 *
 *   GET  /.well-known/oauth-authorization-server  the metadata (RFC 8414)
 *   GET  /oauth/clients/{id}?redirect_uri=        what the consent page shows
 *   POST /oauth/authorize                         the person approves: a code
 *   POST /oauth/token                             the client's exchange (a form)
 *
 * The consent page itself is static (nginx/oauth/). It learns the
 * client's name from GET /oauth/clients/{id}, which also tells it whether
 * the redirect URI is registered, character for character: only then does
 * it ever send the browser there (with a code, or with
 * error=access_denied). POST /oauth/authorize checks the same again.
 *
 * Tokens issued here are sessions (session.h) opened through the client,
 * with the approved scopes: they rotate, show in the session list with
 * the client's name and end with the client; a DPoP proof with the
 * exchange binds them to its key (dpop_request.h). /oauth/token answers
 * errors in RFC 6749's format (the route's ROUTE_FORM makes every error so).
 */
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "dpop_request.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "oauth.h"
#include "oauth_code.h"
#include "scope.h"
#include "session.h"
#include "util.h"

/* 422 invalid_field for a field of POST /oauth/authorize. */
static int field_error(struct request *req, const char *message)
{
	return http_error(req, 422, "invalid_field", message);
}

/* The issuer (RFC 8414 section 2, RFC 9207): this server's origin. */
static const char *issuer_or_null(struct request *req)
{
	return http_self_origin(req);
}

/* A JSON array of the n strings items; NULL when out of memory. */
static json_object *string_array(const char *const *items, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		json_object_array_add(a, json_object_new_string(items[i]));
	return a;
}

#define STRINGS(...) string_array((const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* GET /.well-known/oauth-authorization-server */
int handle_oauth_metadata(struct request *req)
{
	const char *iss = issuer_or_null(req), *authorize, *token;
	json_object *o;

	if (iss == NULL)
		return http_error(req, 400, "bad_request", "the Host header is missing or malformed");
	authorize = arena_printf(req->arena, "%s/oauth/authorize", iss);
	token = arena_printf(req->arena, "%s/oauth/token", iss);
	if (authorize == NULL || token == NULL || (o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "issuer", json_object_new_string(iss));
	json_object_object_add(o, "authorization_endpoint", json_object_new_string(authorize));
	json_object_object_add(o, "token_endpoint", json_object_new_string(token));
	json_object_object_add(o, "response_types_supported", STRINGS("code"));
	json_object_object_add(o, "response_modes_supported", STRINGS("query"));
	json_object_object_add(o, "grant_types_supported",
	                       STRINGS("authorization_code", "refresh_token"));
	json_object_object_add(o, "code_challenge_methods_supported", STRINGS("S256"));
	json_object_object_add(o, "token_endpoint_auth_methods_supported", STRINGS("none"));
	json_object_object_add(o, "scopes_supported", STRINGS("read", "write", "dm", "account"));
	json_object_object_add(o, "dpop_signing_alg_values_supported",
	                       STRINGS(DPOP_ALGS_SUPPORTED));
	json_object_object_add(o, "authorization_response_iss_parameter_supported",
	                       json_object_new_boolean(1));
	return http_reply(req, 200, o);
}

/*
 * The client of the request's client_id with its redirect_uri, or the
 * error reply: 422 for an unknown client or an unregistered URI (the
 * page must never send the browser there), 503 when the database fails.
 */
static int client_or_reply(struct request *req, const char *id, const char *redirect_uri,
                           struct oauth_client *c)
{
	int found = oauth_client_find(req, id, redirect_uri, c);

	if (found < 0)
		return http_db_failure(req);
	if (found == 0)
		return field_error(req, "client_id is not a registered client, or redirect_uri is "
		                   "not one of its redirect URIs");
	return 0;
}

/* GET /oauth/clients/{id}?redirect_uri=URI: {"client_id", "name"} for the consent page. */
int handle_oauth_client(struct request *req)
{
	const char *uri = http_query(req, "redirect_uri");
	struct oauth_client c;
	json_object *o;
	int status;

	if (uri == NULL)
		return field_error(req, "redirect_uri is required");
	if ((status = client_or_reply(req, http_param(req, 0), uri, &c)) != 0)
		return status;
	if ((o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "client_id", json_object_new_string(c.id));
	json_object_object_add(o, "name", json_object_new_string(c.name));
	return http_reply(req, 200, o);
}

/* The optional string field key of the body: 1 set, 0 absent, -1 not a string or too long. */
static int optional_string(struct request *req, const char *key, size_t max, const char **out)
{
	size_t len;
	int has = json_get_string(req->json, key, out, &len);

	if (has == 0) {
		*out = NULL;
		return 0;
	}
	return has == 1 && len == strlen(*out) && len <= max ? 1 : -1;
}

/* The fields of an authorization request besides the client: into *g, or the 422 reply. */
static int grant_fields_or_reply(struct request *req, struct oauth_grant *g, const char **state)
{
	const char *challenge, *method, *scope;

	if (optional_string(req, "code_challenge", OAUTH_CHALLENGE_CHARS, &challenge) != 1 ||
	    !oauth_challenge_valid(challenge))
		return field_error(req, "code_challenge must be 43 base64url characters (S256)");
	if (optional_string(req, "code_challenge_method", 8, &method) != 1 ||
	    strcmp(method, "S256") != 0)
		return field_error(req, "code_challenge_method must be S256");
	if (optional_string(req, "scope", SCOPE_TEXT_MAX, &scope) != 1 ||
	    scope_parse(scope, &g->scope) != 0 || g->scope == 0)
		return field_error(req, "scope must name one or more of read, write, dm, account");
	if (optional_string(req, "state", OAUTH_STATE_MAX, state) < 0)
		return field_error(req, "state must be a string of at most 512 bytes");
	memcpy(g->challenge, challenge, OAUTH_CHALLENGE_CHARS + 1);
	return 0;
}

/*
 * redirect_uri with the authorization response appended (RFC 6749
 * section 4.1.2, RFC 9207): code, state when given, iss. A URI that has a
 * query already gets '&'. NULL on OOM.
 */
static const char *response_uri(struct request *req, const char *redirect_uri, const char *code,
                                const char *state, const char *iss)
{
	const char *sep = strchr(redirect_uri, '?') != NULL ? "&" : "?";
	const char *st = state != NULL ? http_percent_encode(req->arena, state) : NULL;
	const char *is = http_percent_encode(req->arena, iss);

	if (is == NULL || (state != NULL && st == NULL))
		return NULL;
	return arena_printf(req->arena, "%s%scode=%s%s%s&iss=%s", redirect_uri, sep, code,
	                    st != NULL ? "&state=" : "", st != NULL ? st : "", is);
}

/*
 * POST /oauth/authorize (the person's own token): {"client_id",
 * "redirect_uri", "code_challenge", "code_challenge_method", "scope",
 * "state"} → {"redirect": redirect_uri?code=…&state=…&iss=…}. The client
 * and its URI are checked first, so a bad request is never sent there.
 */
int handle_oauth_authorize(struct request *req)
{
	const char *client_id, *redirect_uri, *state, *code, *iss, *uri;
	struct oauth_grant g;
	struct oauth_client c;
	int status;

	if (optional_string(req, "client_id", OAUTH_CLIENT_ID_CHARS, &client_id) != 1)
		return field_error(req, "client_id must be a registered client's id");
	if (optional_string(req, "redirect_uri", OAUTH_REDIRECT_URI_MAX, &redirect_uri) != 1)
		return field_error(req, "redirect_uri must be one of the client's redirect URIs");
	if ((status = client_or_reply(req, client_id, redirect_uri, &c)) != 0 ||
	    (status = grant_fields_or_reply(req, &g, &state)) != 0)
		return status;
	if ((iss = issuer_or_null(req)) == NULL)
		return http_error(req, 400, "bad_request", "the Host header is missing or malformed");
	g.account_pk = req->account_pk;
	g.client_pk = c.pk;
	code = oauth_code_issue(req, client_id, redirect_uri, &g);
	if (code == NULL)
		return http_unavailable(req, "authorization is unavailable", HTTP_RETRY_AFTER_DOWN);
	if ((uri = response_uri(req, redirect_uri, code, state, iss)) == NULL)
		return http_oom(req);
	return http_reply_member(req, 200, "redirect", json_object_new_string(uri));
}

/* RFC 6749 section 5.1: the tokens of session g for account acc. */
static int token_reply(struct request *req, const struct account *acc,
                       const struct session_grant *g)
{
	char *token = session_access_token(req, acc->id, g, acc->token_gen);
	char *scope = scope_text(req->arena, g->scope);
	json_object *o;

	if (token == NULL || scope == NULL || (o = json_object_new_object()) == NULL)
		return http_oom(req);
	json_object_object_add(o, "access_token", json_object_new_string(token));
	json_object_object_add(o, "token_type",
	                       json_object_new_string(g->jkt[0] != '\0' ? "DPoP" : "Bearer"));
	json_object_object_add(o, "expires_in", json_object_new_int(req->ctx->cfg->token_lifetime_s));
	json_object_object_add(o, "refresh_token", json_object_new_string(g->refresh_token));
	json_object_object_add(o, "scope", json_object_new_string(scope));
	return http_reply(req, 200, o);
}

static int invalid_grant(struct request *req)
{
	return http_oauth_error(req, 400, "invalid_grant",
	                        "the code or refresh token is invalid, expired, used or another "
	                        "client's");
}

/* 400 invalid_dpop_proof (RFC 9449 section 5): the token endpoint's DPoP refusal. */
static int invalid_dpop_proof(struct request *req)
{
	return http_oauth_error(req, 400, "invalid_dpop_proof",
	                        "the DPoP proof is missing, invalid, used before, or of another key");
}

static int missing(struct request *req, const char *name)
{
	const char *message = arena_printf(req->arena, "%s is required", name);

	return http_oauth_error(req, 400, "invalid_request",
	                        message != NULL ? message : "a parameter is missing");
}

/* The account of a grant: 0 with *acc, or the reply (gone since: invalid_grant). */
static int account_or_reply(struct request *req, int64_t pk, struct account *acc)
{
	int found = auth_load_by_pk(req, pk, acc);

	if (found < 0)
		return http_db_failure(req);
	return found == 0 ? invalid_grant(req) : 0;
}

/*
 * The code was taken: check the verifier, open the session (the client
 * and the account must still exist: their foreign keys say so), record
 * it against the code and answer its tokens.
 */
static int exchange_fresh(struct request *req, const char *code, const char *client_id,
                          const char *redirect_uri, const struct oauth_grant *og,
                          const char *jkt)
{
	struct session_grant g;
	struct account acc;
	int status;

	if (!oauth_pkce_s256_ok(http_form(req, "code_verifier"), og->challenge))
		return invalid_grant(req);
	if ((status = account_or_reply(req, og->account_pk, &acc)) != 0)
		return status;
	if (session_open(req, og->account_pk, og->client_pk, og->scope, jkt, &g) != 0)
		return db_down(req->ctx->db) ? http_db_failure(req) : invalid_grant(req);
	if (oauth_code_used(req, code, client_id, redirect_uri, g.id) != 0) {
		/* Unrecorded, a second use could not end it: it does not start. */
		if (session_end(req, g.id, 0) < 0)
			log_msg(LOG_WARN, "a session whose code went unrecorded did not end");
		return http_unavailable(req, "authorization is unavailable", HTTP_RETRY_AFTER_DOWN);
	}
	return token_reply(req, &acc, &g);
}

/*
 * grant_type=authorization_code (RFC 6749 section 4.1.3, RFC 7636 section
 * 4.5); jkt: the DPoP key the session is bound to ("": none).
 */
static int token_from_code(struct request *req, const char *jkt)
{
	const char *code = http_form(req, "code"), *uri = http_form(req, "redirect_uri");
	const char *client_id = http_form(req, "client_id");
	char session_id[SESSION_ID_CHARS + 1];
	struct oauth_grant og;

	if (code == NULL)
		return missing(req, "code");
	if (uri == NULL)
		return missing(req, "redirect_uri");
	if (client_id == NULL)
		return missing(req, "client_id");
	if (http_form(req, "code_verifier") == NULL)
		return missing(req, "code_verifier");
	switch (oauth_code_take(req, code, client_id, uri, &og, session_id)) {
	case OAUTH_CODE_FRESH:
		return exchange_fresh(req, code, client_id, uri, &og, jkt);
	case OAUTH_CODE_REUSED:
		/* RFC 6749 section 4.1.2: what the first use opened ends too. */
		if (session_end(req, session_id, 0) < 0)
			return http_db_failure(req);
		return invalid_grant(req);
	case OAUTH_CODE_INVALID:
		return invalid_grant(req);
	case OAUTH_CODE_FAILED:
		break;
	}
	return http_unavailable(req, "authorization is unavailable", HTTP_RETRY_AFTER_DOWN);
}

/*
 * grant_type=refresh_token (RFC 6749 section 6): rotation and reuse
 * detection (session.h) for a request that proved the DPoP key jkt ("":
 * no proof; a bound session needs its own key's).
 */
static int token_from_refresh(struct request *req, const char *jkt)
{
	const char *text = http_form(req, "refresh_token"), *client_id = http_form(req, "client_id");
	struct session_grant g;
	struct account acc;
	int64_t client_pk;
	int status;

	if (text == NULL)
		return missing(req, "refresh_token");
	if (client_id == NULL)
		return missing(req, "client_id");
	if ((status = oauth_client_pk(req, client_id, &client_pk)) != 1)
		return status < 0 ? http_db_failure(req) : invalid_grant(req);
	switch (session_rotate(req, text, client_pk, jkt, &g)) {
	case SESSION_FAILED:
		return db_down(req->ctx->db) ? http_db_failure(req)
		       : http_unavailable(req, "sessions are unavailable", HTTP_RETRY_AFTER_DOWN);
	case SESSION_REFUSED:
		return invalid_grant(req);
	case SESSION_WRONG_KEY:
		return invalid_dpop_proof(req);
	case SESSION_ROTATED:
		break;
	}
	if ((status = account_or_reply(req, g.account_pk, &acc)) != 0)
		return status;
	return token_reply(req, &acc, &g);
}

/*
 * POST /oauth/token (application/x-www-form-urlencoded). A DPoP proof
 * (RFC 9449 section 5) binds what it issues to the proof's key.
 */
int handle_oauth_token(struct request *req)
{
	const char *grant = http_form(req, "grant_type");
	char jkt[DPOP_JKT_CHARS + 1];
	int status;

	if (grant == NULL)
		return missing(req, "grant_type");
	status = dpop_request_key_or_reply(req, (int64_t)(util_wall_us() / 1000000), jkt);
	if (status == 401)
		return invalid_dpop_proof(req);
	if (status != 0)
		return status;
	if (strcmp(grant, "authorization_code") == 0)
		return token_from_code(req, jkt);
	if (strcmp(grant, "refresh_token") == 0)
		return token_from_refresh(req, jkt);
	return http_oauth_error(req, 400, "unsupported_grant_type",
	                        "grant_type must be authorization_code or refresh_token");
}
