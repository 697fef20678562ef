#!/bin/sh
# Check by hand that the live view renders in a real terminal, and that Ctrl-C restores it.
#
# Runs `bkjob-async demo` inside a private tmux server, prints the screen mid-run at 80x24 and
# at 200x50 (the live panel: connection, progress bar, job and host counts, req/s, the job
# waiting for a confirmation with its command, latest transitions), then the final screen
# (summary tables, retry round), then repeats with a Ctrl-C mid-run (partial summary, exit 130,
# cursor visible again). tests/cli/test_terminal.py automates the same checks.
#
# It waits for what it shows, never for a fixed time, and prints the screen when something
# does not appear (it used to wait for text the view no longer draws, and for one fixed size).
#
# Usage: scripts/check-live-view.sh            (from the repository root, after `make demo` once)
#        PYTHON=python3 scripts/check-live-view.sh
set -eu

PYTHON=${PYTHON:-.venv/bin/python}
SOCKET="bkjob-live-check-$$"
command -v tmux >/dev/null || { echo "tmux is needed: apt-get install -y tmux" >&2; exit 2; }
unset TMUX
trap 'tmux -L "$SOCKET" kill-server 2>/dev/null || true' EXIT

run() { # run WIDTH HEIGHT ARGS...: start the demo in a pane that stays open after it exits
  width=$1 height=$2
  shift 2
  tmux -L "$SOCKET" kill-session -t check 2>/dev/null || true
  env -u BKJOB_URL TERM=xterm-256color tmux -L "$SOCKET" new-session -d -s check \
    -c "$PWD" -x "$width" -y "$height" \
    "$PYTHON -m bkjob_async.cli demo $*; echo EXIT=\$?; sleep 300"
}
screen() { tmux -L "$SOCKET" capture-pane -p -t check "$@"; }
wait_for() { # wait_for TEXT SECONDS: until the screen (and its history) shows TEXT
  i=0
  while ! screen -S - | grep -q -- "$1"; do
    i=$((i + 1))
    if [ "$i" -gt $(($2 * 10)) ]; then
      echo "timed out after $2 s waiting for: $1; the screen:" >&2
      screen -S - >&2
      exit 1
    fi
    sleep 0.1
  done
}
cursor() { tmux -L "$SOCKET" display-message -p -t check '#{cursor_flag}'; }

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

echo "== 4. Ctrl-C mid-run =="
run 110 45 --jobs 10 --hosts 5 --host-duration 20 30
wait_for "→ RUNNING" 30
echo "cursor visible while drawing: $(cursor)"
tmux -L "$SOCKET" send-keys -t check C-c
wait_for "EXIT=" 30
screen -S - | tail -25
echo "cursor visible after Ctrl-C: $(cursor)"
