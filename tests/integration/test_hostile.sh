#!/usr/bin/env bash
# The TCP endpoint (--listen) against clients that do not play fair, on
# the real binary as PID 1: other pods leaving requests half-sent from
# many addresses, headers trickled a byte at a time from the kubelet's own
# address (behind a mesh proxy every client shares 127.0.0.6), a flood of
# connections from one address, a line that is no request, and lastcall
# out of file descriptors. The kubelet's probe must still be answered
# within its 1 s timeout, and readiness must never turn false on its own.
# Traffic is loopback only; "other pods" are other 127.x addresses. The
# figures behind each check are printed as TAP comments.
. "$(dirname "$0")/lib.sh"

cd "$APP_DIR" || exit 1

# The clients, bounded in time and in connections opened. Each mode
# prints its figures on its last line.
cat >"$WORK/hostile.py" <<'PY'
import selectors, socket, sys, time

PROBE = b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
HALF = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Pad: "
OPENS_MAX = 500000


def connect_nb(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((addr, 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    return s


def hold(port, secs, per, first, addrs):
    """From each address, per connections that send `first` and then
    nothing; those the server closes are replaced at once."""
    sel = selectors.DefaultSelector()
    end = time.monotonic() + secs
    live = {a: 0 for a in addrs}
    opened = closed = 0
    said = False

    def top_up():
        nonlocal opened
        for a in addrs:
            while live[a] < per and opened < OPENS_MAX:
                try:
                    s = connect_nb(a, port)
                except OSError:
                    return
                sel.register(s, selectors.EVENT_WRITE, [a, False, time.monotonic()])
                live[a] += 1
                opened += 1

    top_up()
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.05):
            s, d = key.fileobj, key.data
            gone = False
            if not d[1]:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    try:
                        s.send(first)
                    except OSError:
                        pass
                    d[1] = True
                    sel.modify(s, selectors.EVENT_READ, d)
                    continue
                gone = True
            if not gone:
                try:
                    gone = not s.recv(4096)
                except BlockingIOError:
                    pass
                except OSError:
                    gone = True
            if gone:
                sel.unregister(s)
                s.close()
                live[d[0]] -= 1
                closed += 1
        if not said and all(v == per for v in live.values()):
            print("holding", sum(live.values()), flush=True)
            said = True
        top_up()
    print("opened %d closed_by_server %d" % (opened, closed), flush=True)


def trickle(port, secs, n, addr, every):
    """n connections from addr: the request line and one header byte at
    once, then one more byte every `every` s; the server's closes are
    timed from the connect and replaced."""
    end = time.monotonic() + secs
    conns = []
    lifetimes = []
    opened = 0

    def one():
        nonlocal opened
        s = socket.create_connection(("127.0.0.1", port), timeout=1, source_address=(addr, 0))
        s.sendall(b"GET /readyz HTTP/1.1\r\nX")
        s.setblocking(False)
        opened += 1
        now = time.monotonic()
        return [s, now, now]

    for _ in range(n):
        conns.append(one())
    print("trickling", n, flush=True)
    while time.monotonic() < end and opened < OPENS_MAX:
        now = time.monotonic()
        for c in conns:
            gone = False
            try:
                gone = not c[0].recv(4096)
            except BlockingIOError:
                pass
            except OSError:
                gone = True
            if not gone and now - c[2] >= every:
                try:
                    c[0].send(b"x")
                    c[2] = now
                except OSError:
                    gone = True
            if gone:
                lifetimes.append(now - c[1])
                c[0].close()
                c[:] = one()
        time.sleep(0.02)
    print("closed_by_server %d max_life_ms %d" % (
        len(lifetimes), int(max(lifetimes) * 1000) if lifetimes else -1), flush=True)


def flood(port, addr, count, secs):
    """count connections from addr opened at once, sending nothing."""
    socks = []
    for _ in range(count):
        try:
            socks.append(connect_nb(addr, port))
        except OSError:
            break
    print("flooding", len(socks), flush=True)
    time.sleep(secs)
    print("flooded", len(socks), flush=True)


def probe(port, addr, tries, gap_ms):
    """GET /readyz from addr, each within 1 s, one line per try."""
    ms = []
    for i in range(tries):
        t0 = time.monotonic()
        what = "timeout"
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1, source_address=(addr, 0))
            s.settimeout(max(0.001, 1 - (time.monotonic() - t0)))
            s.sendall(PROBE)
            buf = b""
            while b"\r\n" not in buf:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
            s.close()
            took = (time.monotonic() - t0) * 1000
            what = buf.split(b"\r\n")[0].decode("latin-1") or "closed"
            if buf.startswith(b"HTTP/1.1 200") and took <= 1000:
                ms.append(took)
        except socket.timeout:
            pass
        except OSError as e:
            what = e.__class__.__name__
        print("try %d: %s" % (i, what), flush=True)
        time.sleep(gap_ms / 1000)
    ms.sort()
    print("answered %d of %d median_ms %.1f" % (len(ms), tries, ms[len(ms) // 2] if ms else -1),
          flush=True)


def raw(port, data):
    """Sends data, prints the status line and the ms until the close."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(data)
    buf = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            buf += d
    except OSError:
        pass
    print("%s | closed_ms %d" % (buf.split(b"\r\n")[0].decode("latin-1") or "nothing",
                                 (time.monotonic() - t0) * 1000), flush=True)


def listeners(secs):
    """Listening sockets that come and go, as other containers' do."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        time.sleep(0.3)
        s.close()
        time.sleep(0.1)


a = sys.argv
if a[1] == "hold":
    hold(int(a[2]), float(a[3]), int(a[4]), HALF, a[5:])
elif a[1] == "idle":
    hold(int(a[2]), float(a[3]), int(a[4]), b"", a[5:])
elif a[1] == "trickle":
    trickle(int(a[2]), float(a[3]), int(a[4]), a[5], float(a[6]))
elif a[1] == "flood":
    flood(int(a[2]), a[3], int(a[4]), float(a[5]))
elif a[1] == "probe":
    probe(int(a[2]), a[3], int(a[4]), int(a[5]))
elif a[1] == "raw":
    raw(int(a[2]), a[3].encode("latin-1").decode("unicode_escape").encode("latin-1"))
elif a[1] == "listeners":
    listeners(float(a[2]))
PY
# timeout passes a TERM on to python: kill "$BG_PID" ends the client.
HOSTILE=(timeout 30 python3 "$WORK/hostile.py")
hostile() { "${HOSTILE[@]}" "$@"; }
# figures FILE: the last line of FILE (a mode's figures).
figures() { tail -n1 "$1"; }
# answered FILE: how many probes of FILE were answered 200 within 1 s.
answered() { figures "$1" | awk '/^answered/ { print $2 }'; }
comment_tries() { grep -E '^try ' "$1" | grep -v ': HTTP/1.1 200' | head -n 5 | sed 's/^/# /'; }

start_served h --drain-on TERM
P=$h_PROBE

# --- 1. half-sent requests from 16 other addresses --------------------------
# 16 pods (127.0.1.1..16) each keep 16 connections open with the request
# half-sent, as many as allowed, replacing those closed; the kubelet
# (127.0.0.2) probes 20 times.
addrs=$(for i in $(seq 1 16); do echo 127.0.1.$i; done)
start_bg "$WORK/hold.out" "${HOSTILE[@]}" hold "$P" 12 16 $addrs
HOLD=$BG_PID
wait_until 5000 has_line '^holding' "$WORK/hold.out"
hostile probe "$P" 127.0.0.2 20 100 >"$WORK/probe1.out"
echo "# half-sent: kubelet $(figures "$WORK/probe1.out")"
comment_tries "$WORK/probe1.out"
n=$(answered "$WORK/probe1.out")
check "half-sent from 16 addresses: the kubelet's probe answered within 1 s (${n:-0} of 20, >= 19)" \
	[ "${n:-0}" -ge 19 ]
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null

# --- 2. headers trickled from the probe's own address ----------------------
# 16 connections from 127.0.0.6 (a mesh proxy's: every client's) each
# sending a header byte every 4 s, replaced when closed; probes from the
# same address meanwhile.
start_bg "$WORK/trickle.out" "${HOSTILE[@]}" trickle "$P" 6 16 127.0.0.6 4
TRICKLE=$BG_PID
wait_until 5000 has_line '^trickling' "$WORK/trickle.out"
hostile probe "$P" 127.0.0.6 10 300 >"$WORK/probe2.out"
wait_until 10000 gone "$TRICKLE"
wait "$TRICKLE" 2>/dev/null
t=$(figures "$WORK/trickle.out")
echo "# trickle: $t; probes from 127.0.0.6: $(figures "$WORK/probe2.out")"
comment_tries "$WORK/probe2.out"
closed=$(awk '{ print $2 }' <<<"$t")
life=$(awk '{ print $4 }' <<<"$t")
check "trickled heads: the server closes each (${closed:-0} closed in 6 s, >= 16)" \
	[ "${closed:-0}" -ge 16 ]
check "...within the head deadline, whatever trickles (longest ${life:-?} ms, <= 3000)" \
	between "${life:--1}" 0 3000
n=$(answered "$WORK/probe2.out")
check "...and probes from the same address are answered within 1 s (${n:-0} of 10, >= 9)" \
	[ "${n:-0}" -ge 9 ]

# --- 3. a flood of connections from one address ----------------------------
# 3000 connections at once from 127.0.1.100, sending nothing; probes from
# that address while they come in.
start_bg "$WORK/flood.out" "${HOSTILE[@]}" flood "$P" 127.0.1.100 3000 4
FLOOD=$BG_PID
wait_until 10000 has_line '^flooding' "$WORK/flood.out"
hostile probe "$P" 127.0.1.100 10 100 >"$WORK/probe3.out"
echo "# flood: $(head -n1 "$WORK/flood.out"); probes from the same address: $(figures "$WORK/probe3.out")"
comment_tries "$WORK/probe3.out"
n=$(answered "$WORK/probe3.out")
check "3000 connections from one address: its probes answered within 1 s (${n:-0} of 10, >= 9)" \
	[ "${n:-0}" -ge 9 ]
kill "$FLOOD" 2>/dev/null
wait "$FLOOD" 2>/dev/null

# --- 4. a line that is no request ------------------------------------------
# answer_is CODE RAW: RAW's status line is CODE and the connection closed
# within 500 ms.
answer_is() { grep -q "^HTTP/1.1 $1 " <<<"$2" && between "$(grep -oE '[0-9]+$' <<<"$2")" 0 500; }
r=$(hostile raw "$P" 'GARBAGE\r\n\r\n')
check "a line that is no request gets a 400 and a close at once ($r)" answer_is 400 "$r"
r=$(hostile raw "$P" '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03')
check "so does a TLS handshake, at its first byte ($r)" answer_is 400 "$r"
big=$(head -c 9000 /dev/zero | tr '\0' a)
r=$(hostile raw "$P" "GET /readyz HTTP/1.1\\r\\nX-Big: $big\\r\\n\\r\\n")
check "a head past the limit gets a 431 ($r)" grep -q '^HTTP/1.1 431 ' <<<"$r"
r=$(hostile raw "$P" 'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
check "a whole request after all that: 200 ($r)" grep -q '^HTTP/1.1 200 ' <<<"$r"
kill -TERM "$h_PID"
wait_exit "$h_NS" 10000
check "lastcall exits with the app's code after all that (got $CODE)" [ "$CODE" = 0 ]

# --- 5. out of file descriptors ---------------------------------------------
# Readiness follows the ports found; a scan that could not look (EMFILE)
# must keep them, never say "none". First with exactly one descriptor
# free (the /proc scan gets its directory but no file in it) while
# listening sockets come and go in the namespace (each change rescans);
# then at RLIMIT_NOFILE 24 with 40 connections to the probe port.
start_served f --drain-on TERM
F=$f_PROBE
check "the app's port is found: ready" wait_until 5000 ready_ok "$F"
free_fds() {
	local i first=
	for i in $(seq 0 1024); do
		[ -e "/proc/$f_PID/fd/$i" ] && continue
		[ -z "$first" ] && { first=$i; continue; }
		echo "$first $i"
		return
	done
}
read -r one two <<<"$(free_fds)"
prlimit --pid "$f_PID" --nofile="$two": # only fd $one is free
echo "# fds: one free ($one), limit $two"
# poll_ready N OUT: N GETs /readyz, paced 200 ms apart as a prober would;
# counts by answer.
poll_ready() {
	local i c ok=0 no=0 fail=0
	for i in $(seq 1 "$1"); do
		c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$F/readyz")
		case $c in 200) ok=$((ok + 1)) ;; 503) no=$((no + 1)) ;; *) fail=$((fail + 1)) ;; esac
		sleep 0.2
	done
	echo "200=$ok 503=$no failed=$fail" >"$2"
}
start_bg "$WORK/listeners.out" "${HOSTILE[@]}" listeners 5
LST=$BG_PID
poll_ready 20 "$WORK/ready1.out"
wait "$LST" 2>/dev/null
echo "# one fd free: /readyz $(cat "$WORK/ready1.out"); log: $(grep -cE 'event=sample_failed' "$WORK/f.log") sample_failed"
check "one fd free: the ports are never taken for none" \
	[ "$(count_lines 'event=ports ports=none' "$WORK/f.log")" = 0 ]
check "...and /readyz never says not ready ($(cat "$WORK/ready1.out"))" grep -q ' 503=0 ' "$WORK/ready1.out"
check "...and answers ($(cat "$WORK/ready1.out"))" grep -qE '^200=(1[5-9]|20) ' "$WORK/ready1.out"

prlimit --pid "$f_PID" --nofile=24:
start_bg "$WORK/idle.out" "${HOSTILE[@]}" idle "$F" 8 40 127.0.1.200
IDLE=$BG_PID
wait_until 5000 has_line '^holding' "$WORK/idle.out"
start_bg "$WORK/listeners2.out" "${HOSTILE[@]}" listeners 5
LST=$BG_PID
cpu() { awk '{ print $14 + $15 }' "/proc/$f_PID/stat"; }
cpu0=$(cpu) t0=$(now_ms)
poll_ready 20 "$WORK/ready2.out"
# The exec probe's way: the control socket, which must not starve either.
probes=0
for i in $(seq 1 10); do
	timeout 2 "$LASTCALL" probe --control "$WORK/f.sock" ready >/dev/null 2>&1 && probes=$((probes + 1))
	sleep 0.2
done
cpu_pct=$((($(cpu) - cpu0) * 1000 / ($(now_ms) - t0)))
wait "$LST" 2>/dev/null
kill "$IDLE" 2>/dev/null
wait "$IDLE" 2>/dev/null
echo "# nofile 24, 40 connections: /readyz $(cat "$WORK/ready2.out"); lastcall probe $probes of 10; lastcall's CPU ${cpu_pct}%; log: $(grep -cE 'event=sample_failed' "$WORK/f.log") sample_failed"
check "nofile 24 and 40 connections: the ports are never taken for none" \
	[ "$(count_lines 'event=ports ports=none' "$WORK/f.log")" = 0 ]
check "...and /readyz never says not ready ($(cat "$WORK/ready2.out"))" grep -q ' 503=0 ' "$WORK/ready2.out"
check "...and answers ($(cat "$WORK/ready2.out"))" grep -qE '^200=(1[5-9]|20) ' "$WORK/ready2.out"
check "...and so does lastcall probe, on the control socket ($probes of 10, >= 9)" [ "$probes" -ge 9 ]
kill -TERM "$f_PID"
wait_exit "$f_NS" 10000
check "lastcall exits with the app's code (got $CODE)" [ "$CODE" = 0 ]

done_testing
