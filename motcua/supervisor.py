"""Keeps `motcua run`'s processes running. Each child has a name (temporal, worker-1, api-2…);
one that dies is logged and started again after a pause that doubles while it keeps dying
(1 s, 2 s, 4 s… up to 30 s), and the rest of the stack goes on serving. Ctrl-C or SIGTERM
stops them all."""

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
# A child that had been up this long was not crashing in a loop: its next pause is the first.
STEADY_AFTER = 60.0
# How long the children have, after SIGTERM, to stop before they are killed.
STOP_GRACE = 15.0

Start = Callable[[], subprocess.Popen[bytes]]


@dataclass
class Child:
    name: str
    start: Start
    note: str  # what the banner says of it, besides its pid
    process: subprocess.Popen[bytes]
    started_at: float
    pause: float = FIRST_PAUSE
    # Set while it is down: when it is due to be started again.
    restart_at: float | None = None


def _say(message: str) -> None:
    print(f"• {message}", file=sys.stderr, flush=True)


def _how_it_ended(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def start(self, name: str, start: Start, note: str = "") -> None:
        """Start a child now; if it cannot even start, that is raised (the stack is not up)."""
        self.children.append(Child(name, start, note, start(), time.monotonic()))

    def watch(self) -> None:
        """One look at the children: log those that died, start again those whose pause is
        over."""
        for child in self.children:
            if child.restart_at is not None:
                if time.monotonic() >= child.restart_at:
                    self._restart(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            # A Ctrl-C reaches the children too: give our own handler a moment to see it.
            if self.stopping.wait(0.5):
                return
            if time.monotonic() - child.started_at >= STEADY_AFTER:
                child.pause = FIRST_PAUSE
            _say(
                f"{child.name} (pid {child.process.pid}) {_how_it_ended(code)}; "
                f"starting it again in {child.pause:.0f} s"
            )
            self._pause(child)

    def run_until_stopped(self) -> None:
        """Watch the children until Ctrl-C or SIGTERM."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        while not self.stopping.wait(0.5):
            self.watch()

    def stop_all(self) -> None:
        """SIGTERM to every child, the last started first, then STOP_GRACE seconds for all of
        them together to exit before the rest are killed."""
        self.stopping.set()
        running = [c.process for c in reversed(self.children) if c.process.poll() is None]
        for process in running:
            # SIGTERM, not SIGINT: after a Ctrl-C that reached them too, a second SIGINT
            # would make uvicorn abandon its graceful shutdown.
            process.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _restart(self, child: Child) -> None:
        try:
            child.process = child.start()
        except (OSError, RuntimeError) as exc:
            _say(f"{child.name} could not start ({exc}); trying again in {child.pause:.0f} s")
            self._pause(child)
            return
        child.started_at = time.monotonic()
        child.restart_at = None
        _say(f"{child.name} started again (pid {child.process.pid})")

    def _pause(self, child: Child) -> None:
        child.restart_at = time.monotonic() + child.pause
        child.pause = min(child.pause * 2, LONGEST_PAUSE)
