/* PLACEHOLDER — replaced by the real implementation before issue 3 lands. */
#include <string.h>
#include "config.h"
#include "http.h"
#include "pow.h"
#include "router.h"
#include "worker.h"

int pow_leading_zero_bits(const unsigned char digest[32]) { (void)digest; return 0; }
bool pow_solution_ok(const char *action, const char *challenge, const char *nonce, int difficulty)
{ (void)action; (void)challenge; (void)nonce; (void)difficulty; return false; }
enum pow_action pow_action_parse(const char *name)
{
	for (int a = 0; a < POW__MAX; a++)
		if (strcmp(name, config_pow_name((enum pow_action)a)) == 0)
			return (enum pow_action)a;
	return POW_NONE;
}
int pow_adaptive_extra(uint64_t current, uint64_t baseline, uint32_t min_rate, int max_extra)
{ (void)current; (void)baseline; (void)min_rate; (void)max_extra; return 0; }
void pow_note_issued(struct shm_region *shm, enum pow_action action, uint64_t now_s)
{ (void)shm; (void)action; (void)now_s; }
int pow_difficulty(const struct shm_region *shm, const struct config *cfg, enum pow_action action, uint64_t now_s)
{ (void)shm; (void)now_s; return cfg->pow[action]; }
int pow_verify_or_reply(struct request *req)
{
	if (req->route->pow == POW_NONE || req->worker->cfg->pow[req->route->pow] == 0)
		return 0;
	return http_error(req, 428, "pow_required", "proof of work required");
}
