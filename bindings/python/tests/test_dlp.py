"""DLP from Python: findings with masked previews, redaction of str and
bytes, content filters and their limits, blocked domains, bad input, the
detector table and a ruleset shared by threads."""
import dataclasses
import math
import threading
import time

import pytest

import tenantguard as tg

CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"


@pytest.fixture(scope="module")
def rules():
    with tg.Ruleset() as r:
        yield r


def by_detector(report):
    return {f.detector: f for f in report.findings}


def test_card_and_email_masked_never_raw(rules):
    text = f"pay with {CARD}, receipt to {EMAIL} please"
    with rules.scan(text) as report:
        found = by_detector(report)
        assert set(found) == {"credit_card", "email"}
        card, email = found["credit_card"], found["email"]
        assert card.preview == "**** **** **** 1111"
        assert email.preview == "j***@example.com"
        assert (card.category, card.severity) == ("financial", "high")
        assert email.category == "pii"
        assert text.encode()[card.offset:card.offset + card.length].decode() == CARD
        assert text.encode()[email.offset:email.offset + email.length].decode() == EMAIL
        assert [f.offset for f in report.findings] == sorted(f.offset for f in report.findings)
        shown = repr(report.findings)
        for raw in (CARD, CARD.replace(" ", ""), "4111 1111", "jane.doe", "ane.doe@"):
            assert raw not in shown
        assert report.action == "redact"
        assert 0 < report.threat_score <= 1 and report.incomplete == 0
        with pytest.raises(dataclasses.FrozenInstanceError):
            card.preview = CARD


def test_nothing_found(rules):
    with rules.scan("hello, nothing to see") as report:
        assert report.findings == [] and report.action == "allow"
        assert report.threat_score == 0 and report.redact() == "hello, nothing to see"
    assert rules.scan("").redact() == "" and rules.scan(b"").redact() == b""


def test_redact_str_keeps_type_and_maps_spans(rules):
    text = f"héllo wörld {CARD} and {EMAIL} – ok"
    report = rules.scan(text)
    redacted = report.redact()
    assert isinstance(redacted, str)
    assert redacted == "héllo wörld [REDACTED:credit_card] and j***@example.com – ok"
    card = by_detector(report)["credit_card"]
    start, stop = report.span(card)
    assert text[start:stop] == CARD
    assert card.offset == start + 2  # "é" and "ö" are two bytes each
    report.close()
    with pytest.raises(tg.InvalidArgument, match="closed"):
        report.redact()


def test_redact_bytes_and_invalid_utf8(rules):
    data = b"\xff\xfe card " + CARD.replace(" ", "").encode() + b" \xc3 \x00 end"
    report = rules.scan(data)
    assert [f.detector for f in report.findings] == ["credit_card"]
    card = report.findings[0]
    assert (card.offset, card.length) == (8, 16) and report.span(card) == (8, 24)
    redacted = report.redact()
    assert isinstance(redacted, bytes)
    assert redacted == b"\xff\xfe card [REDACTED:credit_card] \xc3 \x00 end"
    assert rules.scan(bytearray(data)).redact() == redacted
    assert rules.scan(b"\xff" * 1000 + b"\xc0\x80").findings == []


def test_actions_and_min_confidence():
    with tg.Ruleset(actions={"email": "redact", "credit_card": "allow"}) as r:
        report = r.scan(f"{CARD} {EMAIL}")
        found = by_detector(report)
        assert found["email"].action == "redact" and found["credit_card"].action == "allow"
        assert report.redact() == f"{CARD} [REDACTED:email]"
        assert report.action == "redact"
        high = r.scan(f"{CARD} {EMAIL}", min_confidence=0.9)
        assert [f.detector for f in high.findings] == ["email"]
        assert r.scan(f"{CARD} {EMAIL}", min_confidence=1).findings == []


def test_bad_filter_names_index_and_offset():
    with pytest.raises(tg.InvalidArgument) as info:
        tg.Ruleset(filters=["fine", "a(b"])
    msg = str(info.value)
    assert "filters[1]" in msg and "offset 3" in msg
    assert info.value.name == "invalid argument" and info.value.code == -1
    assert info.value.detail in msg
    for bad in ([""], ["\ud800"]):
        with pytest.raises(tg.InvalidArgument, match=r"filters\[0\]"):
            tg.Ruleset(filters=bad)


def test_filters_and_catastrophic_pattern():
    with tg.Ruleset(filters=[r"(?i)project\s+falcon", "(a+)+$"], builtin=False,
                    actions={"filter:0": "mask"}) as r:
        report = r.scan("about Project  Falcon: " + CARD)
        assert [(f.detector, f.category, f.action) for f in report.findings] == [
            ("filter:0", "custom", "mask")]
        assert report.redact() == "about [15 bytes]: " + CARD
        start = time.monotonic()
        report = r.scan("a" * 40 + "!")
        assert time.monotonic() - start < 2
        assert report.incomplete == 1 and report.findings == []
        assert r.scan("aaaa").incomplete == 0
        assert [f.detector for f in r.scan("aaaa").findings] == ["filter:1"]
    # 2**20 steps: over the default match limit, well under a raised one.
    with tg.Ruleset(filters=["(a+)+$"], builtin=False) as r:
        assert r.scan("a" * 20 + "!").incomplete == 1
    with tg.Ruleset(filters=["(a+)+$"], builtin=False, filter_match_limit=10 ** 9) as r:
        assert r.scan("a" * 20 + "!").incomplete == 0


@pytest.mark.parametrize("text,span", [
    ("see mail.evil.com now", "mail.evil.com"),
    ("see EVIL.Com now", "EVIL.Com"),
    ("see evil.com. now", "evil.com"),
    ("https://user:pw@evil.com/login", "evil.com"),
    ("bob@Mx.Evil.COM", "Mx.Evil.COM"),
    ("http://%65vil.com/x", "%65vil.com"),
])
def test_blocked_domains(text, span):
    with tg.Ruleset(blocked_domains=["evil.com"], builtin=False) as r:
        report = r.scan(text)
        assert [(f.detector, f.category, f.action, f.preview) for f in report.findings] == [
            ("blocked_domain", "network", "block", "evil.com")]
        f = report.findings[0]
        assert text[f.offset:f.offset + f.length] == span
        assert report.action == "block"
        assert report.redact() == text.replace(span, "[REDACTED:blocked_domain]", 1)


@pytest.mark.parametrize("text", ["notevil.com", "evil.com.au", "evil.co", "evil-com.org"])
def test_blocked_domain_neighbours_pass(text):
    with tg.Ruleset(blocked_domains=["EVIL.com.", "*.other.org"], builtin=False) as r:
        assert r.scan(text).findings == []
        assert r.scan("x.other.org").findings[0].detector == "blocked_domain"


def test_bad_input(rules):
    with pytest.raises(TypeError):
        rules.scan(None)
    with pytest.raises(TypeError):
        rules.scan(42)
    with pytest.raises(TypeError):
        rules.scan("x", min_confidence="0.5")
    with pytest.raises(tg.InvalidArgument):
        rules.scan("\ud800")
    for bad in (-0.01, 1.01, math.nan, math.inf):
        with pytest.raises(tg.InvalidArgument, match="min_confidence"):
            rules.scan("x", min_confidence=bad)
    with pytest.raises(tg.InvalidArgument, match="action must be one of"):
        tg.Ruleset(actions={"email": "shred"})
    with pytest.raises(tg.InvalidArgument, match='unknown detector "no_such_detector"'):
        tg.Ruleset(actions={"no_such_detector": "mask"})
    with pytest.raises(tg.InvalidArgument, match="filter"):
        tg.Ruleset(filters=["x"], actions={"filter:1": "mask"})
    with pytest.raises(TypeError):
        tg.Ruleset(filters="abc")  # a str, not a list of patterns
    with pytest.raises(TypeError):
        tg.Ruleset(blocked_domains=[None])
    with pytest.raises(tg.InvalidArgument, match="blocked_domains"):
        tg.Ruleset(blocked_domains=["not a domain"])
    with pytest.raises(tg.InvalidArgument):
        tg.Ruleset(filter_match_limit=0)
    with pytest.raises(TypeError):
        tg.Ruleset(filter_depth_limit=1.5)
    with pytest.raises(TypeError):
        tg.Ruleset({"email": "mask"})  # keyword arguments only
    closed = tg.Ruleset()
    closed.close()
    closed.close()
    with pytest.raises(tg.InvalidArgument, match="closed"):
        closed.scan("x")


def test_detector_table():
    detectors = tg.dlp_detectors()
    ids = [d.id for d in detectors]
    assert len(ids) >= 35 and len(set(ids)) == len(ids)
    assert {"credit_card", "email", "aws_access_key_id"} <= set(ids)
    for d in detectors:
        assert d.name and d.category in tg.DLP_CATEGORIES and d.severity in tg.DLP_SEVERITIES
        assert d.default_action in tg.DLP_ACTIONS and 0 < d.base_confidence <= 1
    card = detectors[ids.index("credit_card")]
    assert card.has_validator and card.category == "financial"
    assert tg.DLP_ACTIONS == ("allow", "mask", "redact", "block")
    assert tg.DLP_TEXT_MAX == 64 * 1024 * 1024 and tg.DLP_FINDINGS_MAX == 10000


def test_ruleset_shared_by_threads():
    texts = [f"msg {i}: {CARD} {EMAIL} sk_live_{'a1B2' * 6} https://evil.com/{i}" * (1 + i % 3)
             for i in range(16)]

    def summary(report):
        return [(f.detector, f.offset, f.length, f.action, f.preview) for f in report.findings], \
            report.redact()

    with tg.Ruleset(blocked_domains=["evil.com"], filters=[r"msg \d+"]) as r:
        expected = [summary(r.scan(t)) for t in texts]
        assert all(len(e[0]) >= 4 for e in expected)
        results, errors = {}, []
        start = threading.Barrier(8)

        def worker(n):
            try:
                start.wait()
                results[n] = [summary(r.scan(t)) for t in texts * 10]
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len(results) == 8
        for got in results.values():
            assert got == expected * 10
