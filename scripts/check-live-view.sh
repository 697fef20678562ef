#!/bin/sh
# Check by hand that the live view renders in a real terminal, and that Ctrl-C restores it.
#
# Runs `bkjob-async demo` inside a private tmux server, prints the screen mid-run (the live
# panel: progress bar, job and host counts, req/s, latest transitions), then the final screen
# (summary tables, retry round), then repeats with a Ctrl-C mid-run (partial summary, exit 130,
# cursor visible again). tests/cli/test_terminal.py automates the same check.
#
# Usage: scripts/check-live-view.sh            (from the repository root, after `make demo` once)
#        PYTHON=python3 scripts/check-live-view.sh
set -eu

PYTHON=${PYTHON:-.venv/bin/python}
SOCKET="bkjob-live-check-$$"
command -v tmux >/dev/null || { echo "tmux is needed: apt-get install -y tmux" >&2; exit 2; }
trap 'tmux -L "$SOCKET" kill-server 2>/dev/null || true' EXIT

run() { # run ARGS...: start the demo in a 110x45 pane that stays open after it exits
  tmux -L "$SOCKET" kill-session -t check 2>/dev/null || true
  tmux -L "$SOCKET" new-session -d -s check -x 110 -y 45 \
    "$PYTHON -m bkjob_async.cli demo $*; echo EXIT=\$?; sleep 120"
}
wait_for() { # wait_for TEXT SECONDS
  i=0
  until tmux -L "$SOCKET" capture-pane -p -S - -t check | grep -q -- "$1"; do
    i=$((i + 1)); [ "$i" -gt $(($2 * 10)) ] && { echo "timed out waiting for: $1" >&2; exit 1; }
    sleep 0.1
  done
}
screen() { tmux -L "$SOCKET" capture-pane -p -t check "$@"; }
cursor() { tmux -L "$SOCKET" display-message -p -t check '#{cursor_flag}'; }

echo "== 1. the live view, mid-run =="
run --jobs 50 --hosts 20 --host-duration 2 5
wait_for "Latest transitions" 20
sleep 1
screen
echo "== 2. the end: summary and the retry round =="
wait_for "EXIT=" 60
screen -S -
echo "cursor visible: $(cursor)"

echo "== 3. Ctrl-C mid-run =="
run --jobs 10 --hosts 5 --host-duration 20 30
wait_for "RUNNING(7)" 20
echo "cursor visible while drawing: $(cursor)"
tmux -L "$SOCKET" send-keys -t check C-c
wait_for "EXIT=" 20
screen -S - | tail -25
echo "cursor visible after Ctrl-C: $(cursor)"
