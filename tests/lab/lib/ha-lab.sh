# For the labs of meshcontrol replicas (sourced after mesh-lab.sh): PostgreSQL from Debian,
# started by the test in its own directory and stopped with it; replicas on it; HAProxy.
#
#   pg_lab_check             before lab_init: exits 77 with the reason when PostgreSQL's
#                            binaries are missing; sets PG_BIN
#   pg_lab_start             after lab_init: initdb as nobody (PostgreSQL refuses root) in
#                            $LAB/pg, postgres on a unix socket there only (no TCP, fsync off),
#                            an empty database mesh of user mesh (trust); sets PG_DIR and
#                            PG_URL (libpq's URI); an immediate stop is added to the exit trap
#   pg_lab_stop [MODE]       pg_ctl stop (fast by default)
#   pg_lab_restart_server    pg_ctl start again after pg_lab_stop
#   pg_lab_psql SQL          one query through psql, unaligned, tuples only
#   ha_lab_replica NODE NAME PORT STATE [ARGS...]
#                            meshcontrol serve --store $PG_URL in NODE's namespace on its
#                            address and PORT, --replica-name NAME, over HTTPS with the
#                            certificate $LAB/tls/control.pem; waits until it answers (1: it
#                            did not); its pid in HA_PID[NAME], its log $LAB/replica-NAME.log
#   ha_lab_haproxy NODE PORT BACKEND_PORT...
#                            HAProxy (TCP mode: TLS passed through) on NODE's address and PORT,
#                            balance first over the backends on the same address, each checked
#                            every 300 ms; waits until it answers.  HA_LAB_PROXY=v2: it sends
#                            the backends a PROXY v2 header (send-proxy-v2) from 127.0.0.1,
#                            so that replicas given --trusted-proxy
#                            127.0.0.1/32 trust it alone, not other clients in NODE

pg_lab_check() {
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1)
	if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
		echo "skip: PostgreSQL is not installed (Debian's package postgresql)"
		exit 77
	fi
}

pg_lab__as_owner() { runuser -u nobody -- "$@"; }

pg_lab_start() {
	PG_DIR=$LAB/pg
	mkdir -p "$PG_DIR" && chown nobody "$PG_DIR"
	pg_lab__as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U mesh -A trust --no-sync -E UTF8 \
		--locale=C.UTF-8 > "$LAB/initdb.log" 2>&1 ||
		{ bad "initdb: $(tail -n 3 "$LAB/initdb.log")"; return 1; }
	lab_on_exit pg_lab_stop immediate
	pg_lab_restart_server || return 1
	"$PG_BIN/createdb" -h "$PG_DIR" -U mesh mesh || { bad "createdb"; return 1; }
	PG_URL="postgres:///mesh?host=$PG_DIR&user=mesh"
}

pg_lab_stop() {
	pg_lab__as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m "${1:-fast}" -w stop > /dev/null 2>&1
}

pg_lab_restart_server() {
	pg_lab__as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
		-o "-k $PG_DIR -p 5432 -c listen_addresses= -c fsync=off" start > /dev/null ||
		{ bad "postgres did not start: $(tail -n 3 "$PG_DIR/postgres.log")"; return 1; }
}

pg_lab_psql() {
	"$PG_BIN/psql" -h "$PG_DIR" -U mesh -X -Atc "$1" mesh
}

declare -A HA_PID

ha_lab_replica() {
	local n=$1 name=$2 port=$3 state=$4 ip
	shift 4
	ip=$(lab_ip "$n")
	lab_bg "$n" "replica-$name" "$LAB_BUILD/cmd/meshcontrol" -s "$state" serve --store "$PG_URL" \
		--listen "$ip" --port "$port" --public-url "https://$ip:$port" --replica-name "$name" \
		--keepalive-ms 2000 --tls-cert "$LAB/tls/control.pem" --tls-key "$LAB/tls/control.key" "$@"
	HA_PID[$name]=$LAB_LAST_PID
	wait_until 20 lab_in "$n" curl -s --cacert "$LAB/tls/ca.pem" -o /dev/null "https://$ip:$port/"
}

ha_lab_haproxy() {
	local n=$1 port=$2 ip b extra=
	shift 2
	[ "${HA_LAB_PROXY:-}" != v2 ] || extra=" send-proxy-v2 source 127.0.0.1"
	ip=$(lab_ip "$n")
	{
		printf 'global\n\tmaxconn 512\ndefaults\n\tmode tcp\n\ttimeout connect 2s\n'
		printf '\ttimeout client 120s\n\ttimeout server 120s\n'
		printf 'frontend control\n\tbind %s:%s\n\tdefault_backend replicas\n' "$ip" "$port"
		printf 'backend replicas\n\tbalance first\n'
		for b in "$@"; do
			printf '\tserver s%s %s:%s check inter 300 fall 2 rise 2%s\n' "$b" "$ip" "$b" "$extra"
		done
	} > "$LAB/haproxy.cfg"
	lab_bg "$n" haproxy haproxy -db -f "$LAB/haproxy.cfg"
	wait_until 10 lab_in "$n" curl -s --cacert "$LAB/tls/ca.pem" -o /dev/null "https://$ip:$port/"
}
