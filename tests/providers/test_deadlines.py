"""Stream deadlines: keep-alive comments cannot stretch the first-token deadline."""
import time

import pytest

from providers.deadlines import FirstTokenTimeout, LiveStream
from providers.types import Timeouts


def _keepalives(n, gap):
    for _ in range(n):
        time.sleep(gap)
        yield b": keep-alive\n\n"


def test_keepalives_do_not_extend_first_token_deadline():
    live = LiveStream(Timeouts(connect=1, read=10, first_token=0.05))
    with pytest.raises(FirstTokenTimeout):
        list(live.checked(_keepalives(6, 0.03)))


def test_after_first_content_only_the_stall_timeout_applies():
    live = LiveStream(Timeouts(connect=1, read=10, first_token=0.05))
    live.first_content()
    assert not live.waiting_first()
    assert len(list(live.checked(_keepalives(4, 0.03)))) == 4


def test_without_first_token_deadline_reads_use_read_timeout():
    live = LiveStream(Timeouts(connect=2, read=7))
    assert live.first_timeout() == (2, 7) and not live.waiting_first()
