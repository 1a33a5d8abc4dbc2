#!/usr/bin/env bash
# meshctl policy check/explain: exact output and exit status a user sees.
# Usage: test_meshctl.sh MESHCTL DATA_DIR
set -u
meshctl=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

expect() { # name, want_rc, want_output, command...
	local name=$1 want_rc=$2 want=$3
	shift 3
	local got rc
	got=$("$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want_rc" ] || [ "$got" != "$want" ]; then
		echo "FAIL $name: rc $rc (want $want_rc)"
		diff <(echo "$want") <(echo "$got") | sed 's/^/    /'
		fail=1
	else
		echo "ok   $name"
	fi
}

p=$data/policy.hujson
t=$data/topology.json
expect check-no-topology 0 "$p: ok: 1 acls, 0 grants, 2 ssh rules, 1 tests, 1 sshTests; tests not run (give --topology)" \
	"$meshctl" policy check "$p"
expect check-topology 0 "$p: ok: 1 acls, 0 grants, 2 ssh rules, 1 tests, 1 sshTests; tests pass on 3 nodes" \
	"$meshctl" policy check "$p" --topology "$t"
expect explain-check 0 'ssh alice-laptop (100.64.0.1) -> web (100.64.0.3) as "root": check
  login:  root
  rule:   ssh[0] {"action":"check","src":["alice@example.com"],"dst":["tag:server"],"users":["root"]}
  why:    check by ssh[0]: the source is among its principals and it maps "root" to local user "root"; the source'"'"'s owner must re-authenticate every 12h' \
	"$meshctl" policy explain "$p" --topology "$t" --src alice-laptop --dst web --user root
expect explain-user-refused 1 'ssh bob-laptop (100.64.0.2) -> web (100.64.0.3) as "root": reject
  why:    rejected: the source node may connect (ssh[1] lists it) but no rule allows user "root" (ssh[1] allows any user except root)' \
	"$meshctl" policy explain "$p" --topology "$t" --src bob-laptop --dst web --user root
expect explain-node-refused 1 'ssh web (100.64.0.3) -> bob-laptop (100.64.0.2) as "bob": reject
  why:    rejected: the destination has no SSH rules (no ssh rule selects it as dst)' \
	"$meshctl" policy explain "$p" --topology "$t" --src web --dst 100.64.0.2 --user bob
expect explain-port-accept 0 'packet bob-laptop (100.64.0.2) -> web (100.64.0.3) 443/tcp: accept
  rule:   acls[0] {"action":"accept","src":["group:dev"],"dst":["tag:server:22,443"]}
  why:    accepted by acls[0]: its sources include the source address and it allows tcp port 443 to this destination' \
	"$meshctl" policy explain "$p" --topology "$t" --src bob-laptop --dst web --port 443/tcp
expect explain-port-drop 1 'packet bob-laptop (100.64.0.2) -> web (100.64.0.3) 80/tcp: drop
  why:    dropped: acls[0] admits this source to this destination, but only for tcp/udp/icmp/icmpv6 ports 22, 443, not tcp port 80' \
	"$meshctl" policy explain "$p" --topology "$t" --src bob-laptop --dst web --port 80/tcp
expect explain-bad-port 2 "meshctl policy explain: --port 'http': want PORT/PROTO such as 443/tcp, 53/udp or icmp" \
	"$meshctl" policy explain "$p" --topology "$t" --src bob-laptop --dst web --port http
expect explain-unknown-node 1 "$t: no node named 'nope'" \
	"$meshctl" policy explain "$p" --topology "$t" --src nope --dst web --user root

sed 's/"deny": \["root"\]/"deny": ["deploy"]/' "$p" > "$tmp/failing.hujson"
expect check-failing-test 1 "sshTests[0]: src \"bob@example.com\" to web as \"deploy\": want deny, got accept
$tmp/failing.hujson: refused: 1 test assertion(s) failed" \
	"$meshctl" policy check "$tmp/failing.hujson" --topology "$t"
printf '{\n "acls": [\n  {"action": "accept" "src": ["*"]}]}' > "$tmp/syntax.hujson"
expect check-syntax 1 "$tmp/syntax.hujson: line 3, column 27: '}' expected near '\"src\"'" \
	"$meshctl" policy check "$tmp/syntax.hujson"
printf '{"ssh": [{"action": "deny", "src": ["*"], "dst": ["autogroup:self"], "users": ["root"]}]}' > "$tmp/deny.hujson"
expect check-invalid 1 "$tmp/deny.hujson: ssh[0]: \"deny\" is not a valid action" \
	"$meshctl" policy check "$tmp/deny.hujson"
expect usage 2 "meshctl policy explain: needs --topology, --src, --dst and at most one of --user or --port" \
	"$meshctl" policy explain "$p" --topology "$t" --src web
expect explain-summary 0 'access alice-laptop (100.64.0.1) -> web (100.64.0.3):
  packets: acls[0] allows tcp/udp/icmp/icmpv6 ports 22, 443
  ssh:     ssh[0] check as root
  ssh:     ssh[1] accept as any user except root' \
	"$meshctl" policy explain "$p" --topology "$t" --src alice-laptop --dst web
expect explain-summary-none 0 'access web (100.64.0.3) -> alice-laptop (100.64.0.1):
  packets: none of the destination'"'"'s 0 rule(s) admits this source
  ssh:     no rule admits this source' \
	"$meshctl" policy explain "$p" --topology "$t" --src web --dst alice-laptop
# session recording (#18): the recorders a tag resolves to, lowest first, and enforcement
cat > "$tmp/rec.hujson" << 'POL'
{"tagOwners": {"tag:server": ["alice@example.com"]},
 "acls": [{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:server:22"]}],
 "ssh": [{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:server"], "users": ["deploy"],
          "recorder": ["tag:server"], "enforceRecorder": true}]}
POL
expect explain-record 0 'ssh alice-laptop (100.64.0.1) -> web (100.64.0.3) as "deploy": accept
  login:  deploy
  record: recorded to 100.64.0.3 (enforced: refused or ended when no recorder takes it; no port or agent forwarding)
  rule:   ssh[0] {"action":"accept","src":["alice@example.com"],"dst":["tag:server"],"users":["deploy"],"recorder":["tag:server"],"enforceRecorder":true}
  why:    accepted by ssh[0]: the source is among its principals and it maps "deploy" to local user "deploy"' \
	"$meshctl" policy explain "$tmp/rec.hujson" --topology "$t" --src alice-laptop --dst web --user deploy
expect explain-summary-record 0 'access alice-laptop (100.64.0.1) -> web (100.64.0.3):
  packets: acls[0] allows tcp/udp/icmp/icmpv6 port 22
  ssh:     ssh[0] accept as deploy
           recorded to 100.64.0.3 (enforced: refused or ended when no recorder takes it; no port or agent forwarding)' \
	"$meshctl" policy explain "$tmp/rec.hujson" --topology "$t" --src alice-laptop --dst web
# provider groups (#17): oidc:eng members from the topology's oidc_groups, and where each
# member came from
cat > "$tmp/idp.hujson" << 'POL'
{"groups": {"group:eng": ["carol@example.com", "oidc:eng"]},
 "tagOwners": {"tag:server": []},
 "ssh": [{"action": "accept", "src": ["group:eng"], "dst": ["tag:server"], "users": ["deploy"]}],
 "sshTests": [{"src": "alice@example.com", "dst": ["tag:server"], "accept": ["deploy"]}]}
POL
cat > "$tmp/idp.json" << 'TOPO'
{"users": [{"email": "alice@example.com", "oidc_groups": ["eng", "ops"], "oidc_login": "2026-12-06T21:03:00Z"},
           {"email": "bob@example.com", "oidc_groups": ["Eng"], "oidc_login": "2026-12-06T20:00:00Z"},
           {"email": "carol@example.com"}],
 "nodes": {"alice-laptop": {"user": "alice@example.com", "ipv4": "100.64.0.1"},
           "bob-laptop": {"user": "bob@example.com", "ipv4": "100.64.0.2"},
           "web": {"tags": ["tag:server"], "ipv4": "100.64.0.3"}}}
TOPO
expect check-idp 0 "$tmp/idp.hujson: ok: 0 acls, 0 grants, 1 ssh rules, 0 tests, 1 sshTests (no acls or grants: all traffic allowed); tests pass on 3 nodes
  member: alice@example.com: group:eng via the provider's group eng, at the login of 2026-12-06 21:03 UTC" \
	"$meshctl" policy check "$tmp/idp.hujson" --topology "$tmp/idp.json"
expect explain-idp 0 'ssh alice-laptop (100.64.0.1) -> web (100.64.0.3) as "deploy": accept
  login:  deploy
  rule:   ssh[0] {"action":"accept","src":["group:eng"],"dst":["tag:server"],"users":["deploy"]}
  why:    accepted by ssh[0]: the source is among its principals and it maps "deploy" to local user "deploy"
  groups: alice@example.com: group:eng via the provider'"'"'s group eng, at the login of 2026-12-06 21:03 UTC' \
	"$meshctl" policy explain "$tmp/idp.hujson" --topology "$tmp/idp.json" --src alice-laptop --dst web --user deploy
expect explain-idp-case 1 'ssh bob-laptop (100.64.0.2) -> web (100.64.0.3) as "deploy": reject
  why:    rejected: the source node is not a principal of any of the destination'"'"'s 1 SSH rule(s)' \
	"$meshctl" policy explain "$tmp/idp.hujson" --topology "$tmp/idp.json" --src bob-laptop --dst web --user deploy
sed 's/"oidc:eng"/"oidc:"/' "$tmp/idp.hujson" > "$tmp/idp-bad.hujson"
expect check-idp-bad 1 "$tmp/idp-bad.hujson: groups[\"group:eng\"]: \"oidc:\": a provider group needs a name after 'oidc:'" \
	"$meshctl" policy check "$tmp/idp-bad.hujson"
"$meshctl" policy --help | grep -q '^Usage: meshctl policy check FILE' || { echo "FAIL help"; fail=1; }
"$meshctl" --help | grep -q '^  policy ' || { echo "FAIL verb listed"; fail=1; }
exit $fail
