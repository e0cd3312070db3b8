/* PLACEHOLDER — replaced by the real implementation before issue 3 lands. */
#include "auth.h"
#include "export.h"
#include "handlers.h"
#include "http.h"
#include "router.h"
int auth_or_reply(struct request *req)
{
	if (req->route->flags & ROUTE_AUTH)
		return http_error(req, 401, "unauthorized", "not yet");
	return 0;
}
int handle_auth_register(struct request *req) { return http_error(req, 501, "internal", "not yet"); }
int handle_auth_challenge(struct request *req) { return http_error(req, 501, "internal", "not yet"); }
int handle_auth_login(struct request *req) { return http_error(req, 501, "internal", "not yet"); }
int handle_auth_logout(struct request *req) { return http_error(req, 501, "internal", "not yet"); }
int handle_me_get(struct request *req) { return http_error(req, 501, "internal", "not yet"); }
int handle_me_keys(struct request *req) { return http_error(req, 501, "internal", "not yet"); }
int handle_me_export(struct request *req) { return http_error(req, 501, "internal", "not yet"); }
int handle_me_delete(struct request *req) { return http_error(req, 501, "internal", "not yet"); }
