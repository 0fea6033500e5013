"""Children that tests signal start with default signal dispositions.

A suite started in the background (``nohup``, ``cmd &`` in a script, some CI runners) inherits
SIGINT as ignored, and ``subprocess`` passes an ignored signal on to every child: Python then
installs no ``KeyboardInterrupt`` handler and a test's SIGINT to its child does nothing. Every
test that signals a child starts it with ``preexec_fn=default_signals``.
"""

from __future__ import annotations

import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def default_signals() -> None:
    """In the child, before exec: SIGINT and SIGTERM back to their defaults, none blocked."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
