/* Fuzz target for the node API request decoder (meshcontrol's ctl__node_decode): the raw
 * bytes as a request body (envelope checks, authentication), the same bytes sealed by a
 * genuine machine key (so the JSON stage is reached), and the bytes as a map-stream
 * message folded into a netmap by the client (ctl_netmap_apply + ctl_netmap_parse, and the
 * two-form fold the client uses, whose struct must match its JSON), and a register
 * request's "tags" (ctl_tags_from_json) and the bytes as "tag:a,tag:b" text
 * (ctl_tags_parse); and the bytes as two filter texts, the one a node was sent and a new one:
 * the delta's filter control writes from them resolves on the node to the new one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/sbuf.h"
#include "common/strv.h"
#include "control/netmap/netmap.h"
#include "control/netmap/netmap_json.h"
#include "control/server/internal.h"
#include "control/server/tags.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base_netmap[] =
    "{\"version\":7,\"domain\":\"mesh.internal\",\"self\":{\"id\":1,\"node_key\":"
    "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\",\"addresses\":[\"100.64.0.1/32\"]},"
    "\"peers\":[{\"id\":2,\"node_key\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\","
    "\"addresses\":[\"100.64.0.2/32\"]}],\"filter\":[{\"srcs\":[\"100.64.0.2/32\"],"
    "\"dsts\":[\"100.64.0.1/32\"],\"ports\":[[22,22]],\"protos\":[6],\"section\":\"acls\","
    "\"index\":0}],\"ssh\":[]}";

/* control's side of a delta's filter (filter_refs.c): the bytes up to a newline as the
 * filter the node was sent, the rest as the new one; when both are JSON, what control writes
 * must resolve, on the node, to the new one. */
static void refs_round_trip(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (!nl)
		return;
	char *base = strndup((const char *)data, (size_t)(nl - data));
	char *filter = strndup((const char *)nl + 1, size - (size_t)(nl - data) - 1);
	json_t *jb = base ? json_loads(base, JSON_REJECT_DUPLICATES, NULL) : NULL;
	json_t *jf = filter ? json_loads(filter, JSON_REJECT_DUPLICATES, NULL) : NULL;
	struct pol_filter_rule **rules = NULL;
	size_t n_rules = 0;
	/* a filter of the encoders' shape (no "srcs" already an index) */
	if (jb && jf && ctl__filter_from_json(jf, &rules, &n_rules, NULL, 0) == 0) {
		struct sbuf b = { 0 };
		ctl__filter_refs_write(&b, base, filter);
		json_t *sent = b.oom ? NULL : json_loads(b.s, JSON_REJECT_DUPLICATES, NULL), *out;
		char err[256];
		if (!b.oom &&
		    (!sent || ctl__filter_refs_resolve(sent, jb, &out, err, sizeof(err)) ||
		     !json_equal(out, jf)))
			abort();
		if (sent)
			json_decref(out);
		json_decref(sent);
		free(b.s);
	}
	ctl__filter_free(rules, n_rules);
	json_decref(jb);
	json_decref(jf);
	free(base);
	free(filter);
}

/* The list form: sorted, no repeats, within the bounds. */
static void check_list(char **v, size_t n)
{
	if (n > CTL_TAGS_COUNT_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) > CTL_TAG_LEN_MAX || strncmp(v[i], "tag:", 4) != 0 ||
		    (i && strcmp(v[i - 1], v[i]) >= 0))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t spub[32], spriv[32], mpub[32], mpriv[32];
	static bool ready;
	if (!ready) {
		uint8_t seed[32] = { 1 };
		if (sodium_init() < 0)
			abort();
		crypto_box_seed_keypair(spub, spriv, seed);
		seed[0] = 2;
		crypto_box_seed_keypair(mpub, mpriv, seed);
		ready = true;
	}
	uint8_t mk[32], nonce[CTL_WIRE_NONCE_LEN];
	json_t *msg = NULL;
	bool authed;
	const char *why = NULL;

	/* 1. the bytes as they arrive */
	int st = ctl__node_decode(spriv, NULL, data, size, mk, nonce, &msg, &authed, &why);
	if ((st == 0) != (msg != NULL) || (st && !why))
		abort();
	json_decref(msg);

	/* 2. the bytes as the JSON inside a genuine envelope */
	uint8_t *body;
	size_t blen;
	if (ctl_wire_seal_request(spub, mpub, mpriv, 1, (const char *)data, size, &body, &blen,
				  nonce) == 0) {
		st = ctl__node_decode(spriv, NULL, body, blen, mk, nonce, &msg, &authed, &why);
		if (st != 0 && st != 400)
			abort();
		if (!authed || memcmp(mk, mpub, 32) != 0)
			abort();
		json_decref(msg);
		free(body);
	}

	/* 3. the bytes as a map message from control */
	char *nm = strdup(base_netmap);
	char err[256];
	if (nm && ctl_netmap_apply(&nm, (const char *)data, size, err, sizeof(err)) == 0) {
		struct ctl_netmap *parsed;
		if (ctl_netmap_parse(nm, strlen(nm), &parsed, err, sizeof(err)) != 0)
			abort(); /* apply must only ever leave a valid netmap behind */
		ctl_netmap_free(parsed);
	}
	free(nm);

	/* 4. the same, folded into both forms: the struct must be what the JSON decodes to */
	json_t *m = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *jnm = json_loads(base_netmap, 0, NULL);
	struct ctl_netmap *snm = NULL, *check = NULL;
	bool ka;
	if (m && jnm && ctl__netmap_from_json(jnm, &snm, err, sizeof(err)) == 0 &&
	    ctl__netmap_fold_both(&jnm, &snm, m, &ka, err, sizeof(err)) == 0) {
		if (ctl__netmap_from_json(jnm, &check, err, sizeof(err)) != 0 ||
		    check->version != snm->version || check->n_peers != snm->n_peers ||
		    check->n_filter != snm->n_filter || check->n_ssh != snm->n_ssh)
			abort();
		for (size_t i = 0; i < snm->n_peers; i++)
			if (check->peers[i].id != snm->peers[i].id ||
			    memcmp(check->peers[i].node_key, snm->peers[i].node_key, 32) != 0)
				abort();
	}
	ctl_netmap_free(check);
	ctl_netmap_free(snm);
	json_decref(jnm);

	/* 5. a register request's "tags", and the bytes as meshcontrol's --tags text: either
	 * gives the list form within the bounds of store.h */
	char **tags = NULL;
	size_t n = 0;
	json_t *t = json_object_get(m, "tags");
	if (t && ctl_tags_from_json(t, &tags, &n, err, sizeof(err)) == 0)
		check_list(tags, n);
	strv_free(tags, n);
	json_decref(m);
	char *text = strndup((const char *)data, size);
	if (text && ctl_tags_parse(text, &tags, &n, err, sizeof(err)) == 0) {
		check_list(tags, n);
		strv_free(tags, n);
	}
	free(text);

	/* 6. control's delta filter over the bytes as two filter texts */
	refs_round_trip(data, size);
	return 0;
}
