"""SSE decoder: WHATWG line and field rules, incremental delivery, arbitrary chunking."""
from __future__ import annotations

from typing import Iterator

from hypothesis import given, settings, strategies as st

from providers.sse import ServerSentEvent, SSEDecoder, iter_events


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    return list(iter_events(iter(chunks)))


def test_line_endings_cr_lf_crlf_are_equivalent():
    for eol in (b"\n", b"\r", b"\r\n"):
        body = b"event: a" + eol + b"data: 1" + eol + eol + b"data: 2" + eol + eol
        assert decode(body) == [ServerSentEvent("a", "1"), ServerSentEvent(None, "2")]


def test_multiple_data_lines_join_with_newline_and_one_space_stripped():
    events = decode(b"data:  two spaces\ndata:none\ndata\n\n")
    assert events == [ServerSentEvent(None, " two spaces\nnone\n")]


def test_comments_and_unknown_fields_are_ignored():
    events = decode(b": keep-alive\n\n: keep-alive\nretry: 10\nfoo: bar\ndata: {}\n\n")
    assert events == [ServerSentEvent(None, "{}")]


def test_event_without_data_is_not_dispatched_and_name_resets():
    events = decode(b"event: ping\n\ndata: x\n\n")
    assert events == [ServerSentEvent(None, "x")]


def test_id_field_and_bom():
    events = decode(b"\xef\xbb\xbfid: 7\ndata: x\n\n")
    assert events == [ServerSentEvent(None, "x", id="7")]


def test_utf8_split_across_chunks():
    body = "data: 你好\n\n".encode()
    assert decode(body[:7], body[7:]) == [ServerSentEvent(None, "你好")]


def test_crlf_split_across_chunks_is_one_line_end():
    assert decode(b"data: a\r", b"\ndata: b\r\n\r\n") == [ServerSentEvent(None, "a\nb")]


def test_clean_end_and_mid_event_end_are_reported():
    clean = SSEDecoder()
    list(iter_events([b"data: a\n\n"], clean))
    assert clean.ended_mid_event is False
    cut = SSEDecoder()
    assert list(iter_events([b"data: a\n\ndata: b\n"], cut)) == [ServerSentEvent(None, "a")]
    assert cut.ended_mid_event is True
    partial_line = SSEDecoder()
    list(iter_events([b"data: a\n\ndata: {\"x"], partial_line))
    assert partial_line.ended_mid_event is True


def test_events_are_yielded_as_soon_as_their_blank_line_arrives():
    consumed: list[bytes] = []

    def source() -> Iterator[bytes]:
        for chunk in (b"data: one\n", b"\n", b"data: two\n\n", b"data: three\n\n"):
            consumed.append(chunk)
            yield chunk

    events = iter_events(source())
    assert next(events).data == "one"
    assert len(consumed) == 2
    assert next(events).data == "two"
    assert len(consumed) == 3


BODY = (b": keep-alive\r\n\r\nevent: message_start\r\ndata: {\"a\": 1}\r\n\r\n"
        b"data: line1\ndata: line2\n\nid: 3\rdata: x\r\rdata: [DONE]\n\n")


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts):
    points = sorted(set(cuts))
    chunks = [BODY[a:b] for a, b in zip([0, *points], [*points, len(BODY)])]
    assert decode(*chunks) == decode(BODY)
    assert [e.data for e in decode(BODY)] == ['{"a": 1}', "line1\nline2", "x", "[DONE]"]


@settings(max_examples=100)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
                        max_size=20), min_size=1, max_size=5),
       st.sampled_from(["\n", "\r", "\r\n"]), st.data())
def test_arbitrary_payloads_round_trip_under_arbitrary_chunking(payloads, eol, data):
    body = "".join(f"data: {p}{eol}{eol}" for p in payloads).encode()
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(body)), max_size=8))))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)])]
    assert [e.data for e in decode(*chunks)] == payloads
