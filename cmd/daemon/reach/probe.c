/* The STUN probes of our own mapping (see internal.h): a Binding request to every
 * relay address from the shared socket, resent a bounded number of times; answers matched
 * by transaction id; and the verdict: when at least two addresses answered and all saw the
 * same address and port, the mapping is endpoint-independent and the reflexive address is
 * published; otherwise (a hard NAT) it is not.  Only answers to what we asked are taken. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/daemon/reach/internal.h"

static const char *const subject = "reach";

void meshd__probe_set_relays(struct meshd_reach *r, const struct ctl_netmap *nm, uint64_t now)
{
	r->n_probe_urls = 0;
	for (size_t i = 0; i < nm->n_relays && i < CTL_RELAYS_MAX; i++)
		if (nm->relays[i].url.transport == CTL_RELAY_UDP) /* STUN Binding over UDP only */
			r->probe_urls[r->n_probe_urls++] = nm->relays[i].url;
	meshd__probe_retarget(r, now);
}

void meshd__probe_retarget(struct meshd_reach *r, uint64_t now)
{
	struct probe probes[CTL_RELAYS_MAX];
	size_t n = 0;
	for (size_t i = 0; i < r->n_probe_urls; i++) {
		memset(&probes[n], 0, sizeof(probes[n]));
		if (meshd__relay_addr(r, &r->probe_urls[i], &probes[n].to) == 0)
			n++;
	}
	bool changed = n != r->n_probes;
	for (size_t i = 0; i < n && !changed; i++)
		changed = !meshd__same(&probes[i].to, &r->probes[i].to);
	if (changed) {
		memcpy(r->probes, probes, n * sizeof(probes[0]));
		r->n_probes = n;
		meshd__probe_round(r, now);
	}
}

void meshd__probe_round(struct meshd_reach *r, uint64_t now)
{
	r->probe_round_ms = now;
	for (size_t i = 0; i < r->n_probes; i++) {
		struct probe *pr = &r->probes[i];
		randombytes_buf(pr->txid, sizeof(pr->txid));
		pr->sends = 0;
		pr->next_ms = now;
		pr->answered = false;
	}
}

static void probe_send(struct meshd_reach *r, uint64_t now)
{
	for (size_t i = 0; i < r->n_probes; i++) {
		struct probe *pr = &r->probes[i];
		if (pr->answered || pr->sends >= PROBE_SENDS || pr->next_ms > now)
			continue;
		uint8_t buf[64];
		struct nat_stun_builder b;
		nat_stun_build_begin(&b, buf, sizeof(buf), NAT_STUN_BINDING, NAT_STUN_REQUEST,
				     pr->txid);
		int n = nat_stun_build_end(&b, NULL, 0, true);
		if (n > 0)
			meshd__send_to(r, &pr->to, buf, (size_t)n);
		pr->sends++;
		pr->next_ms = now + PROBE_RTO_MS;
	}
}

/* The mapping is endpoint-independent when at least two relay addresses answered and all
 * saw the same address and port; only then is the reflexive address worth publishing. */
static void probe_judge(struct meshd_reach *r)
{
	const struct sockaddr_storage *first = NULL;
	size_t answered = 0;
	bool same_all = true;
	for (size_t i = 0; i < r->n_probes; i++) {
		if (!r->probes[i].answered)
			continue;
		answered++;
		if (!first)
			first = &r->probes[i].seen;
		else if (!meshd__same(first, &r->probes[i].seen))
			same_all = false;
	}
	bool eim = answered >= 2 && same_all;
	if (eim != r->eim || (eim && !meshd__same(&r->reflexive, first))) {
		char a[80];
		nat_sockaddr_format(first ? first : &r->reflexive, a, sizeof(a));
		if (eim)
			log_info(subject, "mapping endpoint-independent: publishing %s", a);
		else if (answered >= 2)
			log_info(subject,
				 "mapping varies by destination (a hard NAT): %s is not "
				 "published",
				 a);
		r->eim = eim;
		if (eim)
			r->reflexive = *first;
		meshd__publish(r);
	}
}

bool meshd__probe_answer(struct meshd_reach *r, const uint8_t *buf, size_t len,
			 const struct sockaddr *src)
{
	for (size_t i = 0; i < r->n_probes; i++) {
		struct probe *pr = &r->probes[i];
		if (memcmp(buf + 8, pr->txid, NAT_STUN_TXID) != 0 ||
		    !nat_sockaddr_equal(&pr->to, src))
			continue;
		struct nat_stun_msg m;
		char err[160];
		if (nat_stun_parse(buf, len, &m, err, sizeof(err)) != 0 ||
		    m.method != NAT_STUN_BINDING || m.cls != NAT_STUN_SUCCESS ||
		    nat_stun_check_fingerprint(&m) == -EBADMSG)
			return false;
		if (nat_stun_get_addr(&m, NAT_STUN_XOR_MAPPED_ADDRESS, &pr->seen, err,
				      sizeof(err)) != 0 &&
		    nat_stun_get_addr(&m, NAT_STUN_MAPPED_ADDRESS, &pr->seen, err, sizeof(err)) !=
			0)
			return false;
		pr->answered = true;
		pr->heard_ms = uv_now(r->loop);
		bool all = true; /* judged once the round is over: not on half of it */
		for (size_t k = 0; k < r->n_probes; k++)
			all = all && r->probes[k].answered;
		if (all)
			probe_judge(r);
		return true;
	}
	return false;
}

bool meshd__probe_heard(const struct meshd_reach *r, const struct sockaddr_storage *to,
			uint64_t since)
{
	for (size_t i = 0; i < r->n_probes; i++)
		if (r->probes[i].heard_ms && r->probes[i].heard_ms >= since &&
		    meshd__same(&r->probes[i].to, to))
			return true;
	return false;
}

void meshd__probe_timer(struct meshd_reach *r, uint64_t now)
{
	if (r->n_probes && now >= r->probe_round_ms + PROBE_EVERY_MS)
		meshd__probe_round(r, now);
	probe_send(r, now);
	bool round_over = true;
	for (size_t i = 0; i < r->n_probes; i++)
		if (!r->probes[i].answered &&
		    (r->probes[i].sends < PROBE_SENDS || r->probes[i].next_ms > now))
			round_over = false;
	if (round_over)
		probe_judge(r);
}

uint64_t meshd__probe_next(const struct meshd_reach *r)
{
	uint64_t next = UINT64_MAX;
	for (size_t i = 0; i < r->n_probes; i++) {
		const struct probe *pr = &r->probes[i];
		if (!pr->answered && pr->sends < PROBE_SENDS && pr->next_ms < next)
			next = pr->next_ms;
	}
	if (r->n_probes && r->probe_round_ms + PROBE_EVERY_MS < next)
		next = r->probe_round_ms + PROBE_EVERY_MS;
	return next;
}
