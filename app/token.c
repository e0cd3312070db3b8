/* PLACEHOLDER — replaced by the real implementation before issue 3 lands. */
#include "token.h"
char *token_issue(struct arena *a, const unsigned char key[32], const char *sub,
                  int64_t now, int lifetime_s, struct token_claims *out)
{ (void)a; (void)key; (void)sub; (void)now; (void)lifetime_s; (void)out; return 0; }
int token_verify(const unsigned char key[32], const char *token, int64_t now,
                 int max_lifetime_s, struct token_claims *out)
{ (void)key; (void)token; (void)now; (void)max_lifetime_s; (void)out; return -1; }
