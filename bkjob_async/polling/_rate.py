"""Rule: rate control is pure: every method takes ``now``; nothing here reads a clock or sleeps.

The local ``RateGovernor``: a paced token bucket cut on throttling and probed back up. The driver
(``_driver``) counts requests and answers and hands them over, asks ``take``/``wait`` before each
poll, and feeds back what bk-job said (``throttled``, ``succeeded``, ``hint``).
"""

from __future__ import annotations

import math

from .._protocol import parse_retry_after  # (the one reader of Retry-After, for the engine)

__all__ = ["BETA", "MAX_PAUSE", "MIN_RATE", "RECOVER", "RateGovernor", "parse_retry_after"]


# --- rate ----------------------------------------------------------------------------------------
#
# Rate control that converges: a paced token bucket cut on throttling and probed back up; pure.
#
# Every method takes ``now``; nothing here reads a clock or sleeps, so tests drive it on any
# timeline. The rules, from TCP (RFC 5681, RFC 9002 §7.3.2, RFC 9438) and botocore's adaptive mode:
#
# - Off until the first throttle (or on from the start at ``PollPolicy.rate_limit``).
# - A throttle (HTTP 429, ESB 1306429, Job's quota) cuts the rate to ``BETA`` (0.7) of the
#   goodput (answers that were not throttles, per second, measured over the last second or so),
#   **at most once per round trip**: a 429 cuts only if its request was sent after the last cut,
#   so a burst of 429s from requests already in flight is one signal. A rate already below that
#   stays: the rest of a spent window refusing round after round does not compound the cut,
#   while a server that goes on refusing makes the goodput, and so the rate, fall sample by
#   sample (to ``MIN_RATE`` at least).
# - Back from an outage (``resumed``), the outage is left out of the samples, and a throttle
#   before the first sample after it cuts nothing: bk-job answered nothing while down, which
#   says nothing of what it admits, and the polls that catch up are not a rate we chose.
# - Then the rate grows back on a cubic curve: to the rate it was cut from in ``RECOVER``
#   seconds (concave, quick at first), then beyond it (convex, probing slowly at first). Growth is
#   capped at twice the measured send rate, so an idle poller does not build up a rate it never
#   used, and by ``rate_limit``.
# - Server hints: ``Retry-After`` pauses every request until it passes. ``X-Bkapi-RateLimit-
#   Remaining``/``-Reset`` cap the rate at what the window still admits. The gateway rounds
#   ``Reset`` up to whole seconds, so the window ends somewhere in ``(Reset - 1, Reset]``: the cap
#   is ``Remaining / (Reset - 1)`` while that window lasts, and a ``Reset`` of 1 caps nothing.
#   ``-Limit`` says nothing about the rate without the window's length, which is not sent.


#: The factor of each cut (CUBIC's beta).
BETA = 0.7


#: Seconds for the rate to grow back to where it was cut from.
RECOVER = 2.0


#: The lowest rate a cut leads to, in requests per second.
MIN_RATE = 1.0


#: Length of one sample of the measured send rate.
_SAMPLE = 0.5


#: Longest pause a ``Retry-After`` can impose.
MAX_PAUSE = 60.0


_EPOCH_LIKE = 1e9  # a Reset this large is a Unix time, not a number of seconds


class RateGovernor:
    """Decide when the next request may go: a token bucket at ``rate`` (``None``: no limit).

    The driver counts requests and answers itself and hands the totals to ``sample`` once per
    ``sample_due`` (so each poll pays one comparison); ``take`` spends the allowance of one
    request; ``throttled``, ``succeeded`` and ``hint`` feed back what the server said.
    """

    __slots__ = (
        "_answered",
        "_ceiling",
        "_ceiling_until",
        "_cut_from",
        "_epoch",
        "_good",
        "_last",
        "_last_cut",
        "_mark",
        "_marks",
        "_sent",
        "_settling",
        "_start",
        "_tokens",
        "cuts",
        "limit",
        "paused_until",
        "rate",
        "sample_due",
    )

    def __init__(self, limit: float | None, now: float = 0.0) -> None:
        self.limit = limit
        self.rate = limit
        self.paused_until = -math.inf
        #: How many times the rate was cut.
        self.cuts = 0
        #: When ``sample`` next wants the totals.
        self.sample_due = now + _SAMPLE
        self._tokens = 1.0
        self._answered = False
        self._last: float | None = None
        self._last_cut = -math.inf
        self._cut_from = 0.0
        self._start = 0.0
        self._epoch = -math.inf
        self._ceiling = math.inf
        self._ceiling_until = -math.inf
        self._mark = now
        self._marks = (0, 0)
        self._sent = -1.0  # no full sample yet
        self._good = 0.0
        self._settling = False  # back from an outage, not yet measured

    def start(self, now: float) -> None:
        """Begin measuring at ``now`` (the driver's clock starts when it enters its loop)."""
        self._mark = now
        self.sample_due = now + _SAMPLE

    # --- measuring ----------------------------------------------------------------------------

    def resumed(self, now: float, sent: int, good: int) -> None:
        """bk-job answers again after an outage (the driver's totals so far): measure afresh.

        What it answered while down (nothing) says nothing of what it admits, so the outage is
        left out of the samples, and until the first sample after it a throttle pauses
        (``Retry-After``) but cuts nothing: the rate stays where it was, as does the target.
        """
        self._mark, self._marks = now, (sent, good)
        self._sent = -1.0
        self.sample_due = now + _SAMPLE
        self._settling = True

    def sample(self, now: float, sent: int, good: int) -> None:
        """Take the driver's totals of requests sent and of answers that were not throttles."""
        elapsed = now - self._mark
        if elapsed <= 0.0:
            return
        self._settling = False
        sent_rate = (sent - self._marks[0]) / elapsed
        good_rate = (good - self._marks[1]) / elapsed
        if self._sent < 0.0:
            self._sent, self._good = sent_rate, good_rate
        else:  # half-weight smoothing: two samples (a second) follow a change
            self._sent = 0.5 * (self._sent + sent_rate)
            self._good = 0.5 * (self._good + good_rate)
        self._mark, self._marks = now, (sent, good)
        self.sample_due = now + _SAMPLE

    def _sent_rate(self, now: float, requests: int | None) -> float:
        if self._sent >= 0.0:
            return self._sent
        if requests is None or now <= self._mark:
            return 0.0
        return (requests - self._marks[0]) / (now - self._mark)

    def measured(self) -> float:
        """Return the measured send rate (requests per second; 0 before the first sample)."""
        return max(self._sent, 0.0)

    def goodput(self) -> float:
        """Return the measured rate of answers that were not throttles."""
        return self._good

    # --- pacing -------------------------------------------------------------------------------

    def _refill(self, now: float) -> None:
        rate = self.rate
        if self._last is not None and rate is not None and now > self._last:
            burst = max(1.0, rate / 20.0)
            self._tokens = min(burst, self._tokens + (now - self._last) * rate)
        if self._last is None or now > self._last:
            self._last = now

    def wait(self, now: float) -> float:
        """Return how long until one request may be sent (0: now)."""
        if now < self.paused_until:
            return self.paused_until - now
        if self.rate is None:
            return 0.0
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> bool:
        """Spend the allowance of one request if it may be sent now."""
        if now < self.paused_until:
            return False
        if self.rate is None:
            return True
        self._refill(now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    # --- feedback -----------------------------------------------------------------------------

    def pause(self, now: float, seconds: float) -> None:
        """Hold every request for ``seconds`` (a ``Retry-After``; at most ``MAX_PAUSE``)."""
        if seconds > 0:
            self.paused_until = max(self.paused_until, now + min(seconds, MAX_PAUSE))

    def throttled(
        self,
        now: float,
        sent_at: float,
        answers: int,
        retry_after: float | None = None,
        *,
        requests: int | None = None,
    ) -> bool:
        """Record a throttle of a request sent at ``sent_at``; return whether it cut the rate.

        ``answers`` and ``requests`` are the driver's totals of answers that were not throttles
        and of requests sent (read when no sample was taken yet); ``retry_after`` (the server's
        ``Retry-After``) pauses every request until it passes.
        """
        if retry_after is not None:
            self.pause(now, retry_after)
        if sent_at <= self._last_cut or self._settling:
            # Sent before the last cut: part of the burst that caused it. Or back from an
            # outage with nothing measured yet: no sign that we overload bk-job.
            return False
        # The curve aims back at what the server admitted (goodput), not at what was sent, so
        # a spent window that keeps refusing for many round trips cannot drag the target down.
        good = self._good
        if self._sent < 0.0 and now > self._mark:  # throttled within the first sample
            good = (answers - self._marks[1]) / (now - self._mark)
        current = self._current(now)
        # Cut to BETA of the goodput, or keep a rate already below that: further refusals from
        # the same spent window do not compound; a server that keeps refusing makes the goodput,
        # and so the rate, fall sample by sample.
        start = BETA * good if current is None else min(current, BETA * good)
        # The target (CUBIC's W_max) falls by BETA per cut at most, and only if something got
        # through since the last cut (the rate it reached was still too high). Refusals and
        # nothing else since the last cut (a window spent, a burst of throttling) lower the
        # rate, not the target: once they stop, the rate is back at the target in RECOVER s.
        if self._epoch == -math.inf and good <= 0.0:
            # Refused before anything got through: nothing says what the server admits, so aim
            # back at what was being sent (the first answers will cut it if it is too much).
            target = self._sent_rate(now, requests)
        elif self._answered or self._epoch == -math.inf:
            target = max(good, BETA * self._cut_from)
        else:
            target = max(good, self._cut_from)
        self._cut_from = max(MIN_RATE, target)
        self._answered = False
        self._start = max(MIN_RATE, start)
        self._epoch = self._last_cut = now
        self.rate = self._start
        self.cuts += 1
        self._tokens = min(self._tokens, 1.0)
        self._last = max(now, self.paused_until)
        return True

    def succeeded(self, now: float) -> None:
        """Record an answer that was not a throttle: let the rate grow along its curve."""
        self._answered = True
        rate = self._current(now)
        if rate != self.rate:
            self._refill(now)
            self.rate = rate

    def _current(self, now: float) -> float | None:
        """Return the rate the curve, the caps and the server's ceiling allow at ``now``."""
        if self._epoch == -math.inf:
            rate = self.limit
        else:
            # Cubic around W_max (``_cut_from``): concave from the cut up to W_max at RECOVER,
            # then convex beyond it, as fast as the concave part at the same distance.
            t = (now - self._epoch) / RECOVER - 1.0
            top = self._cut_from
            if t < 0.0:
                rate = top + (top - self._start) * t**3
            else:
                rate = top * (1.0 + (1.0 - BETA) * t**3)
            rate = min(rate, max(2.0 * self._sent, BETA * self._cut_from))
            if self.limit is not None:
                rate = min(rate, self.limit)
            rate = max(rate, MIN_RATE)
        if now < self._ceiling_until:
            rate = self._ceiling if rate is None else min(rate, self._ceiling)
        return rate

    def hint(self, now: float, remaining: str | None, reset: str | None, wall: float) -> None:
        """Apply ``X-Bkapi-RateLimit-Remaining``/``-Reset`` as a ceiling (see the module doc).

        ``wall`` is the Unix time now, for a ``Reset`` sent as an epoch time.
        """
        try:
            left, seconds = float(remaining or ""), float(reset or "")
        except ValueError:
            return
        if seconds > _EPOCH_LIKE:
            seconds -= wall
        if not (math.isfinite(left) and math.isfinite(seconds)) or seconds <= 1.0 or left < 0:
            return
        window = seconds - 1.0
        self._ceiling = max(MIN_RATE, left / window)
        self._ceiling_until = now + window
        if self.rate is None or self.rate > self._ceiling:
            self._refill(now)
            self.rate = self._ceiling
