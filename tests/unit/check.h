/* A tiny assertion kit for unit tests: each CHECK prints the failing expression with
 * its location and values, counts the failure, and the test's main() ends with
 * `return check_finish();` (exit 1 when anything failed). */
#ifndef MESH_TESTS_CHECK_H
#define MESH_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		check_count++;                                                                   \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			check_failures++;                                                        \
		}                                                                                \
	} while (0)

#define CHECK_INT(a, b)                                                                   \
	do {                                                                              \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);           \
		check_count++;                                                            \
		if (check_a_ != check_b_) {                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
				__FILE__, __LINE__, #a, #b, check_a_, check_b_);          \
			check_failures++;                                                 \
		}                                                                         \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		check_count++;                                                                     \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                   \
			fprintf(stderr,                                                            \
				"%s:%d: CHECK failed: %s == %s\n  got:  \"%s\"\n  want: \"%s\"\n", \
				__FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",        \
				check_b_ ? check_b_ : "(null)");                                   \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_MEM(a, b, n)                                                                       \
	do {                                                                                     \
		check_count++;                                                                   \
		if (memcmp((a), (b), (n)) != 0) {                                                \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%zu bytes)\n", __FILE__, \
				__LINE__, #a, #b, (size_t)(n));                                  \
			check_failures++;                                                        \
		}                                                                                \
	} while (0)

static inline int check_finish(void)
{
	fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

/* A reproducible pseudo-random number below n (xorshift64; *state must not start at 0). */
static inline unsigned check_rand(unsigned long long *state, unsigned n)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (unsigned)(*state % n);
}

#endif
