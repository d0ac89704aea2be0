# SPDX-License-Identifier: ISC
# lib.sh: the black-box test harness, sourced by tests/blackbox/*.sh.
#
# Each test file runs its programs under the real tcpserver on 127.0.0.1
# (an ephemeral port), drives them with tests/smtpclient.py or swaks, and
# records one line per case: "ok - NAME" or "not ok - NAME".
# Every process a test starts is killed by PID when the file ends.
#
# A case reads as a transcript (the script language is at the top of
# tests/smtpclient.py):
#
#   serve_exim basic "$SRC/rcptcheck"           # a chain with an exim tail
#   maildir_mark
#   check "unknown user: 550" client "$PORT" "
#   hello
#   mail <s@elsewhere.test>
#   rcpt <nosuch@example.test> 550
#   quit
#   expect-log ^rcptcheck: reject ip=127\.0\.0\.1 "
#   check "nothing delivered" maildir_still 0

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

# check NAME CMD...: the case passes when CMD exits 0. A failure shows
# what CMD printed (for the client: the transcript, then the step that
# differed); of a long output, the first 20 and the last 100 lines.
check() {
  local name=$1; shift
  if "$@" > "$T/check.out" 2>&1; then ok "$name"; return; fi
  not_ok "$name"
  local n; n=$(wc -l < "$T/check.out")
  if [ "$n" -le 130 ]; then sed 's/^/    # /' "$T/check.out"
  else
    head -n 20 "$T/check.out" | sed 's/^/    # /'
    echo "    # ... ($((n - 120)) lines left out)"
    tail -n 100 "$T/check.out" | sed 's/^/    # /'
  fi
}

# wait_for N CMD...: retries CMD every 50 ms, at most N times.
wait_for() {
  local n=$1 i; shift
  for i in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done
  return 1
}

# redis_start NAME [DIRECTIVE...]: Debian's redis-server on the private
# unix socket $T/NAME.sock (no TCP port unless a directive gives one), no
# persistence, its log $T/NAME.redis; its configuration a file (so that a
# password is on no command line), each DIRECTIVE one more line of it.
# Sets RPID and adds it to PIDS (stopped by PID at the end). Ready when it
# answers PING (redis-cli reads a password from REDISCLI_AUTH, if set).
redis_start() {
  local name=$1 d; shift
  rm -f "$T/$name.sock"
  {
    printf 'port 0\nunixsocket %s\nunixsocketperm 700\n' "$T/$name.sock"
    printf 'save ""\nappendonly no\ndir %s\nlogfile %s\n' "$T" "$T/$name.redis"
    for d in "$@"; do printf '%s\n' "$d"; done
  } > "$T/$name.conf"
  redis-server "$T/$name.conf" &
  RPID=$!
  PIDS+=("$RPID")
  wait_for 100 test -S "$T/$name.sock" &&
    wait_for 100 sh -c "redis-cli -s '$T/$name.sock' ping 2>/dev/null | grep -q PONG"
}

# needs_root WHY: the rest of this file needs root (WHY, e.g. "exim -C").
# As another user the file ends here with status 77 and one line
# "# skip: needs root (WHY)", which tests/run gathers into its list of
# skipped files; called after a case already ran, that is a failure.
needs_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  if [ $((NPASS + NFAIL)) -gt 0 ]; then
    not_ok "needs root ($1) after its first cases: call needs_root before them"
    exit 1
  fi
  echo "# skip: needs root ($1)"
  exit 77
}

# make_var EXPR [VAR=value...]: the value of EXPR (e.g. '$(PROGS)') in the
# top Makefile, on one line. Run from $TOP. The inner make forgets the
# outer one's flags (under make check from a make, e.g. dh_auto_test, it
# would print "Entering directory" lines into the value).
make_var() {
  local e=$1; shift
  printf 'include Makefile\nprint-var: ; @echo %s\n' "$e" |
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -f - print-var "$@"
}

# finish: the last line of every test file.
finish() {
  echo "# $(basename "$0"): $NPASS passed, $NFAIL failed"
  [ "$NFAIL" -eq 0 ]
}

# ---- servers

# serve NAME CMD...: starts "tcpserver 127.0.0.1 0 CMD..." with stderr in
# $T/NAME.log; sets PORT, SERVER_PID and LOG (that log: what the client's
# expect-log steps read). Extra tcpserver options may come from
# TCPSERVER_OPTS (e.g. "-x rules.cdb").
serve() {
  local name=$1; shift
  local portfile="$T/$name.port" i
  LOG=$T/$name.log
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

# serve_exim NAME CMD...: serve a chain CMD... that ends in the private
# exim (exim_tail first).
serve_exim() { local name=$1; shift; serve "$name" "$@" "${EXIM[@]}"; }

# stop_server PID: kills one server and waits for it.
stop_server() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 0; }

# ---- the scripted client and the logs

# client [--timeout S] [--source ADDR] [--quiet] PORT SCRIPT-TEXT: runs the
# scripted client against PORT, transcript on stdout; its log steps read $LOG.
client() {
  local opts=()
  while :; do
    case $1 in
      --timeout|--source) opts+=("$1" "$2"); shift 2 ;;
      --*) opts+=("$1"); shift ;;
      *) break ;;
    esac
  done
  $CLIENT "${opts[@]}" --port "$1" ${LOG:+--log "$LOG"} - <<< "$2"
}

# message_steps FILE [RCPT] [SENDER]: the client steps of one message that
# must be accepted: MAIL FROM:<SENDER>, RCPT TO:<RCPT>, FILE as DATA, then
# QUIT (postmaster@example.test from sender@example.test by default).
message_steps() {
  printf 'mail <%s>\nrcpt <%s>\nmessage %s\nquit' "${3:-sender@example.test}" "${2:-postmaster@example.test}" "$1"
}

# logs NAME|FILE SCRIPT-TEXT: the client's log steps alone, no connection,
# against $T/NAME.log (a NAME given to serve) or FILE (a path with a /).
logs() {
  local f=$1
  case $f in */*) ;; *) f=$T/$f.log ;; esac
  $CLIENT --log "$f" - <<< "$2"
}

# ---- the tail

# exim_settings HOSTNAME DIR: the main settings every private exim of the
# tests starts with (no DNS, no ident, nothing of the environment kept;
# its spool and log under DIR).
exim_settings() {
  cat <<CONF
primary_hostname = $1
spool_directory = $2/spool
log_file_path = $2/log/%slog
exim_user = Debian-exim
exim_group = Debian-exim
keep_environment =
never_users =
host_lookup =
rfc1413_hosts =
CONF
}

# exim_sender DIR PORT [OPTION...]: a private exim in DIR, as a sending
# MTA: every message goes to 127.0.0.1:PORT over SMTP (each OPTION one
# more line of its smtp transport), a deferred one is retried after a
# minute by its own queue run. DIR/conf is its -C file.
exim_sender() {
  local d=$1 port=$2 o
  shift 2
  mkdir -p "$d/spool" "$d/log"
  chown -R Debian-exim: "$d"
  { exim_settings sender.test "$d"
    cat <<CONF
begin routers
out:
  driver = manualroute
  route_list = * 127.0.0.1
  self = send
  transport = smtp
begin transports
smtp:
  driver = smtp
  port = $port
  allow_localhost
CONF
    for o in "$@"; do printf '  %s\n' "$o"; done
    printf 'begin retry\n* * F,1m,1m\n'
  } > "$d/conf"
}

# exim_tail: prepares a private exim (no daemon, no DNS) that delivers
# everything into $MAILDIR; EXIM is the command to put at the end of a
# chain. exim must start as root and own its spool, log and Maildir.
exim_tail() {
  needs_root "exim -C"
  local d="$T/exim"
  mkdir -p "$d/spool" "$d/log" "$d/Maildir/new" "$d/Maildir/cur" "$d/Maildir/tmp"
  chown -R Debian-exim: "$d/spool" "$d/log" "$d/Maildir"
  { exim_settings tail.test "$d"; cat <<CONF; } > "$d/conf"
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

# ---- what the tail received: exim's Maildir and spool

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

# maildir_got FILE: within 5 s, some message equals FILE (as maildir_has).
maildir_got() { wait_for 100 maildir_has "$1" || { echo "# no message equals $1"; return 1; }; }

# maildir_mark: remember how many messages are there now; the counts
# below are of messages that arrived since.
maildir_mark() { MAILDIR_MARK=$(maildir_count); }
maildir_since() { echo $(($(maildir_count) - MAILDIR_MARK)); }
# maildir_now N: exactly N since the mark, now.
maildir_now() { [ "$(maildir_since)" -eq "$1" ]; }
# maildir_new N [FILE...]: within 5 s, exactly N since the mark, FILE...
# among all messages (as maildir_has).
maildir_new() {
  local n=$1 f; shift
  wait_for 100 maildir_now "$n" || { echo "# $(maildir_since) new messages, want $n"; return 1; }
  for f in "$@"; do maildir_has "$f" || { echo "# no message equals $f"; return 1; }; done
}
# maildir_atleast N: within 5 s, N or more since the mark.
maildir_atleast() {
  wait_for 100 maildir_over $(($1 - 1)) || { echo "# $(maildir_since) new messages, want $1 or more"; return 1; }
}
maildir_over() { [ "$(maildir_since)" -gt "$1" ]; }
# maildir_still N: a second later, still exactly N since the mark (nothing
# extra, no late copy).
maildir_still() {
  sleep 1
  maildir_now "$1" || { echo "# $(maildir_since) new messages, want $1"; return 1; }
}

# nothing_queued: no message waits in exim's spool (no header file).
nothing_queued() { ! find "$T/exim/spool/input" -name '*-H' 2>/dev/null | grep -q .; }

# ---- messages and logs

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
