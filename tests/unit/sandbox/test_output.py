"""The capture keeps head and tail within the cap and says how much it elided."""

from __future__ import annotations

from activities.sandbox.output import CappedOutput, LineSplitter


def test_short_output_is_kept_whole() -> None:
    capture = CappedOutput(4096)
    for line in ["one", "two", "three"]:
        capture.add(line)
    assert capture.render() == "one\ntwo\nthree\n"
    assert not capture.truncated


def test_long_output_keeps_head_and_tail_and_notes_the_elided_bytes() -> None:
    capture = CappedOutput(2048)
    for i in range(10_000):
        capture.add(f"line {i:05d}")
    text = capture.render()
    assert capture.truncated
    assert text.startswith("line 00000\n")
    assert text.rstrip().endswith("line 09999")
    assert "bytes (" in text and "lines) of output elided" in text
    assert len(text.encode()) < 2048 + 200
    assert capture.elided_bytes + len(text.encode()) > 10_000 * 11 - 200


def test_splitter_joins_lines_across_chunks_and_strips_carriage_returns() -> None:
    splitter = LineSplitter(max_line=1024)
    assert splitter.feed(b"hel") == []
    assert splitter.feed(b"lo\r\nwor") == ["hello"]
    assert splitter.feed(b"ld\n") == ["world"]
    assert splitter.feed(b"tail") == []
    assert splitter.flush() == ["tail"]


def test_splitter_cuts_a_line_without_newline_into_bounded_pieces() -> None:
    splitter = LineSplitter(max_line=100)
    pieces = splitter.feed(b"x" * 1050)
    assert [len(p) for p in pieces] == [100] * 10
    assert splitter.flush() == ["x" * 50]


def test_splitter_replaces_invalid_utf8_instead_of_failing() -> None:
    assert LineSplitter(100).feed(b"caf\xe9\n") == ["caf\ufffd"]
