# Shell library for whole-system lab tests and the demo (sourced, not run).
#
#   lab_init NAME            temp dir, counters, cleanup trap; call first (as root, after
#                            lab_enter_mount_ns when test users are needed)
#   lab_users NAME:UID ...   private passwd/group/shadow/pam.d copies with these users,
#                            bind-mounted in this process's mount namespace
#   lab_lan NODE...          one namespace per node on a private bridge, 10.231.0.N/24
#   lab_tls_cert NAME HOST.. a server certificate for HOSTs (IPs or names) from the lab's own
#                            CA: $LAB/tls/NAME.pem and NAME.key (0600); the CA is
#                            $LAB/tls/ca.pem (made on first use; its key stays in $LAB/tls)
#   lab_tls_spki NAME        base64 SHA-256 of that certificate's public key (what Chromium's
#                            --ignore-certificate-errors-spki-list pins)
#   lab_control_start        meshcontrol over HTTPS in the first node's namespace (sets
#                            CTL_URL, CTL_CA; exports MESH_CA_FILE for meshctl's admin verbs)
#   lab_meshd NODE ARGS...   meshd in NODE's namespace (socket $LAB/NODE.sock)
#   lab_ctl NODE ARGS...     meshctl against NODE's meshd, inside NODE's namespace
#   ok / bad / expect_*      assertions that count; lab_finish prints and exits
#
# Everything a test makes carries the id $LAB_ID (namespaces, interfaces, files), and the
# cleanup trap kills what was started (by pid), deletes the namespaces and the temp dir.
# Only the namespaces' own addresses and loopback are ever targets.

lab_enter_mount_ns() { # re-executes the calling script in a private mount namespace
	if [ -z "${MESH_LAB_MOUNTNS:-}" ]; then
		exec env MESH_LAB_MOUNTNS=1 unshare --mount --propagation private "$0" "$@"
	fi
}

lab_init() {
	LAB_NAME=$1
	LAB_TOP=$(pwd)
	LAB_BUILD=${MESH_BUILD:-build}
	case $LAB_BUILD in /*) ;; *) LAB_BUILD=$LAB_TOP/$LAB_BUILD ;; esac
	for b in meshd meshctl meshcontrol; do
		[ -x "$LAB_BUILD/cmd/$b" ] || { echo "missing $LAB_BUILD/cmd/$b (build first)"; exit 1; }
	done
	LAB_ID=$(($$ % 100000))
	LAB=$(mktemp -d "/tmp/mesh-$LAB_NAME.XXXXXX")
	chmod 755 "$LAB"
	LAB_PIDS=()
	LAB_NS=()
	LAB_PASS=0
	LAB_FAIL=0
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
}

# lab_netns_add NS: a namespace of the lab's, with a resolv.conf of its own (a copy of the
# host's in /etc/netns/NS/, which `ip netns exec` mounts over /etc/resolv.conf): a meshd
# there that points "its" resolv.conf at MagicDNS (--accept-dns) rewrites the copy, never
# the host's file.  Both go in the cleanup.
lab_netns_add() {
	ip netns add "$1" || return 1
	LAB_NS+=("$1")
	mkdir -p "/etc/netns/$1" && cp /etc/resolv.conf "/etc/netns/$1/resolv.conf" 2> /dev/null ||
		: > "/etc/netns/$1/resolv.conf"
}

lab_cleanup() {
	local p n
	for p in "${LAB_PIDS[@]}"; do kill "$p" 2> /dev/null; done
	for p in "${LAB_PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
		kill -9 "$p" 2> /dev/null
	done
	for n in "${LAB_NS[@]}"; do
		# anything still running in the namespace goes with it
		for p in $(ip netns pids "$n" 2> /dev/null); do kill -9 "$p" 2> /dev/null; done
		ip netns del "$n" 2> /dev/null
		rm -rf "/etc/netns/$n"
	done
	if [ "${LAB_KEEP:-0}" = 1 ]; then echo "kept $LAB"; else rm -rf "$LAB"; fi
}

# lab_netmap DIR: the netmap the node's cache in DIR holds (netmap.json with the deltas appended
# to netmap.deltas since, folded by tests/lab/control/ctl-cache) written to DIR.nm (empty when
# there is none, or deltas were left out); prints that file's path
lab_netmap() {
	"$LAB_BUILD/tests/lab/control/ctl-cache" "$1" > "$1.nm" 2> /dev/null || : > "$1.nm"
	echo "$1.nm"
}

ok() { LAB_PASS=$((LAB_PASS + 1)); echo "ok   $*"; }
bad() { LAB_FAIL=$((LAB_FAIL + 1)); echo "FAIL $*"; }
expect_eq() { if [ "$2" == "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi; }
expect_has() { # name text needle
	if grep -qF -- "$3" <<< "$2"; then ok "$1"; else bad "$1: '$3' not in: $(head -c 800 <<< "$2")"; fi
}
expect_not_has() {
	if grep -qF -- "$3" <<< "$2"; then bad "$1: unexpected '$3' in: $(head -c 800 <<< "$2")"; else ok "$1"; fi
}
lab_finish() {
	echo "$LAB_NAME: $LAB_PASS passed, $LAB_FAIL failed"
	[ "$LAB_FAIL" = 0 ]
	exit $?
}

# wait_until SECONDS COMMAND...: polls every 0.1 s; 0 when COMMAND succeeded in time
wait_until() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" > /dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

lab_users() {
	mkdir -p "$LAB/etc" "$LAB/home"
	for f in passwd group shadow; do cp -a /etc/$f "$LAB/etc/$f"; done
	local spec name uid
	for spec in "$@"; do
		name=${spec%%:*}
		uid=${spec#*:}
		echo "$name:x:$uid:$uid::$LAB/home/$name:/bin/bash" >> "$LAB/etc/passwd"
		echo "$name:x:$uid:" >> "$LAB/etc/group"
		echo "$name:*:19000:0:99999:7:::" >> "$LAB/etc/shadow"
		mkdir -p "$LAB/home/$name/.ssh"
		: > "$LAB/home/$name/.ssh/authorized_keys"
		chmod 700 "$LAB/home/$name/.ssh"
		chown -R "$uid:$uid" "$LAB/home/$name"
		chmod 750 "$LAB/home/$name"
	done
	for f in passwd group shadow; do mount --bind "$LAB/etc/$f" /etc/$f; done
	cp -a /etc/pam.d "$LAB/pam.d"
	cp "$LAB_TOP/sshd/pam.d/meshd" "$LAB/pam.d/meshd"
	mount --bind "$LAB/pam.d" /etc/pam.d
	for f in /var/log/wtmp /var/log/lastlog; do
		if [ -f $f ]; then
			: > "$LAB/$(basename $f)"
			mount --bind "$LAB/$(basename $f)" $f
		fi
	done
}

# lab_lan NODE...: namespace "<node><id>" per node (names kept under 15 characters),
# all on one bridge; node i gets 10.231.0.i.  Sets NS_<node> and IP_<node>.
lab_lan() {
	local sw="msw$LAB_ID" i=1 n ns
	lab_netns_add "$sw" || return 1
	ip -n "$sw" link add br0 type bridge
	ip -n "$sw" link set br0 up
	for n in "$@"; do
		ns="m${n:0:5}$LAB_ID"
		lab_netns_add "$ns" || return 1
		ip link add "e$i" netns "$ns" type veth peer name "p$i" netns "$sw"
		ip -n "$sw" link set "p$i" master br0 up
		ip -n "$ns" addr add "10.231.0.$i/24" dev "e$i"
		ip -n "$ns" link set "e$i" up
		ip -n "$ns" link set lo up
		eval "NS_${n//-/_}=$ns"
		eval "IP_${n//-/_}=10.231.0.$i"
		i=$((i + 1))
	done
}

lab_ns() { local v="NS_${1//-/_}"; echo "${!v}"; }
lab_ip() { local v="IP_${1//-/_}"; echo "${!v}"; }

# lab_bg NODE LOGNAME COMMAND...: runs COMMAND in NODE's namespace in the background.
lab_bg() {
	local ns
	ns=$(lab_ns "$1")
	local log=$LAB/$2.log
	shift 2
	ip netns exec "$ns" "$@" >> "$log" 2>&1 &
	LAB_PIDS+=($!)
	LAB_LAST_PID=$!
}

# lab_tls_cert NAME HOST...: an ECDSA P-256 certificate for the HOSTs (an IP address or a
# DNS name each, as subjectAltName), signed by the lab's CA, valid for two days.
lab_tls_cert() {
	local name=$1 san="" h
	shift
	mkdir -p "$LAB/tls"
	chmod 700 "$LAB/tls"
	if [ ! -s "$LAB/tls/ca.pem" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=Mesh lab $LAB_ID CA" -keyout "$LAB/tls/ca.key" -out "$LAB/tls/ca.pem" \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign 2> "$LAB/tls/openssl.log" || return 1
	fi
	for h in "$@"; do
		if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+=",IP:$h"; else san+=",DNS:$h"; fi
	done
	(umask 077 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$1" -keyout "$LAB/tls/$name.key" -out "$LAB/tls/$name.csr") \
		2>> "$LAB/tls/openssl.log" || return 1
	printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
		"${san#,}" > "$LAB/tls/$name.ext"
	openssl x509 -req -in "$LAB/tls/$name.csr" -CA "$LAB/tls/ca.pem" -CAkey "$LAB/tls/ca.key" \
		-CAcreateserial -days 2 -extfile "$LAB/tls/$name.ext" -out "$LAB/tls/$name.pem" \
		2>> "$LAB/tls/openssl.log" || return 1
	chmod 644 "$LAB/tls/ca.pem" "$LAB/tls/$name.pem"
	chmod 711 "$LAB/tls" # others may read the certificates (by name), never the keys
}

lab_tls_spki() {
	openssl x509 -in "$LAB/tls/$1.pem" -noout -pubkey | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64
}

# lab_control_start NODE [SERVE_ARGS...]: meshcontrol over HTTPS on NODE's address, port
# 8080, with a certificate from the lab's CA (CTL_CA); admin token in CTL_TOKEN.  Further
# arguments go to `meshcontrol serve`.
lab_control_start() {
	local n=$1
	shift
	CTL_NODE=$n
	CTL_STATE=$LAB/control
	CTL_URL="https://$(lab_ip "$n"):8080"
	CTL_CA=$LAB/tls/ca.pem
	export MESH_CA_FILE=$CTL_CA
	[ -s "$LAB/tls/control.pem" ] || lab_tls_cert control "$(lab_ip "$n")" || return 1
	lab_bg "$n" meshcontrol "$LAB_BUILD/cmd/meshcontrol" ${LAB_DEBUG:+-v} -s "$CTL_STATE" serve \
		--listen "$(lab_ip "$n")" --port 8080 --public-url "$CTL_URL" --keepalive-ms 2000 \
		--tls-cert "$LAB/tls/control.pem" --tls-key "$LAB/tls/control.key" "$@"
	CTL_PID=$LAB_LAST_PID
	wait_until 10 ip netns exec "$(lab_ns "$n")" curl -s --cacert "$CTL_CA" -o /dev/null \
		"$CTL_URL/" || return 1
	wait_until 10 test -s "$CTL_STATE/admin-token" || return 1
	CTL_TOKEN=$(cat "$CTL_STATE/admin-token")
}

lab_control_stop() {
	kill "$CTL_PID" 2> /dev/null
	wait "$CTL_PID" 2> /dev/null
}

# lab_admin METHOD PATH [curl args]: admin API from the control namespace; prints the body,
# returns 0 on a 2xx status.
lab_admin() {
	local m=$1 p=$2 code
	shift 2
	code=$(ip netns exec "$(lab_ns "$CTL_NODE")" curl -s --cacert "$CTL_CA" -o "$LAB/admin.body" \
		-w '%{http_code}' -X "$m" -H "Authorization: Bearer $CTL_TOKEN" "$CTL_URL/api/v1/$p" "$@")
	cat "$LAB/admin.body"
	[ "${code:0:1}" = 2 ]
}

# lab_node_id NAME: the control's id of the node with that name
lab_node_id() {
	lab_admin GET nodes | python3 -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n.get("name") == sys.argv[1]:
        print(n["id"])' "$1"
}

# lab_meshd NODE ARGS...: meshd in NODE's namespace with its own state, socket and TUN
# name "m<node><id>"; extra ARGS are passed through.
lab_meshd() {
	local n=$1
	shift
	local tun="t${n:0:4}$LAB_ID"
	eval "TUN_${n//-/_}=$tun"
	lab_bg "$n" "meshd-$n" "$LAB_BUILD/cmd/meshd" --state-dir "$LAB/state-$n" \
		--socket "$LAB/$n.sock" --tun "$tun" ${LAB_DEBUG:+--log-level=debug} "$@"
	eval "PID_${n//-/_}=$LAB_LAST_PID"
	wait_until 10 test -S "$LAB/$n.sock"
}

lab_tun() { local v="TUN_${1//-/_}"; echo "${!v}"; }

# lab_ctl NODE ARGS...: meshctl for NODE's daemon, run in NODE's namespace with HOME in
# the lab dir (meshctl ssh writes ~/.config/mesh/known_hosts there), killed after
# $LAB_CTL_TIMEOUT seconds (default 60).
lab_ctl() {
	local n=$1
	shift
	mkdir -p "$LAB/home-$n"
	HOME=$LAB/home-$n timeout "${LAB_CTL_TIMEOUT:-60}" ip netns exec "$(lab_ns "$n")" \
		"$LAB_BUILD/cmd/meshctl" --socket "$LAB/$n.sock" "$@"
}

# ---- for labs without meshd ----

# lab_pair NODE_A NODE_B: two namespaces joined by one veth pair, loopback and link up, no
# addresses (the lab picks them).  Sets NS_<node> and DEV_<node> (its end of the veth).
lab_pair() {
	local n ns
	for n in "$1" "$2"; do
		ns="m${n:0:5}$LAB_ID"
		lab_netns_add "$ns" || return 1
		eval "NS_${n//-/_}=$ns"
		eval "DEV_${n//-/_}=v${n:0:5}$LAB_ID"
		ip -n "$ns" link set lo up
	done
	ip link add "$(lab_dev "$1")" netns "$(lab_ns "$1")" type veth \
		peer name "$(lab_dev "$2")" netns "$(lab_ns "$2")" || return 1
	ip -n "$(lab_ns "$1")" link set "$(lab_dev "$1")" up
	ip -n "$(lab_ns "$2")" link set "$(lab_dev "$2")" up
}

lab_dev() { local v="DEV_${1//-/_}"; echo "${!v}"; }

# lab_in NODE COMMAND...: COMMAND in NODE's namespace, in the foreground
lab_in() {
	local ns
	ns=$(lab_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

# lab_enter_mount_net_ns: lab_enter_mount_ns with a network namespace of its own as well
# (loopback only, up), for a lab whose programs all meet on loopback: no other process on the
# machine shares that loopback, so fixed ports cannot collide and nothing outside connects.
lab_enter_mount_net_ns() {
	if [ -z "${MESH_LAB_MOUNTNS:-}" ]; then
		exec env MESH_LAB_MOUNTNS=1 unshare --mount --net --propagation private "$0" "$@"
	fi
	ip link set lo up
}

# lab_bg_here LOGNAME COMMAND...: lab_bg in the test's own namespace
lab_bg_here() {
	local log=$LAB/$1.log
	shift
	"$@" >> "$log" 2>&1 &
	LAB_PIDS+=($!)
	LAB_LAST_PID=$!
}

# lab_reap PID: waits for a process lab_bg started and returns its exit status; it leaves
# LAB_PIDS, so that the cleanup never signals a pid the system may have given to another.
lab_reap() {
	local rc i
	wait "$1"
	rc=$?
	for i in "${!LAB_PIDS[@]}"; do [ "${LAB_PIDS[i]}" = "$1" ] && unset "LAB_PIDS[i]"; done
	return $rc
}

# lab_stop PID: SIGTERM to a process lab_bg started, then lab_reap
lab_stop() {
	kill -TERM "$1" 2> /dev/null
	lab_reap "$1"
}

# expect_ok NAME COMMAND...: ok when COMMAND succeeds (its output is dropped)
expect_ok() {
	local name=$1
	shift
	if "$@" > /dev/null 2>&1; then ok "$name"; else bad "$name"; fi
}

# lab_on_exit COMMAND...: also run COMMAND when the test exits, before lab_cleanup, for what
# a lab makes outside $LAB and its namespaces (a daemon's socket in /run, a tmux server).
lab_on_exit() {
	LAB_ON_EXIT+=("$(printf '%q ' "$@")")
	trap 'lab__on_exit; lab_cleanup' EXIT
}

lab__on_exit() {
	local c
	for c in "${LAB_ON_EXIT[@]}"; do eval "$c"; done
}

# expect_match NAME TEXT REGEX: ok when a line of TEXT matches the extended REGEX
expect_match() {
	if grep -qE -- "$3" <<< "$2"; then ok "$1"; else bad "$1: /$3/ not in: $(head -c 800 <<< "$2")"; fi
}

# expect_fails NAME COMMAND...: ok when COMMAND fails (its output is dropped), e.g. a refusal
expect_fails() {
	local name=$1
	shift
	if "$@" > /dev/null 2>&1; then bad "$name: it succeeded"; else ok "$name"; fi
}

# lab_web_approve NODE CA BASE_URL HOLD_ID LOGIN PASSWORD: a person approving a check-mode
# login on control's web page, with curl from NODE's namespace: signs in at BASE_URL/login
# (LOGIN, PASSWORD), opens BASE_URL/check/HOLD_ID and approves with the password again.
# Prints the page the approval answers with; 1 when the check page shows no approval form.
lab_web_approve() {
	local jar=$LAB/jar-$4 csrf
	lab__web() { lab_in "$1" curl -s -m 20 --cacert "$2" -c "$jar" -b "$jar" "${@:3}"; }
	csrf=$(lab__web "$1" "$2" "$3/login" | sed -n 's/.*name=csrf value=\([0-9a-f]*\).*/\1/p')
	lab__web "$1" "$2" -o /dev/null --data-urlencode "next=/check/$4" \
		--data-urlencode "login=$5" --data-urlencode "password=$6" \
		--data-urlencode "csrf=$csrf" "$3/login"
	csrf=$(lab__web "$1" "$2" "$3/check/$4" | sed -n 's/.*name=csrf value=\([0-9a-f]*\).*/\1/p')
	[[ $csrf =~ ^[0-9a-f]+$ ]] || return 1
	lab__web "$1" "$2" --data-urlencode "csrf=$csrf" --data action=approve \
		--data-urlencode "password=$6" "$3/check/$4"
}
