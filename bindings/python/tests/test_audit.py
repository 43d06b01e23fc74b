"""The audit log from Python: appends and batches, queries and paging,
checkpoints and verification, erasure, retention, export and the offline
verifier (which catches a tampered export), the name tables, bad input
reaching the library as clear exceptions, and appends from many threads."""
import dataclasses
import json
import threading

import pytest

import tenantguard as tg

KEY = bytes(range(32))


@pytest.fixture
def ctx():
    with tg.Store.memory() as store, tg.Context(store, master_key=KEY,
                                                checkpoint_interval=5) as c:
        yield c


def test_name_tables_come_from_the_library():
    assert tg.AUDIT_ACTIONS[0] == "message.sent"
    assert "access.cross_workspace_denied" in tg.AUDIT_ACTIONS
    assert len(tg.AUDIT_ACTIONS) == len(set(tg.AUDIT_ACTIONS)) >= 38
    assert tg.AUDIT_OUTCOMES == ("success", "failure", "denied")
    assert tg.AUDIT_SEVERITIES == ("info", "low", "medium", "high", "critical")
    assert tg.AUDIT_TAGS == ("soc2", "gdpr", "hipaa", "ccpa", "ferpa", "pci_dss")
    assert tg.AUDIT_PROBLEMS[0] == "valid" and "truncated" in tg.AUDIT_PROBLEMS
    assert tg.AUDIT_DETAILS_MAX == 4096


def test_append_and_query_round_trip(ctx):
    audit = ctx.audit
    assert audit.append("acme", "message.sent", actor="alice", actor_ip="203.0.113.9",
                        target="m1", details={"bytes": 280, "rule": "default"}) == 1
    assert audit.append("acme", tg.AUDIT_ACTIONS.index("auth.failed") + 1, actor="bob",
                        outcome="failure", severity="high", tags=["soc2", "pci_dss"]) == 2
    assert audit.append("globex", "message.blocked", actor="alice") == 1
    assert audit.append(None, "config.changed") == 1  # the system chain

    result = audit.query("acme")
    assert result["next_after_seq"] is None
    first, second = result["records"]
    assert (first["seq"], first["chain"], first["action"]) == (1, "acme", "message.sent")
    assert first["network"] == "203.0.113.0/24"
    assert first["details"] == {"bytes": 280, "rule": "default"}
    assert first["actor"].startswith("p-") and "alice" not in json.dumps(result)
    assert second["prev"] == first["hash"]
    assert (second["action"], second["outcome"], second["severity"]) == \
        ("auth.failed", "failure", "high")
    assert second["tags"] == ["soc2", "pci_dss"]
    # tags=None took the action's default tags
    assert first["tags"] and set(first["tags"]) <= set(tg.AUDIT_TAGS)

    system = audit.query()["records"]
    assert [(r["chain"], r["action"]) for r in system] == [("", "config.changed")]


def test_query_filters_and_paging(ctx):
    audit = ctx.audit
    for i in range(30):
        audit.append("acme", "message.blocked" if i % 3 == 0 else "message.sent",
                     actor="alice" if i % 2 == 0 else "bob",
                     outcome="denied" if i % 5 == 0 else "success")
    seqs = lambda res: [r["seq"] for r in res["records"]]  # noqa: E731
    assert seqs(audit.query("acme", action="message.blocked")) == list(range(1, 31, 3))
    assert seqs(audit.query("acme", outcome="denied")) == [1, 6, 11, 16, 21, 26]
    assert seqs(audit.query("acme", actor="alice", outcome="denied")) == [1, 11, 21]
    assert audit.query("acme", actor="nobody")["records"] == []
    records = audit.query("acme")["records"]
    t5 = records[4]["time_ms"]
    assert all(r["time_ms"] >= t5 for r in audit.query("acme", since_ms=t5)["records"])

    seen, after, pages = [], 0, 0
    while True:
        page = audit.query("acme", actor="bob", after_seq=after, limit=4)
        seen += seqs(page)
        pages += 1
        if page["next_after_seq"] is None or pages > 10:
            break
        after = page["next_after_seq"]
    assert seen == list(range(2, 31, 2)) and pages == 4


def test_verify_checkpoint_and_public_key(ctx):
    audit = ctx.audit
    with pytest.raises(tg.NotFound):
        audit.checkpoint("acme")  # nothing to sign yet
    for _ in range(7):
        audit.append("acme", actor="alice")
    assert audit.checkpoint("acme") == 7
    v = audit.verify("acme")
    assert isinstance(v, tg.AuditVerdict) and v.valid and v.problem == "valid"
    assert (v.bad_seq, v.first_seq, v.last_seq, v.records) == (0, 1, 7, 7)
    assert v.checkpoints == 2  # at 5 (the interval) and 7 (on demand)
    assert audit.verify("acme", from_seq=6, to_seq=7).valid
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.problem = "gap"
    key = audit.public_key()
    assert isinstance(key, bytes) and len(key) == 32 and key == audit.public_key()


def test_batch_is_all_or_nothing(ctx):
    audit = ctx.audit
    first = audit.append_batch([{"workspace": "acme", "actor": "alice"},
                                {"workspace": "acme", "action": "auth.failed",
                                 "outcome": "failure"}])
    assert first == 1
    with pytest.raises(tg.InvalidArgument, match=r"events\[1\]"):
        audit.append_batch([{"workspace": "acme"}, {"workspace": "acme", "actor_ip": "nope"}])
    assert [r["seq"] for r in audit.query("acme")["records"]] == [1, 2]
    with pytest.raises(tg.InvalidArgument):
        audit.append_batch([])
    with pytest.raises(tg.InvalidArgument, match="unknown field"):
        audit.append_batch([{"workspace": "acme", "colour": "red"}])
    with pytest.raises(TypeError):
        audit.append_batch(["acme"])


def test_erasure_reads_as_erased_and_still_verifies(ctx):
    audit = ctx.audit
    audit.append("acme", actor="alice", target="bob", target_is_subject=True)
    audit.append("acme", actor="bob")
    audit.erase_subject("acme", "bob")
    first, second = audit.query("acme")["records"]
    assert first.get("target_erased") is True and "actor_erased" not in first
    assert second.get("actor_erased") is True
    assert audit.query("acme", actor="bob")["records"] == []
    assert audit.verify("acme").valid
    with pytest.raises(tg.NotFound):
        audit.erase_subject("acme", "bob")


def test_prune_keeps_an_anchor():
    with tg.Store.memory() as store, \
            tg.Context(store, master_key=KEY, checkpoint_interval=4) as c:
        # No clock hook in the Python layer: records get the system time,
        # so prune everything up to now.
        for _ in range(10):
            c.audit.append("acme")
        assert c.audit.prune("acme", 1 << 62) == 8  # up to the checkpoint at 8
        assert [r["seq"] for r in c.audit.query("acme")["records"]] == [9, 10]
        assert c.audit.verify("acme").valid
        assert c.audit.query()["records"][-1]["action"] == "retention.pruned"


def test_export_verifies_offline_and_catches_tampering(ctx):
    audit = ctx.audit
    for i in range(12):
        audit.append("acme", actor="alice", target=f"m{i}", details={"i": i})
    data = audit.export("acme")
    lines = data.splitlines()
    assert json.loads(lines[0])["type"] == "header"
    assert sum(json.loads(ln)["type"] == "record" for ln in lines) == 12
    assert sum(json.loads(ln)["type"] == "checkpoint" for ln in lines) == 2
    key = audit.public_key()

    v = tg.audit_verify_export(data, public_key=key)
    assert v.valid and v.records == 12 and v.checkpoints == 2
    assert tg.audit_verify_export(data.encode()).valid  # bytes; trusting the file's key

    # one field of one record changed
    tampered = data.replace('"target":"m6"', '"target":"m7"')
    assert tampered != data
    v = tg.audit_verify_export(tampered, public_key=key)
    assert not v.valid and v.problem in ("bad_hash", "malformed") and v.bad_seq == 7
    # a record removed
    without = "\n".join(ln for ln in lines
                        if not ('"type":"record"' in ln and '"seq":3,' in ln)) + "\n"
    v = tg.audit_verify_export(without, public_key=key)
    assert not v.valid and v.bad_seq == 3
    # the records from 10 on dropped, the checkpoint that signs 10 kept
    cut = "\n".join(ln for ln in lines
                    if json.loads(ln)["type"] != "record" or json.loads(ln)["seq"] < 10)
    v = tg.audit_verify_export(cut + "\n", public_key=key)
    assert v.problem == "truncated" and v.records == 9
    # someone else's key
    assert not tg.audit_verify_export(data, public_key=bytes(32)).valid
    # not an export at all
    assert tg.audit_verify_export("{}\n").problem == "malformed"
    assert tg.audit_verify_export("").problem != "valid"


def test_bad_input(ctx):
    audit = ctx.audit
    with pytest.raises(tg.InvalidArgument, match="unknown action"):
        audit.append("acme", "message.shouted")
    with pytest.raises(tg.InvalidArgument, match="action"):
        audit.append("acme", 9999)
    with pytest.raises(tg.InvalidArgument, match="outcome"):
        audit.append("acme", outcome="maybe")
    with pytest.raises(tg.InvalidArgument, match="outcome"):
        audit.append("acme", outcome=7)
    with pytest.raises(tg.InvalidArgument, match="severity"):
        audit.append("acme", severity="apocalyptic")
    with pytest.raises(tg.InvalidArgument, match="tag"):
        audit.append("acme", tags=["iso27001"])
    with pytest.raises(TypeError):
        audit.append("acme", tags="soc2")
    with pytest.raises(tg.InvalidArgument, match="details"):
        audit.append("acme", details="[1, 2]")  # not an object
    with pytest.raises(tg.InvalidArgument, match="details"):
        audit.append("acme", details="{")
    with pytest.raises(tg.InvalidArgument, match="details"):
        audit.append("acme", details={"blob": "x" * 5000})
    with pytest.raises(tg.InvalidArgument, match="details"):
        audit.append("acme", details={"n": float("nan")})
    with pytest.raises(tg.InvalidArgument):
        audit.append("acme", actor_ip="300.1.1.1")
    with pytest.raises(tg.InvalidArgument, match="workspace"):
        audit.append("")
    with pytest.raises(tg.InvalidArgument, match="workspace"):
        audit.append(b"\xff\xfe")
    with pytest.raises(tg.InvalidArgument, match="NUL"):
        audit.append("ac\0me")
    with pytest.raises(tg.InvalidArgument):
        audit.append("w" * 256)
    with pytest.raises(TypeError):
        audit.append(42)
    with pytest.raises(TypeError):
        audit.append("acme", target="t", target_is_subject=1)
    with pytest.raises(tg.InvalidArgument):
        audit.append("acme", target_is_subject=True)  # no target
    assert audit.query("acme")["records"] == []  # nothing was written

    with pytest.raises(tg.InvalidArgument, match="since_ms"):
        audit.query("acme", since_ms=10, until_ms=5)
    with pytest.raises(tg.InvalidArgument, match="limit"):
        audit.query("acme", limit=10001)
    with pytest.raises(tg.InvalidArgument, match="limit"):
        audit.query("acme", limit=-1)
    with pytest.raises(tg.InvalidArgument):
        audit.query("acme", after_seq=-1)
    with pytest.raises(TypeError):
        audit.query("acme", limit="10")
    with pytest.raises(TypeError):
        audit.query("acme", since_ms=1.5)
    with pytest.raises(tg.InvalidArgument, match="workspace"):
        audit.query(b"\xc3")
    with pytest.raises(tg.InvalidArgument, match="actor"):
        audit.query("acme", actor="")
    with pytest.raises(tg.InvalidArgument, match="from_seq"):
        audit.verify("acme", from_seq=5, to_seq=2)
    with pytest.raises(tg.InvalidArgument):
        audit.verify("acme", from_seq=-1)
    with pytest.raises(tg.InvalidArgument, match="workspace"):
        audit.erase_subject(None, "alice")
    with pytest.raises(tg.InvalidArgument):
        audit.prune("acme", 1 << 63)

    with pytest.raises(TypeError):
        tg.audit_verify_export(12)
    with pytest.raises(TypeError):
        tg.audit_verify_export("", public_key="k" * 32)
    with pytest.raises(tg.InvalidArgument, match="32 bytes"):
        tg.audit_verify_export("", public_key=b"short")
    with tg.Store.memory() as store:
        for bad in (0, -1, 1 << 32):
            with pytest.raises(tg.InvalidArgument, match="checkpoint_interval"):
                tg.Context(store, master_key=KEY, checkpoint_interval=bad)
        with pytest.raises(TypeError):
            tg.Context(store, master_key=KEY, checkpoint_interval="5")


def test_closed_context_refuses():
    store = tg.Store.memory()
    c = tg.Context(store, master_key=KEY)
    audit = c.audit
    c.close()
    with pytest.raises(tg.InvalidArgument, match="closed"):
        audit.append("acme")
    store.close()


def test_appends_from_threads_are_unique_and_contiguous(ctx):
    audit = ctx.audit
    n_threads, per_thread = 8, 50
    start = threading.Barrier(n_threads)
    results, errors = [], []

    def worker(n):
        try:
            start.wait()
            mine = [audit.append("acme", actor=f"user{n}", details={"i": i})
                    for i in range(per_thread)]
            mine.append(audit.append_batch([{"workspace": "acme", "actor": f"user{n}"}] * 3))
            results.append(mine)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    singles = [s for mine in results for s in mine[:-1]]
    batch_firsts = [mine[-1] for mine in results]
    total = n_threads * (per_thread + 3)
    seqs = set(singles) | {f + k for f in batch_firsts for k in range(3)}
    assert len(singles) == len(set(singles))
    assert seqs == set(range(1, total + 1))  # every seq once: no fork, no gap
    for mine in results:  # each thread saw its own appends in order
        assert mine[:-1] == sorted(mine[:-1])
    v = audit.verify("acme")
    assert v.valid and v.records == total
    assert len(audit.query("acme", limit=10000)["records"]) == total
