# Shared by tests/lab/netstack-intercept and tests/bench/netstack-throughput (sourced, not
# run): two namespaces joined by a veth pair, wireguard-go in the "peer" namespace, and
# start_node/stop_node for our node (tests/lab/netstack/ns-node) in the "server" one.
# The caller sets: name (log prefix) and then calls ns_setup; it needs root.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=${MESH_BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
node=$build/tests/lab/netstack/ns-node
tcptool=$top/tests/lab/netstack/tcptool.py
py=/usr/bin/python3

skip() { echo "$*"; exit 77; }
ns_require() {
	[ "$(id -u)" = 0 ] || skip "skip: needs root (network namespaces)"
	[ -x "$node" ] || skip "skip: $node not built"
	local tool
	for tool in wireguard-go wg ip "$@"; do
		command -v "$tool" >/dev/null || skip "skip: $tool not installed (tools/deps/netstack.txt)"
	done
	[ -c /dev/net/tun ] || skip "skip: no /dev/net/tun"
}

id=$$
nsS=nsiS$id # server: our node (and the kernel services)
nsP=nsiP$id # peer: wireguard-go
ifS=nsn$id  # our node's UAPI name
ifP=nsp$id  # wireguard-go
tunS=nst$id # our node's TUN
tmp=$(mktemp -d /tmp/netstack-lab.XXXXXX)
pids=()
failures=0
t_start=$(date +%s)

cleanup() {
	local p ns
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	# Whatever still runs inside our own namespaces was started by this test.
	for ns in "$nsS" "$nsP"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "$nsS" "$nsP"; do
		for ((i = 0; i < 30; i++)); do
			[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
			sleep 0.1
		done
	done
	ip netns del "$nsS" 2>/dev/null
	ip netns del "$nsP" 2>/dev/null
	rm -f "/var/run/wireguard/$ifS.sock" "/var/run/wireguard/$ifP.sock"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

S() { ip netns exec "$nsS" "$@"; }
P() { ip netns exec "$nsP" "$@"; }
# bg NS CMD...: runs CMD in namespace NS in the background, remembered for cleanup (no
# subshell in between, so the pid is the command's own).
bg() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@" &
	pids+=($!)
}
log() { echo "$name: $*"; }
fail() {
	log "FAIL: $*"
	failures=$((failures + 1))
}
wait_until() {
	local n=$1
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# ns_setup: namespaces, veth (server 192.168.242.1, peer .2), wireguard-go with
# 100.64.0.2 and fd7a:115c:a1e0::2 routing the tailnet prefixes into the tunnel.
ns_setup() {
	ip netns add "$nsS" || exit 1
	ip netns add "$nsP" || exit 1
	S ip link set lo up
	P ip link set lo up
	ip link add vS$id netns "$nsS" type veth peer name vP$id netns "$nsP" || exit 1
	S ip addr add 192.168.242.1/24 dev vS$id
	P ip addr add 192.168.242.2/24 dev vP$id
	S ip link set vS$id up
	P ip link set vP$id up
	(umask 077 && wg genkey >"$tmp/s.key" && wg genkey >"$tmp/p.key")
	pubS=$(wg pubkey <"$tmp/s.key")
	pubP=$(wg pubkey <"$tmp/p.key")
	LOG_LEVEL=error bg "$nsP" wireguard-go -f "$ifP" >"$tmp/wggo.log" 2>&1
	wait_until 50 test -S "/var/run/wireguard/$ifP.sock" || { log "wireguard-go did not start"; exit 1; }
	P ip addr add 100.64.0.2/32 dev "$ifP"
	P ip addr add fd7a:115c:a1e0::2/128 dev "$ifP"
	P ip link set "$ifP" mtu 1280 up
	P ip route add 100.64.0.0/10 dev "$ifP"
	P ip route add fd7a:115c:a1e0::/48 dev "$ifP"
	P wg set "$ifP" private-key "$tmp/p.key" listen-port 51821
}

# peer_fresh: (re)adds our node on wireguard-go, dropping any session with an earlier node
# process so the next packet starts a handshake at once (instead of after REKEY_TIMEOUT).
peer_fresh() {
	P wg set "$ifP" peer "$pubS" remove
	P wg set "$ifP" peer "$pubS" allowed-ips 100.64.0.1/32,fd7a:115c:a1e0::1/128 \
		endpoint 192.168.242.1:51820
}

# start_node OPTIONS...: starts our node in the server namespace, configures it with wg.
start_node() {
	: >"$tmp/node.out"
	ip netns exec "$nsS" "$node" --name "$ifS" --listen-port 51820 --addr4 100.64.0.1/32 \
		--addr6 fd7a:115c:a1e0::1/128 "$@" >"$tmp/node.out" 2>>"$tmp/node.log" &
	nodepid=$!
	pids+=("$nodepid")
	wait_until 50 grep -q ready "$tmp/node.out" || { log "node did not start"; cat "$tmp/node.log"; exit 1; }
	S wg set "$ifS" private-key "$tmp/s.key" \
		peer "$pubP" allowed-ips 100.64.0.2/32,fd7a:115c:a1e0::2/128 endpoint 192.168.242.2:51821
	peer_fresh
}
stop_node() {
	kill -TERM "$nodepid"
	wait "$nodepid"
	local rc=$?
	[ $rc = 0 ] || fail "node exited with $rc"
}
