# Shell library for NAT labs (sourced after mesh-lab.sh and lab_init): an "internet" of
# namespaces with a TURN relay (Debian's coturn) and NAT boxes of each kind in front of
# hosts, all built with nftables in namespaces this lab makes (names carry $LAB_ID, the
# cleanup trap of mesh-lab.sh deletes them).
#
#   nat_internet                  the internet switch (198.18.0.0/24, RFC 2544 benchmark
#                                 space: never routed anywhere else)
#   nat_relay NAME                coturn's host on the internet: 198.18.0.10 and .11 (two
#                                 addresses, so RFC 5780 behaviour discovery works)
#   nat_public NAME               a host with a public address on the internet
#   nat_box NAME KIND             a NAT router: KIND easy (endpoint-independent mapping:
#                                 masquerade), hard (endpoint-dependent: masquerade
#                                 fully-random), tcp443 (only TCP to port 443 leaves);
#                                 each drops what arrives unsolicited on its WAN side
#   nat_host NAME BOX             a host on BOX's LAN, default route through BOX
#   nat_relay_start NAME          coturn on the relay, REST secret in $LAB/turn-secret,
#                                 UDP/TCP 3478 and TLS 443 (a certificate for its first
#                                 address and relay.lab from the lab's CA, $NAT_RELAY_CA),
#                                 relaying only between its own relay addresses
#
# Namespaces: NS_<name> (lab_ns), WAN/LAN address: IP_<name> (lab_ip).  Inside a box the
# interfaces are "wan" and "lan".

NAT_NET=198.18.0
NAT_RELAY_IPS="$NAT_NET.10 $NAT_NET.11"

_nat_ns_new() { # _nat_ns_new NAME: a namespace with lo up; sets NS_<name>
	local ns="n${1:0:6}$LAB_ID"
	lab_netns_add "$ns" || return 1
	ip -n "$ns" link set lo up
	eval "NS_${1//-/_}=$ns"
}

_nat_wan() { # _nat_wan NAME ADDR...: NAME's "wan" on the internet switch
	local n=$1 ns port
	shift
	ns=$(lab_ns "$n")
	NAT_PORTS=$((${NAT_PORTS:-0} + 1))
	port=w$NAT_PORTS
	ip link add wan netns "$ns" type veth peer name "$port" netns "$NAT_SW" || return 1
	ip -n "$NAT_SW" link set "$port" master br0 up
	local a
	for a in "$@"; do ip -n "$ns" addr add "$a/24" dev wan; done
	ip -n "$ns" link set wan up
	eval "IP_${n//-/_}=$1"
}

nat_internet() {
	NAT_SW="nsw$LAB_ID"
	lab_netns_add "$NAT_SW" || return 1
	ip -n "$NAT_SW" link add br0 type bridge
	ip -n "$NAT_SW" link set br0 up
	NAT_NEXT_PUBLIC=30
	NAT_NEXT_LAN=1
}

nat_relay() {
	_nat_ns_new "$1" && _nat_wan "$1" $NAT_RELAY_IPS
	NAT_RELAY=$1
}

nat_public() {
	_nat_ns_new "$1" && _nat_wan "$1" "$NAT_NET.$NAT_NEXT_PUBLIC"
	NAT_NEXT_PUBLIC=$((NAT_NEXT_PUBLIC + 1))
}

nat_box() { # nat_box NAME KIND
	local n=$1 kind=$2 ns masq through
	_nat_ns_new "$n" && _nat_wan "$n" "$NAT_NET.$NAT_NEXT_PUBLIC" || return 1
	NAT_NEXT_PUBLIC=$((NAT_NEXT_PUBLIC + 1))
	ns=$(lab_ns "$n")
	local k=$NAT_NEXT_LAN
	NAT_NEXT_LAN=$((k + 1))
	eval "NAT_LAN_${n//-/_}=10.$k.0"
	eval "NAT_HOSTS_${n//-/_}=1"
	ip -n "$ns" link add lan type bridge
	ip -n "$ns" addr add "10.$k.0.1/24" dev lan
	ip -n "$ns" link set lan up
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
	case $kind in
	easy) masq=masquerade through='iifname "wan" drop' ;;
	hard) masq='masquerade fully-random' through='iifname "wan" drop' ;;
	tcp443) masq=masquerade through='oifname "wan" tcp dport 443 accept
		drop' ;;
	*) echo "nat_box: unknown kind '$kind' (easy, hard, tcp443)" >&2; return 1 ;;
	esac
	# Unsolicited packets to the box itself are dropped too: otherwise a punch packet
	# that reaches the box makes Linux remap the port, which real routers do not do.
	ip netns exec "$ns" nft -f - << NFT
table ip natlab {
	chain post {
		type nat hook postrouting priority 100;
		oifname "wan" $masq
	}
	chain inbound {
		type filter hook input priority 0;
		iifname "wan" ct state established,related accept
		iifname "wan" drop
	}
	chain through {
		type filter hook forward priority 0;
		ct state established,related accept
		$through
	}
}
NFT
}

nat_host() { # nat_host NAME BOX
	local n=$1 box=$2 ns bns lan i
	_nat_ns_new "$n" || return 1
	ns=$(lab_ns "$n")
	bns=$(lab_ns "$box")
	local v="NAT_LAN_${box//-/_}" c="NAT_HOSTS_${box//-/_}"
	lan=${!v}
	i=$((${!c} + 1))
	eval "NAT_HOSTS_${box//-/_}=$i"
	ip link add eth0 netns "$ns" type veth peer name "h$i" netns "$bns" || return 1
	ip -n "$bns" link set "h$i" master lan up
	ip -n "$ns" addr add "$lan.$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$lan.1"
	eval "IP_${n//-/_}=$lan.$i"
}

nat_relay_start() { # nat_relay_start NAME
	local n=$1 a listen=""
	head -c 24 /dev/urandom | base64 > "$LAB/turn-secret"
	lab_tls_cert relay "${NAT_RELAY_IPS%% *}" relay.lab || return 1
	NAT_RELAY_CA=$LAB/tls/ca.pem
	for a in $NAT_RELAY_IPS; do listen+="listening-ip=$a"$'\n'"relay-ip=$a"$'\n'; done
	# The secret stays out of argv (ps shows argv to every local user).
	(umask 077 && cat > "$LAB/turnserver.conf") << CONF
$listen
listening-port=3478
tls-listening-port=443
alt-tls-listening-port=5349
cert=$LAB/tls/relay.pem
pkey=$LAB/tls/relay.key
realm=mesh.lab
use-auth-secret
static-auth-secret=$(cat "$LAB/turn-secret")
fingerprint
no-cli
no-dtls
no-multicast-peers
no-tcp-relay
denied-peer-ip=0.0.0.0-255.255.255.255
denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
$(for a in $NAT_RELAY_IPS; do echo "allowed-peer-ip=$a"; done)
pidfile=$LAB/turnserver.pid
log-file=stdout
simple-log
CONF
	lab_bg "$n" turnserver turnserver -c "$LAB/turnserver.conf"
	NAT_RELAY_PID=$LAB_LAST_PID
	wait_until 10 bash -c "ip netns exec $(lab_ns "$n") ss -Hltn 'sport = :443' | grep -q ."
}

# ---- a tailnet on the fabric (for benchmarks and labs that need only the usual setup) ----

# nat_tailnet CTL: coturn on the relay host (nat_relay_start), meshcontrol on CTL handing out
# both relay addresses over UDP, a policy under which every node reaches every port of every
# other and tag:n nodes log in to each other as vinay (lab_users vinay:UID first), and a
# reusable auth key for tag:n in $LAB/authkey (0600, read by meshd through file:).
nat_tailnet() {
	local mc=$LAB_BUILD/cmd/meshcontrol r1=${NAT_RELAY_IPS%% *} r2=${NAT_RELAY_IPS##* } key
	nat_relay_start "$NAT_RELAY" || {
		echo "coturn did not start: $(tail -5 "$LAB/turnserver.log")" >&2
		return 1
	}
	(umask 077 && cp "$LAB/turn-secret" "$LAB/relay-secret")
	echo 'correct horse battery' | "$mc" -s "$LAB/control" user add alice@example.com > /dev/null
	lab_control_start "$1" --relay "turn:$r1:3478,turn:$r2:3478${NAT_MORE_RELAYS:+,$NAT_MORE_RELAYS}" \
		--relay-secret-file "$LAB/relay-secret" || {
		echo "meshcontrol did not start: $(tail -5 "$LAB/meshcontrol.log")" >&2
		return 1
	}
	printf '%s\n' '{"tagOwners": {"tag:n": ["alice@example.com"]},' \
		' "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],' \
		' "ssh": [{"action": "accept", "src": ["tag:n"], "dst": ["tag:n"], "users": ["vinay"]}]}' \
		> "$LAB/policy.hujson"
	lab_admin PUT policy --data-binary @"$LAB/policy.hujson" > /dev/null || {
		echo "policy set: $(cat "$LAB/admin.body")" >&2
		return 1
	}
	key=$("$mc" -s "$LAB/control" authkey create --user alice@example.com --tags tag:n \
		--reusable | tail -n 1) || return 1
	(umask 077 && printf '%s\n' "$key" > "$LAB/authkey")
}

# nat_pass_control BOX CTL: a tcp443 BOX lets control's port 8080 on CTL through too (a real
# 443-only network would have control on 443 as well); UDP and every other port stay shut.
nat_pass_control() {
	ip netns exec "$(lab_ns "$1")" nft insert rule ip natlab through ip daddr "$(lab_ip "$2")" \
		tcp dport 8080 accept
}

# nat_meshd NODE ARGS...: meshd on NODE joining the tailnet of nat_tailnet with its auth key, as
# NODE, WireGuard on UDP $NAT_MESHD_PORT (default 41641), UAPI socket in its state dir; ARGS
# say the mode (--tun=NAME or --tun=userspace) and anything else.  Sets PID_<node>; returns
# once its socket is there.
nat_meshd() {
	local n=$1
	shift
	lab_bg "$n" "meshd-$n" "$LAB_BUILD/cmd/meshd" --state-dir "$LAB/state-$n" \
		--socket "$LAB/$n.sock" --port="${NAT_MESHD_PORT:-41641}" --uapi-dir="$LAB/state-$n" \
		--login-server "$CTL_URL" --ca-file "$CTL_CA" --authkey "file:$LAB/authkey" \
		--hostname "$n" ${LAB_DEBUG:+--log-level=debug} "$@"
	eval "PID_${n//-/_}=$LAB_LAST_PID"
	wait_until 10 test -S "$LAB/$n.sock"
}

# nat_path NODE PEER: NODE's path to PEER as `meshctl status --json` gives it ('direct
# ADDR:PORT', 'relay URI (udp)' or 'none'); nothing when PEER is not in its netmap.
nat_path() {
	lab_ctl "$1" status --json 2> /dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin).get("peers") or []:
    if p.get("name") == sys.argv[1]:
        print(p.get("path", ""))' "$2"
}

# nat_move NAME BOX: host NAME leaves its LAN for BOX's (a laptop carried to another
# network): its link is deleted and a new one made on BOX's LAN, with a new address there
# and the default route through BOX.  Its processes and sockets stay.
nat_move() {
	local n=$1 box=$2 ns
	ns=$(lab_ns "$n")
	ip -n "$ns" link del eth0 || return 1
	local v="NAT_LAN_${box//-/_}" c="NAT_HOSTS_${box//-/_}" lan i
	lan=${!v}
	i=$((${!c} + 1))
	eval "NAT_HOSTS_${box//-/_}=$i"
	ip link add eth0 netns "$ns" type veth peer name "h$i" netns "$(lab_ns "$box")" || return 1
	ip -n "$(lab_ns "$box")" link set "h$i" master lan up
	ip -n "$ns" addr add "$lan.$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$lan.1"
	eval "IP_${n//-/_}=$lan.$i"
}

# nat_mesh CTL NODE...: meshcontrol on the public host CTL handing out both relay addresses
# (coturn must be running), user alice@example.com, a policy where tag:n nodes reach each
# other and may log in as vinay (lab_users vinay:3301 first), and meshd on each NODE
# (userspace, port 41641, socket $LAB/NODE.sock, log $LAB/meshd-NODE.log) with one tag:n
# key; 0 when every node sees all the others online.
nat_mesh() {
	local ctl=$1 mc=$LAB_BUILD/cmd/meshcontrol n key want
	shift
	(umask 077 && cp "$LAB/turn-secret" "$LAB/relay-secret")
	echo 'correct horse battery' | "$mc" -s "$LAB/control" user add alice@example.com > /dev/null
	lab_control_start "$ctl" --relay "turn:${NAT_RELAY_IPS%% *}:3478,turn:${NAT_RELAY_IPS##* }:3478${NAT_MORE_RELAYS:+,$NAT_MORE_RELAYS}" \
		--relay-secret-file "$LAB/relay-secret" || return 1
	cat > "$LAB/policy.hujson" << 'POL'
{"tagOwners": {"tag:n": ["alice@example.com"]},
 "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
 "ssh": [{"action": "accept", "src": ["tag:n"], "dst": ["tag:n"], "users": ["vinay"]}]}
POL
	lab_admin PUT policy --data-binary @"$LAB/policy.hujson" > /dev/null || return 1
	key=$("$mc" -s "$LAB/control" authkey create --user alice@example.com --tags tag:n --reusable | tail -n 1)
	for n in "$@"; do
		(umask 077 && printf '%s\n' "$key" > "$LAB/$n.authkey")
		lab_bg "$n" "meshd-$n" "$LAB_BUILD/cmd/meshd" --state-dir "$LAB/state-$n" \
			--socket "$LAB/$n.sock" --tun=userspace --port=41641 --uapi-dir="$LAB/state-$n" \
			--login-server "$CTL_URL" --ca-file "$CTL_CA" --authkey "file:$LAB/$n.authkey" \
			--hostname "$n" ${LAB_DEBUG:+--log-level=debug} ${NAT_TLS_NODES:+$(
				case " $NAT_TLS_NODES " in *" $n "*) echo "--relay-ca-file=$NAT_RELAY_CA" ;; esac)}
	done
	want=$(($# - 1))
	for n in "$@"; do
		wait_until 30 nat_online "$n" "$want" || return 1
	done
}
nat_online() { [ "$(lab_ctl "$1" status 2> /dev/null | grep -c ' online')" = "$2" ]; }

# nat_peer_line NODE PEER: PEER's line in NODE's `meshctl status` (name: second column)
nat_peer_line() { lab_ctl "$1" status 2> /dev/null | awk -v p="$2" '$2 == p'; }
# nat_path_is NODE PEER TEXT: NODE's path to PEER starts with TEXT
nat_path_is() { nat_peer_line "$1" "$2" | grep -qF ", path $3"; }
# nat_eps NODE: the endpoints control has for NODE, on one line
nat_eps() {
	lab_admin GET nodes | python3 -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n.get("name") == sys.argv[1]:
        print(" ".join(n.get("endpoints") or []))' "$1"
}
# nat_has_ep NODE REGEX: one of them matches
nat_has_ep() { nat_eps "$1" | grep -qE "$2"; }
# nat_ssh_ok FROM TO: a real SSH session over the tailnet as vinay on TO (counts ok/FAIL)
nat_ssh_ok() {
	local out
	out=$(LAB_CTL_TIMEOUT=${NAT_SSH_TIMEOUT:-40} lab_ctl "$1" ssh vinay@"$2" 'echo over-$(hostname)-as-$(id -un)' 2>&1)
	expect_has "SSH $1 -> $2 works" "$out" "-as-vinay"
}

# nat_relay_restart NAME: coturn stopped and started again with the same configuration
# (it forgets every allocation, permission and channel)
nat_relay_restart() {
	lab_stop "$NAT_RELAY_PID"
	lab_bg "$1" turnserver turnserver -c "$LAB/turnserver.conf"
	NAT_RELAY_PID=$LAB_LAST_PID
	wait_until 10 bash -c "ip netns exec $(lab_ns "$1") ss -Hlun 'sport = :3478' | grep -q ."
}

# nat_relay_line NODE: the "# relay:" line of NODE's `meshctl status` (its allocation)
nat_relay_line() { lab_ctl "$1" status 2> /dev/null | grep '^# relay:'; }

# nat_within SECONDS COMMAND...: as wait_until, but against the wall clock (wait_until counts
# polls, and a poll that runs meshctl takes longer than its 0.1 s), for checks of how soon
nat_within() {
	local end=$((SECONDS + $1))
	shift
	while ((SECONDS < end)); do
		"$@" > /dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
