#!/bin/sh
# Check by hand that the live view renders in a real terminal, and that Ctrl-C restores it.
#
# Runs `bkjob-async demo` inside a private tmux server, prints the screen mid-run at 80x24 and
# at 200x50 (the live panel: connection, progress bar, job and host counts, req/s, the job
# waiting for a confirmation with its command, latest transitions), then the final screen
# (summary tables, retry round), then repeats with a Ctrl-C mid-run (partial summary, exit 130,
# cursor visible again). Then an outage: `watch` follows jobs of a `simulate` in another tmux
# window; the simulator is frozen (SIGSTOP: it answers nothing), the header must say "bk-job
# unreachable since HH:MM:SS" with the engine's log line above the panel, never through it;
# the simulator is thawed (SIGCONT) and the header must clear at the first good answer (within
# 3 s: one probe, at most --max-interval apart). tests/e2e/test_cli_terminal.py and
# tests/e2e/test_cli_outage.py automate the same checks.
#
# It waits for what it shows, never for a fixed time, and prints the screen when something
# does not appear (it used to wait for text the view no longer draws, and for one fixed size).
# It fails (exit 1) when a check fails: the cursor left hidden, the header not cleared.
#
# Usage: scripts/check-live-view.sh            (from the repository root, after `make demo` once)
#        PYTHON=python3 scripts/check-live-view.sh
set -eu

PYTHON=${PYTHON:-.venv/bin/python}
SOCKET="bkjob-live-check-$$"
command -v tmux >/dev/null || { echo "tmux is needed: apt-get install -y tmux" >&2; exit 2; }
unset TMUX
SIM_PID= SIM_LOG=
cleanup() {
  tmux -L "$SOCKET" kill-server 2>/dev/null || true
  if [ -n "$SIM_PID" ]; then kill -CONT "$SIM_PID" 2>/dev/null; kill "$SIM_PID" 2>/dev/null; fi
  if [ -n "$SIM_LOG" ]; then rm -f "$SIM_LOG"; fi
  true
}
trap cleanup EXIT

run() { # run WIDTH HEIGHT ARGS...: start the demo in a pane that stays open after it exits
  width=$1 height=$2
  shift 2
  command_in "$width" "$height" "$PYTHON -m bkjob_async.cli demo $*"
}
command_in() { # command_in WIDTH HEIGHT COMMAND: run a shell command in a fresh pane
  tmux -L "$SOCKET" kill-session -t check 2>/dev/null || true
  env -u BKJOB_URL TERM=xterm-256color tmux -L "$SOCKET" new-session -d -s check \
    -c "$PWD" -x "$1" -y "$2" "$3; echo EXIT=\$?; sleep 300"
}
TARGET=check
screen() { tmux -L "$SOCKET" capture-pane -p -t "$TARGET" "$@"; }
fail() { # fail MESSAGE: print it and the screen, then exit 1
  echo "FAILED: $1; the screen:" >&2
  screen -S - >&2
  exit 1
}
wait_for() { # wait_for TEXT SECONDS: until the screen (and its history) shows TEXT
  i=0
  while ! screen -S - | grep -q -- "$1"; do
    i=$((i + 1))
    [ "$i" -le $(($2 * 10)) ] || fail "timed out after $2 s waiting for: $1"
    sleep 0.1
  done
}
cursor() { tmux -L "$SOCKET" display-message -p -t check '#{cursor_flag}'; }
now_ms() { date +%s%3N; } # GNU date

DEMO="--jobs 20 --hosts 10 --fail-rate 0.03 --host-duration 1 3"

echo "== 1. the live view at 80x24, mid-run (a job waits for a confirmation) =="
run 80 24 "$DEMO"
wait_for "bkjob-async operate" 30
sleep 0.3 # let the frame being drawn finish
screen
echo "== 2. the live view at 200x50, mid-run =="
run 200 50 "$DEMO"
wait_for "bkjob-async operate" 30
sleep 0.3
screen
echo "== 3. the end: summary and the retry round =="
wait_for "EXIT=" 60
screen -S - | tail -40
echo "cursor visible: $(cursor)"
[ "$(cursor)" = 1 ] || fail "the cursor is hidden after the demo"

echo "== 4. Ctrl-C mid-run =="
run 110 45 --jobs 10 --hosts 5 --host-duration 20 30
wait_for "→ RUNNING" 30
echo "cursor visible while drawing: $(cursor)"
tmux -L "$SOCKET" send-keys -t check C-c
wait_for "EXIT=" 30
screen -S - | tail -25
echo "cursor visible after Ctrl-C: $(cursor)"
[ "$(cursor)" = 1 ] || fail "the cursor is hidden after Ctrl-C"
screen -S - | grep -q "EXIT=130" || fail "Ctrl-C did not exit with status 130"

echo "== 5. an outage: bk-job stops answering, then answers again =="
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SIM_LOG=$(mktemp)
# In the background, not in a tmux pane: tmux sends SIGCONT to a pane's process it sees stopped.
"$PYTHON" -m bkjob_async.cli simulate --port "$PORT" --jobs 6 --hosts 3 --duration 120 180 \
  >"$SIM_LOG" 2>&1 &
SIM_PID=$!
i=0
until grep -q "BKJOB_URL=http://127.0.0.1:$PORT" "$SIM_LOG"; do
  i=$((i + 1))
  [ "$i" -le 300 ] || { cat "$SIM_LOG" >&2; fail "the simulator did not start"; }
  sleep 0.1
done
# The README's environment, and jobs 10004-10006 (hosts running for minutes); fast polls and a
# 1 s timeout, so the outage shows within seconds.
command_in 80 24 "BKJOB_URL=http://127.0.0.1:$PORT BKJOB_SCOPE=biz:2 BKJOB_APP_CODE=demo \
  BKJOB_APP_SECRET=demo BKJOB_USERNAME=admin $PYTHON -m bkjob_async.cli \
  watch 10004 10005 10006 --interval 0.2 --max-interval 0.5 --timeout 1"
wait_for "RUNNING" 30
kill -STOP "$SIM_PID"
echo "simulator frozen (SIGSTOP) at $(date +%T)"
wait_for "bk-job unreachable since" 30
sleep 1 # a few failed probes, to see that the view holds
screen
screen | grep -q "^│ bk-job *bk-job unreachable since" || fail "no outage header in the panel"
screen -S - | grep -q "^WARNING bkjob_async.polling: bk-job cannot be reached" \
  || fail "the engine's log line is not above the panel"
[ "$(screen | grep -c "^╭─ bkjob-async watch")" = 1 ] || fail "the panel is drawn twice (broken)"
kill -CONT "$SIM_PID"
thawed=$(now_ms)
echo "simulator thawed (SIGCONT) at $(date +%T)"
i=0
while screen | grep -q "bk-job unreachable since"; do
  i=$((i + 1))
  [ "$i" -le 100 ] || fail "the outage header is still there 10 s after bk-job answers again"
  sleep 0.05
done
cleared=$(( $(now_ms) - thawed ))
screen
echo "the header cleared ${cleared} ms after bk-job answered again"
[ "$cleared" -le 3000 ] || fail "the header cleared ${cleared} ms after the first answer (> 3 s)"
screen | grep -q "^│ bk-job *http://127.0.0.1:$PORT" || fail "the header does not name bk-job again"
tmux -L "$SOCKET" send-keys -t check C-c
wait_for "EXIT=130" 30
echo "== all checks passed =="
