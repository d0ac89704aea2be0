# lib.sh: the black-box test harness, sourced by tests/blackbox/*.sh.
#
# Each test file runs its programs under the real tcpserver on 127.0.0.1
# (an ephemeral port), drives them with tests/smtpclient.py or swaks, and
# records one line per case: "ok - NAME" or "not ok - NAME".
# Every process a test starts is killed by PID when the file ends.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$TOP/src
CLIENT="python3 $TOP/tests/smtpclient.py"
mkdir -p "$TOP/tests/tmp"
T=$(mktemp -d "$TOP/tests/tmp/$(basename "$0" .sh).XXXXXX")
chmod 755 "$T"
PIDS=()
NPASS=0
NFAIL=0

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

ok() { NPASS=$((NPASS+1)); echo "ok - $*"; }
not_ok() { NFAIL=$((NFAIL+1)); echo "not ok - $*"; }

# check NAME CMD...: the case passes when CMD exits 0.
check() {
  local name=$1; shift
  if "$@" > "$T/check.out" 2>&1; then ok "$name"
  else not_ok "$name"; sed 's/^/    # /' "$T/check.out" | head -40; fi
}

# finish: the last line of every test file.
finish() {
  echo "# $(basename "$0"): $NPASS passed, $NFAIL failed"
  [ "$NFAIL" -eq 0 ]
}

# serve NAME CMD...: starts "tcpserver 127.0.0.1 0 CMD..." with stderr in
# $T/NAME.log; sets PORT and SERVER_PID. Extra tcpserver options may come
# from TCPSERVER_OPTS (e.g. "-x rules.cdb").
serve() {
  local name=$1; shift
  local portfile="$T/$name.port" i
  rm -f "$portfile"
  # shellcheck disable=SC2086
  tcpserver -1 -R -H -l0 -c 200 ${TCPSERVER_OPTS:-} 127.0.0.1 0 "$@" \
    > "$portfile" 2>> "$T/$name.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for i in $(seq 1 100); do
    [ -s "$portfile" ] && break
    sleep 0.05
  done
  PORT=$(head -n1 "$portfile" 2>/dev/null)
  [ -n "$PORT" ] || { echo "# tcpserver did not start: $*"; cat "$T/$name.log"; return 1; }
}

# stop_server PID: kills one server and waits for it.
stop_server() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 0; }

# client PORT SCRIPT-TEXT: runs the scripted client, transcript on stdout.
client() { $CLIENT --port "$1" - <<< "$2"; }

# wait_for N CMD...: retries CMD every 50 ms, at most N times.
wait_for() {
  local n=$1 i; shift
  for i in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done
  return 1
}

# exim_tail: prepares a private exim (no daemon, no DNS) that delivers
# everything into $MAILDIR; EXIM is the command to put at the end of a
# chain. exim must start as root and own its spool, log and Maildir.
exim_tail() {
  local d="$T/exim"
  mkdir -p "$d/spool" "$d/log" "$d/Maildir/new" "$d/Maildir/cur" "$d/Maildir/tmp"
  chown -R Debian-exim: "$d/spool" "$d/log" "$d/Maildir"
  cat > "$d/conf" <<CONF
primary_hostname = tail.test
spool_directory = $d/spool
log_file_path = $d/log/%slog
exim_user = Debian-exim
exim_group = Debian-exim
keep_environment =
never_users =
host_lookup =
rfc1413_hosts =
received_header_text =
message_size_limit = 200M
smtp_accept_max_per_connection = 0
smtp_accept_queue_per_connection = 0
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data
domainlist local_domains = *
begin acl
acl_rcpt:
  accept
acl_data:
  accept
begin routers
all:
  driver = accept
  transport = maildir
begin transports
maildir:
  driver = appendfile
  directory = $d/Maildir
  maildir_format
  delivery_date_add = false
  envelope_to_add = false
  return_path_add = false
  user = Debian-exim
  group = Debian-exim
  mode = 0644
begin retry
* * F,1m,1m
CONF
  MAILDIR="$d/Maildir"
  EXIM=(exim4 -C "$d/conf" -odi -bs)
}

# maildir_count: how many messages arrived.
maildir_count() { find "$MAILDIR/new" "$MAILDIR/cur" -type f 2>/dev/null | wc -l; }

# maildir_has FILE: some delivered message equals FILE with CRLF turned
# into LF (what exim stores), byte for byte.
maildir_has() {
  local want="$T/want.$$" f
  sed 's/\r$//' "$1" > "$want"
  for f in "$MAILDIR"/new/* "$MAILDIR"/cur/*; do
    [ -f "$f" ] && cmp -s "$f" "$want" && return 0
  done
  return 1
}

# message FILE [BODYLINE...]: writes a small RFC 5322 message (CRLF) with
# the headers exim would otherwise add, so what arrives is exactly this.
message() {
  local f=$1; shift
  {
    printf 'From: sender@example.test\r\nTo: postmaster@example.test\r\n'
    printf 'Subject: najimi test %s\r\n' "$RANDOM$RANDOM"
    printf 'Message-ID: <%s.%s@example.test>\r\n' "$$" "$RANDOM$RANDOM"
    printf 'Date: Sun, 22 Nov 2026 12:00:00 +0000\r\n\r\n'
    local l
    for l in "$@"; do printf '%s\r\n' "$l"; done
  } > "$f"
}

# log_has NAME REGEX: some line of $T/NAME.log matches.
log_has() { grep -Eq -- "$2" "$T/$1.log"; }
