/* Driver for running a libFuzzer target without libFuzzer: replays every file of the
 * corpus directories given as arguments, then feeds deterministic pseudo-random inputs
 * and bit-flipped copies of the corpus.  A crash or sanitizer report fails the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FUZZ_RANDOM_INPUTS = 20000, FUZZ_MAX_INPUT = 4096 };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

struct blob {
	uint8_t *data;
	size_t size;
};

static struct blob *corpus;
static size_t corpus_len;

static void load_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return; /* no corpus yet: random inputs only */
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		uint8_t *buf = malloc(1 << 20);
		size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
		fclose(f);
		if (!buf)
			continue;
		corpus = realloc(corpus, (corpus_len + 1) * sizeof(*corpus));
		if (!corpus)
			abort();
		corpus[corpus_len++] = (struct blob){ buf, n };
		LLVMFuzzerTestOneInput(buf, n);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		load_dir(argv[i]);
	/* a target that builds a whole server per input asks for fewer */
	const char *env = getenv("FUZZ_SMOKE_INPUTS");
	int inputs = env ? atoi(env) : FUZZ_RANDOM_INPUTS;
	uint8_t *buf = malloc(FUZZ_MAX_INPUT);
	if (!buf)
		return 1;
	for (int i = 0; i < inputs; i++) {
		size_t n;
		if (corpus_len && (i & 1)) {
			struct blob *b = &corpus[rng() % corpus_len];
			n = b->size < FUZZ_MAX_INPUT ? b->size : FUZZ_MAX_INPUT;
			memcpy(buf, b->data, n);
			for (int flips = 1 + (int)(rng() % 4); flips > 0 && n; flips--)
				buf[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
			if (n && rng() % 4 == 0)
				n = rng() % n; /* truncate */
		} else {
			n = rng() % FUZZ_MAX_INPUT;
			for (size_t k = 0; k < n; k++)
				buf[k] = (uint8_t)rng();
		}
		uint8_t *exact = malloc(n ? n : 1); /* exact size so ASan sees overreads */
		memcpy(exact, buf, n);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	free(buf);
	for (size_t i = 0; i < corpus_len; i++)
		free(corpus[i].data);
	free(corpus);
	printf("%zu corpus inputs, %d generated inputs: no crash\n", corpus_len, inputs);
	return 0;
}
