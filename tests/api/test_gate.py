"""The inference gate: at most N searches run the model at once, the rest get in strictly in turn."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from inspector_search.api.limits import FifoGate


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_waiters_get_in_in_arrival_order() -> None:
    gate = FifoGate(1)
    order: list[int] = []
    release = [threading.Event() for _ in range(6)]

    def search(number: int) -> None:
        with gate:
            order.append(number)
            release[number].wait(10)

    threads = [threading.Thread(target=search, args=(n,)) for n in range(6)]
    threads[0].start()
    wait_until(lambda: order == [0])
    for number in range(1, 6):  # each one queued before the next arrives
        threads[number].start()
        wait_until(lambda n=number: gate.waiting == n)
    for number in range(6):
        wait_until(lambda n=number: len(order) == n + 1)
        assert order[-1] == number
        release[number].set()
    for thread in threads:
        thread.join(10)
    assert order == list(range(6))


def test_never_more_holders_than_slots() -> None:
    gate = FifoGate(2)
    inside = most = 0
    lock = threading.Lock()

    def search() -> None:
        nonlocal inside, most
        with gate:
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=search) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 2 and inside == 0 and gate.waiting == 0
