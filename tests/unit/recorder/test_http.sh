#!/usr/bin/env bash
# meshrecorder end to end on 127.0.0.1 (a port it picks): a hand-written asciicast v2 uploaded
# in three PUTs with curl, then each answer a node or meshctl sees with its exact status,
# Mesh-Acked and sentence (409 resume, 413 with and without Expect and chunked, 400, 404, 405,
# 507, HEAD, 403 for a reader not in --readers), the JSON list, the file back byte for byte,
# `asciinema cat` playing it, HEAD after a restart, and a log that names recordings but
# never holds their bytes.
# Then meshctl recordings against it: list (exact table), get (byte for byte), play (through
# a stand-in asciinema that keeps what it was given, and the real one under script(1)), and
# its refusals with their exact sentences and exit codes.
# Usage: test_http.sh MESHRECORDER MESHCTL
set -u
rec=$1
meshctl=$2
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail=0

start() { # extra meshrecorder options...
	rm -f "$tmp/port"
	"$rec" --listen 127.0.0.1:0 --dir "$tmp/rec" --port-file "$tmp/port" --max-bytes 4096 \
		--readers 127.0.0.1/32 "$@" 2>>"$tmp/log" &
	pid=$!
	for _ in $(seq 100); do
		[ -s "$tmp/port" ] && break
		sleep 0.05
	done
	if [ ! -s "$tmp/port" ]; then
		echo "FAIL meshrecorder did not start:"
		cat "$tmp/log"
		exit 1
	fi
	url="http://127.0.0.1:$(cat "$tmp/port")/v1/recordings"
}

stop() {
	kill "$pid"
	wait "$pid"
	pid=
}

# req NAME WANT_STATUS WANT_ACKED WANT_BODY CURL_ARGS...: one request, its status, its
# Mesh-Acked header ('-' for none) and its body (exact; '*' for any).
req() {
	local name=$1 want_status=$2 want_acked=$3 want_body=$4
	shift 4
	local status acked body
	status=$(curl -sS -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' "$@" 2>"$tmp/curlerr")
	acked=$(tr -d '\r' <"$tmp/hdr" | sed -n 's/^Mesh-Acked: //ip')
	body=$(cat "$tmp/body")
	[ -n "$acked" ] || acked=-
	if [ "$status" != "$want_status" ] || [ "$acked" != "$want_acked" ] ||
		{ [ "$want_body" != '*' ] && [ "$body" != "$want_body" ]; }; then
		echo "FAIL $name: status $status (want $want_status), Mesh-Acked $acked (want $want_acked)"
		echo "    body: $body"
		[ "$want_body" != '*' ] && echo "    want: $want_body"
		sed 's/^/    curl: /' "$tmp/curlerr"
		fail=1
	else
		echo "ok   $name"
	fi
}

# expect NAME WANT_RC WANT_STDERR COMMAND...: exit status and stderr exactly ('*' for any)
expect() {
	local name=$1 want_rc=$2 want_err=$3
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ "$rc" != "$want_rc" ] || { [ "$want_err" != '*' ] && [ "$(cat "$tmp/err")" != "$want_err" ]; }; then
		echo "FAIL $name: rc $rc (want $want_rc)"
		sed 's/^/    stderr: /' "$tmp/err"
		[ "$want_err" != '*' ] && echo "    want:   $want_err"
		fail=1
	else
		echo "ok   $name"
	fi
}

put() { # NAME WANT_STATUS WANT_ACKED WANT_BODY ID OFFSET FILE [CURL_ARGS...]
	local name=$1 st=$2 ack=$3 body=$4 id=$5 off=$6 file=$7
	shift 7
	req "$name" "$st" "$ack" "$body" -X PUT --data-binary "@$file" "$@" "$url/$id?offset=$off"
}

# A recording as a node writes it: asciicast v2, a header line and output events.
cat >"$tmp/cast" <<'CAST'
{"version": 2, "width": 80, "height": 24, "timestamp": 1765000000, "command": "/bin/bash", "env": {"TERM": "xterm-256color", "SHELL": "/bin/bash"}, "mesh": {"source": "100.64.0.7", "user": "alice@example.com", "local_user": "alice", "conn": "c42"}}
[0.100000, "o", "alice@web1:~$ "]
[0.900000, "o", "echo recorded-by-mesh\r\n"]
[0.910000, "o", "recorded-by-mesh\r\n"]
[1.500000, "r", "100x30"]
[2.000000, "o", "alice@web1:~$ exit\r\n"]
CAST
head -c 150 "$tmp/cast" >"$tmp/p1"
tail -c +151 "$tmp/cast" | head -c 200 >"$tmp/p2"
tail -c +351 "$tmp/cast" >"$tmp/p3"
total=$(stat -c %s "$tmp/cast")
id=web1-c42-1765000000

# its options: a bad one is named with why, exit 2
expect opt-listen 2 "meshrecorder: --listen: '127.0.0.1': expected addr:port" \
	"$rec" --listen 127.0.0.1 --dir "$tmp/rec"
expect opt-readers 2 "meshrecorder: --readers: '10.0.0.0/33': the prefix length must be 0 to 32" \
	"$rec" --listen 127.0.0.1:0 --dir "$tmp/rec" --readers 10.0.0.0/33
expect opt-max-bytes 2 "meshrecorder: --max-bytes: '0' is not 1..999999999999999999" \
	"$rec" --listen 127.0.0.1:0 --dir "$tmp/rec" --max-bytes 0

start
put put-1 200 150 "stored up to 150" $id 0 "$tmp/p1"
put put-2 200 350 "stored up to 350" $id 150 "$tmp/p2"
put put-2-again 409 350 "offset 150 is not the 350 bytes held" $id 150 "$tmp/p2"
put put-at-0-again 409 350 "offset 0 is not the 350 bytes held" $id 0 "$tmp/p1"
put put-ahead 409 350 "offset 400 is not the 350 bytes held" $id 400 "$tmp/p3"
req head-partial 200 350 '*' -I "$url/$id"
put put-3 200 "$total" "stored up to $total" $id 350 "$tmp/p3"
req head 200 "$total" '*' -I "$url/$id"
req head-missing 404 - '*' -I "$url/nothing"
put put-missing 409 0 "offset 10 is not the 0 bytes held" nothing 10 "$tmp/p1"

head -c $((1024 * 1024 + 1)) /dev/zero >"$tmp/big"
head -c $((1024 * 1024)) /dev/zero >"$tmp/max"
put body-413-expect 413 - "a body is at most 1048576 bytes" big 0 "$tmp/big" -H 'Expect: 100-continue'
put body-413-read 413 - "a body is at most 1048576 bytes" big 0 "$tmp/big" -H 'Expect:'
put body-413-chunked 413 - "a body is at most 1048576 bytes" big 0 "$tmp/big" -H 'Expect:' \
	-H 'Transfer-Encoding: chunked'
put body-1mib-over-cap 507 0 "the recording would be over the recorder's cap of 4096 bytes" \
	big 0 "$tmp/max" -H 'Expect:'
req head-big 404 - '*' -I "$url/big"
head -c 4000 /dev/zero >"$tmp/z"
put cap-1 200 4000 "stored up to 4000" capped 0 "$tmp/z"
put cap-2 507 4000 "the recording would be over the recorder's cap of 4096 bytes" capped 4000 "$tmp/p1"

put bad-id 400 - "bad recording id '.hidden': 1-128 of A-Z a-z 0-9 . _ -, not starting with '.'" \
	.hidden 0 "$tmp/p1"
put bad-offset 400 - "bad offset '01': 0 or a decimal number without leading zeros, at most 18 digits" \
	$id 01 "$tmp/p1"
req no-offset 400 - "PUT needs ?offset=N (the bytes the recorder holds)" -X PUT --data-binary x \
	"$url/$id"
req delete 405 - "method 'DELETE' is not allowed: the recorder takes PUT, HEAD and GET" \
	-X DELETE "$url/$id"
req no-path 404 - "no such path '/v2': the recorder serves /v1/recordings" \
	"http://127.0.0.1:$(cat "$tmp/port")/v2"
req bad-source 400 - "bad source '127.000.0.1': an IP address as the list shows it" \
	"$url/127.000.0.1/$id"

req list 200 - '*' "$url"
sed -i 's/"mtime":[0-9]*/"mtime":M/g' "$tmp/body"
want="[{\"source\":\"127.0.0.1\",\"id\":\"capped\",\"size\":4000,\"mtime\":M,\"ended\":false},{\"source\":\"127.0.0.1\",\"id\":\"$id\",\"size\":$total,\"mtime\":M,\"ended\":false}]"
if [ "$(cat "$tmp/body")" = "$want" ]; then echo "ok   list-body"; else
	echo "FAIL list-body: $(cat "$tmp/body")"
	fail=1
fi
req fetch 200 - '*' "$url/127.0.0.1/$id"
if cmp -s "$tmp/body" "$tmp/cast"; then echo "ok   fetch-bytes"; else
	echo "FAIL fetch-bytes: the file differs from what was uploaded"
	fail=1
fi
cp "$tmp/body" "$tmp/fetched.cast"
req fetch-missing 404 - "no recording nothing from 127.0.0.1" "$url/127.0.0.1/nothing"
# asciinema cat wants a terminal (it opens /dev/tty): script(1) gives it one, its output
# still goes to a file
HOME=$tmp LC_ALL=C.UTF-8 script -qec "asciinema cat '$tmp/fetched.cast' >'$tmp/played' 2>'$tmp/asciinema.err'" \
	/dev/null </dev/null >/dev/null
played=$(cat "$tmp/played")
want=$(printf 'alice@web1:~$ echo recorded-by-mesh\r\nrecorded-by-mesh\r\nalice@web1:~$ exit\r\n')
if [ "$played" = "$want" ]; then echo "ok   asciinema-cat"; else
	echo "FAIL asciinema-cat: $(printf '%q' "$played")"
	cat "$tmp/asciinema.err"
	fail=1
fi

# meshctl recordings, with the files' times set so the table is exact
touch -d @1765000000 "$tmp/rec/127.0.0.1/$id.cast"
touch -d @1765000060 "$tmp/rec/127.0.0.1/capped.cast"
base="http://127.0.0.1:$(cat "$tmp/port")"
expect meshctl-list 0 '' "$meshctl" recordings list --recorder "$base/"
want=$(printf '%-18s %-40s %10s %-6s %s\n' SOURCE ID BYTES STATE MODIFIED 127.0.0.1 capped 4000 \
	open '2025-12-06 05:47Z' 127.0.0.1 "$id" "$total" open '2025-12-06 05:46Z')
if [ "$(cat "$tmp/out")" = "$want" ]; then echo "ok   meshctl-list-table"; else
	echo "FAIL meshctl-list-table:"
	diff <(echo "$want") "$tmp/out" | sed 's/^/    /'
	fail=1
fi
MESH_RECORDER=$base expect meshctl-get 0 '' "$meshctl" recordings get "127.0.0.1/$id"
if cmp -s "$tmp/out" "$tmp/cast"; then echo "ok   meshctl-get-bytes"; else
	echo "FAIL meshctl-get-bytes: stdout differs from the recording"
	fail=1
fi
mkdir "$tmp/bin"
cat >"$tmp/bin/asciinema" <<FAKE
#!/bin/sh
echo "\$*" >"$tmp/fake-args"
cat >"$tmp/fake-stdin"
exit 3
FAKE
chmod +x "$tmp/bin/asciinema"
PATH=$tmp/bin:$PATH expect meshctl-play-fake 3 '' "$meshctl" recordings play --recorder="$base" \
	"127.0.0.1/$id"
if [ "$(cat "$tmp/fake-args")" = "play -" ] && cmp -s "$tmp/fake-stdin" "$tmp/cast"; then
	echo "ok   meshctl-play-fake-input"
else
	echo "FAIL meshctl-play-fake-input: asciinema got '$(cat "$tmp/fake-args")' and $(wc -c <"$tmp/fake-stdin") bytes"
	fail=1
fi
HOME=$tmp LC_ALL=C.UTF-8 script -qec "'$meshctl' recordings play --recorder='$base' '127.0.0.1/$id' \
	>'$tmp/played2' 2>'$tmp/play.err'" /dev/null </dev/null >/dev/null
if grep -q "recorded-by-mesh" "$tmp/played2"; then echo "ok   meshctl-play-asciinema"; else
	echo "FAIL meshctl-play-asciinema: $(cat "$tmp/played2" "$tmp/play.err")"
	fail=1
fi
expect meshctl-get-missing 1 "meshctl: the recorder: no recording nothing from 127.0.0.1 (HTTP 404)" \
	"$meshctl" recordings get --recorder="$base" 127.0.0.1/nothing
expect meshctl-bad-name 2 "meshctl recordings play: '127.0.0.1/../x' is not SOURCE/ID as 'meshctl recordings list' shows them" \
	"$meshctl" recordings play --recorder="$base" 127.0.0.1/../x
expect meshctl-no-recorder 2 "meshctl recordings: no recorder (--recorder=URL or \$MESH_RECORDER)" \
	env -u MESH_RECORDER "$meshctl" recordings list

# another source: its own directory, and it is no reader
req other-head 404 - '*' -I --interface 127.0.0.2 "$url/$id"
req other-put 200 150 "stored up to 150" --interface 127.0.0.2 -X PUT --data-binary "@$tmp/p1" \
	"$url/$id?offset=0"
req other-list 403 - "127.0.0.2 may not read recordings (meshrecorder --readers)" \
	--interface 127.0.0.2 "$url"
req other-fetch 403 - "127.0.0.2 may not read recordings (meshrecorder --readers)" \
	--interface 127.0.0.2 "$url/127.0.0.1/$id"
if [ "$(stat -c %a "$tmp/rec" "$tmp/rec/127.0.0.2" "$tmp/rec/127.0.0.2/$id.cast" | tr '\n' ' ')" = "700 700 600 " ]; then
	echo "ok   modes"
else
	echo "FAIL modes: $(stat -c '%a %n' "$tmp/rec" "$tmp/rec/127.0.0.2" "$tmp/rec/127.0.0.2/$id.cast")"
	fail=1
fi

# a recorder whose disk would have less than --min-free left refuses uploads (nothing made)
stop
start --min-free 18446744073709551615
req min-free 507 0 "the recorder is full: it keeps 18446744073709551615 bytes free" -X PUT \
	--data-binary "@$tmp/p1" "$url/roomless?offset=0"
[ -e "$tmp/rec/127.0.0.1/roomless.cast" ] && { echo "FAIL min-free: the recording was made"; fail=1; }
req min-free-append 507 "$total" "the recorder is full: it keeps 18446744073709551615 bytes free" \
	-X PUT --data-binary "x" "$url/$id?offset=$total"
expect min-free-bad 2 "meshrecorder: --min-free: '-1' is not a byte count" \
	"$rec" --listen 127.0.0.1:0 --dir "$tmp/rec" --min-free -1

# a restart: what was acknowledged is what HEAD says; a node coming back is a resumption,
# and a recording without uploads for --idle-end is logged as ended
stop
start --idle-end 1 --readers 127.0.0.2/32
req head-after-restart 200 "$total" '*' -I "$url/$id"
expect meshctl-list-refused 1 \
	"meshctl: the recorder: 127.0.0.1 may not read recordings (meshrecorder --readers) (HTTP 403)" \
	"$meshctl" recordings list --recorder="http://127.0.0.1:$(cat "$tmp/port")"
req other-resume 200 300 "stored up to 300" --interface 127.0.0.2 -X PUT --data-binary "@$tmp/p1" \
	"$url/$id?offset=150"
ended="127.0.0.2: recording $id ended (no upload for 1 s): 300 bytes held, 150 in 1 uploads since 150"
for _ in $(seq 100); do
	grep -qF "$ended" "$tmp/log" && break
	sleep 0.1
done
# the end of a recording: end=1 with its last bytes (or none) finishes it at once (logged,
# 0400, "ended" in the list); the same end again is taken, anything more is a 410
req end 200 310 "stored up to 310" --interface 127.0.0.2 -X PUT --data-binary "0123456789" \
	"$url/$id?offset=300&end=1"
req end-again 200 310 "stored up to 310" --interface 127.0.0.2 -X PUT --data-binary "" \
	"$url/$id?offset=310&end=1"
req after-end 410 310 "the recording has ended at 310 bytes" --interface 127.0.0.2 -X PUT \
	--data-binary "x" "$url/$id?offset=310"
req end-bad-query 400 - "unexpected query 'offset=310&end=yes': PUT takes ?offset=N or ?offset=N&end=1" \
	--interface 127.0.0.2 -X PUT --data-binary "x" "$url/$id?offset=310&end=yes"
finished="127.0.0.2: recording $id ended (the node ended it): 310 bytes held, 10 in 1 uploads since 300"
if grep -qF "$finished" "$tmp/log" && [ "$(stat -c %a "$tmp/rec/127.0.0.2/$id.cast")" = 400 ] &&
	curl -sS --interface 127.0.0.2 "$url" | grep -qF "\"id\":\"$id\",\"size\":310,\"mtime\":"; then
	echo "ok   end: logged, 0400"
else
	echo "FAIL end: no '$finished' or mode $(stat -c %a "$tmp/rec/127.0.0.2/$id.cast")"
	fail=1
fi
curl -sS --interface 127.0.0.2 "$url" | grep -q '"ended":true}' && echo "ok   end: listed as ended" ||
	{ echo "FAIL end: not listed as ended: $(curl -sS --interface 127.0.0.2 "$url")"; fail=1; }
stop
start --readers 127.0.0.1/32
expect meshctl-list-ended 0 '' "$meshctl" recordings list --recorder="http://127.0.0.1:$(cat "$tmp/port")"
if grep -qE "^127\.0\.0\.2 +$id +310 ended " "$tmp/out"; then echo "ok   meshctl-list-ended-state"; else
	echo "FAIL meshctl-list-ended-state: $(cat "$tmp/out")"
	fail=1
fi

# coded bodies (Content-Encoding: lz4, frames made by Debian's lz4): stored inflated, offsets
# and Mesh-Acked in plain bytes, every answer offers lz4; a bomb, a truncated frame, one
# without its size, a plain body called lz4 and another coding refused with their sentences
lz4() { command lz4 -q -f -B4 --content-size "$@"; }
lz4 "$tmp/cast" "$tmp/cast.lz4"
lz4 "$tmp/p1" "$tmp/p1.lz4"
coded=(-H 'Content-Encoding: lz4')
put lz4-put 200 "$total" "stored up to $total" coded 0 "$tmp/cast.lz4" "${coded[@]}"
if tr -d '\r' <"$tmp/hdr" | grep -qx 'Accept-Encoding: lz4'; then echo "ok   lz4-offered"; else
	echo "FAIL lz4-offered: $(cat "$tmp/hdr")"
	fail=1
fi
put lz4-put-2 200 $((total + 150)) "stored up to $((total + 150))" coded "$total" "$tmp/p1.lz4" \
	"${coded[@]}"
put lz4-409 409 $((total + 150)) "offset $total is not the $((total + 150)) bytes held" coded \
	"$total" "$tmp/p1.lz4" "${coded[@]}"
req lz4-fetch 200 - '*' "$url/127.0.0.1/coded"
if cat "$tmp/cast" "$tmp/p1" | cmp -s - "$tmp/body"; then echo "ok   lz4-fetch-bytes"; else
	echo "FAIL lz4-fetch-bytes: the file is not the plain bytes"
	fail=1
fi
head -c $((2 << 20)) /dev/zero >"$tmp/bomb"
lz4 "$tmp/bomb" "$tmp/bomb.lz4"
put lz4-bomb 413 - "the body inflates to 2097152 bytes, over the 1048576 a request may carry" \
	coded2 0 "$tmp/bomb.lz4" "${coded[@]}"
head -c 30 "$tmp/cast.lz4" >"$tmp/cut.lz4"
put lz4-truncated 400 - "the lz4 frame is truncated" coded2 0 "$tmp/cut.lz4" "${coded[@]}"
command lz4 -q -B4 <"$tmp/cast" >"$tmp/nosize.lz4"
put lz4-no-size 400 - "the lz4 frame does not declare its size (lz4 --content-size)" coded2 0 \
	"$tmp/nosize.lz4" "${coded[@]}"
put lz4-plain 400 - "not an lz4 frame: ERROR_frameType_unknown" coded2 0 "$tmp/p1" "${coded[@]}"
put lz4-gzip 415 - "a body is plain or coded lz4 (Content-Encoding), no other" coded2 0 "$tmp/p1" \
	-H 'Content-Encoding: gzip'
req lz4-nothing-made 404 - '*' -I "$url/coded2"
stop

expect meshctl-unreachable 1 '*' "$meshctl" recordings list --recorder="$base"
case $(cat "$tmp/err") in
"meshctl: cannot reach the recorder at $base: "*) echo "ok   meshctl-unreachable-sentence" ;;
*)
	echo "FAIL meshctl-unreachable-sentence: $(cat "$tmp/err")"
	fail=1
	;;
esac

if grep -q "recorded-by-mesh" "$tmp/log"; then
	echo "FAIL log: a recording's bytes are in the log"
	fail=1
elif ! grep -q "127.0.0.1: recording $id started" "$tmp/log"; then
	echo "FAIL log: no start line"
	cat "$tmp/log"
	fail=1
else
	echo "ok   log"
fi
for line in "127.0.0.2: recording $id resumed at 150" "$ended" \
	"127.0.0.1: recording $id ended (the recorder stops): $total bytes held, $total in 3 uploads since 0"; do
	if grep -qF "$line" "$tmp/log"; then echo "ok   log: $line"; else
		echo "FAIL log: no line '$line'"
		fail=1
	fi
done
[ $fail = 0 ] || cat "$tmp/log"
exit $fail
