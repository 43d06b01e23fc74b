"""The Python layer over the keyring: round trips, isolation, rotation,
shredding, and bad input reaching the library as clear exceptions."""
import os
import stat

import pytest

import tenantguard as tg

KEY = bytes(range(32))


@pytest.fixture
def ctx():
    with tg.Store.memory() as store, tg.Context(store, master_key=KEY) as c:
        yield c


def test_version_matches_header_format():
    parts = tg.version().split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_round_trip_and_sizes(ctx):
    for size in (0, 1, 1024, 1 << 20):
        data = os.urandom(size)
        env = ctx.encrypt("acme", "alice", f"m{size}", data)
        assert len(env) == size + 72
        assert ctx.decrypt("acme", f"m{size}", env) == data


def test_cross_workspace_refused(ctx):
    env = ctx.encrypt("acme", "alice", "m1", b"secret")
    ctx.encrypt("globex", "carol", "m2", b"other")
    with pytest.raises(tg.WrongWorkspace) as info:
        ctx.decrypt("globex", "m1", env)
    assert info.value.code == -9 and "workspace" in str(info.value)


def test_tampering_and_truncation(ctx):
    env = bytearray(ctx.encrypt("acme", "alice", "m1", b"hello world"))
    env[-1] ^= 1
    with pytest.raises(tg.AuthenticationFailed):
        ctx.decrypt("acme", "m1", bytes(env))
    with pytest.raises(tg.FormatError):
        ctx.decrypt("acme", "m1", bytes(env[:40]))
    with pytest.raises(tg.AuthenticationFailed):
        ctx.decrypt("acme", "another-id", ctx.encrypt("acme", "alice", "m1", b"x"))


def test_rotation_keeps_old_messages(ctx):
    old = ctx.encrypt("acme", "alice", "m1", b"before")
    assert ctx.primary_version("acme") == 1
    assert ctx.rotate("acme") == 2
    new = ctx.encrypt("acme", "alice", "m2", b"after")
    assert ctx.decrypt("acme", "m1", old) == b"before"
    assert ctx.decrypt("acme", "m2", new) == b"after"
    ctx.retire("acme", 1)
    with pytest.raises(tg.KeyRetired):
        ctx.decrypt("acme", "m1", old)
    with pytest.raises(tg.InvalidArgument):
        ctx.retire("acme", 2)


def test_shredding(ctx):
    a = ctx.encrypt("acme", "alice", "m1", b"alice's")
    b = ctx.encrypt("acme", "bob", "m2", b"bob's")
    ctx.shred_subject("acme", "alice")
    with pytest.raises(tg.Shredded):
        ctx.decrypt("acme", "m1", a)
    assert ctx.decrypt("acme", "m2", b) == b"bob's"
    ctx.shred_workspace("acme")
    with pytest.raises(tg.Shredded):
        ctx.decrypt("acme", "m2", b)
    with pytest.raises(tg.Shredded):
        ctx.encrypt("acme", "bob", "m3", b"again")


@pytest.mark.parametrize("bad", ["", "x" * 256, b"\xff\xfe", "tab\there", "\ud800"])
def test_bad_identifiers(ctx, bad):
    with pytest.raises(tg.InvalidArgument):
        ctx.encrypt(bad, "alice", "m1", b"x")
    with pytest.raises(tg.InvalidArgument):
        ctx.encrypt("acme", bad, "m1", b"x")
    with pytest.raises(tg.InvalidArgument):
        ctx.decrypt("acme", bad, b"\0" * 80)


def test_wrong_types_and_closed_context(ctx):
    with pytest.raises(TypeError):
        ctx.encrypt(None, "alice", "m1", b"x")
    ctx.close()
    with pytest.raises(tg.InvalidArgument):
        ctx.encrypt("acme", "alice", "m1", b"x")


def test_sqlite_store_and_default_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TENANTGUARD_MASTER_KEY", raising=False)
    path = str(tmp_path / "tg.db")
    with tg.Context(store_path=path) as c:
        env = c.encrypt("acme", "alice", "m1", b"persisted")
    mode = stat.S_IMODE(os.stat(path + ".key").st_mode)
    assert mode == 0o600
    with tg.Context(store_path=path) as c:
        assert c.decrypt("acme", "m1", env) == b"persisted"


def test_sqlite_store_handle_with_full_sync(tmp_path):
    path = str(tmp_path / "full.db")
    with tg.Store.sqlite(path, sync_full=True) as store:
        with tg.Context(store, master_key=KEY) as c:
            env = c.encrypt("acme", "alice", "m1", b"synced")
    with tg.Store.sqlite(path) as store, tg.Context(store, master_key=KEY) as c:
        assert c.decrypt("acme", "m1", env) == b"synced"
    with pytest.raises(tg.InvalidArgument):
        tg.Store.sqlite("")


def test_world_readable_key_file_refused(tmp_path):
    key_path = tmp_path / "master.key"
    key_path.write_bytes(KEY)
    os.chmod(key_path, 0o644)
    with pytest.raises(tg.PermissionError_):
        tg.Context(store_path=str(tmp_path / "tg.db"), master_key_path=str(key_path))


def test_bad_master_key_length():
    with tg.Store.memory() as store:
        with pytest.raises(tg.InvalidArgument):
            tg.Context(store, master_key=b"short")


def test_store_cannot_close_under_a_context():
    store = tg.Store.memory()
    ctx = tg.Context(store, master_key=bytearray(KEY))  # bytearray accepted
    with pytest.raises(tg.InvalidArgument) as info:
        store.close()
    assert "still used" in str(info.value)
    env = ctx.encrypt("acme", "alice", "m1", b"still fine")
    assert ctx.decrypt("acme", "m1", env) == b"still fine"
    ctx.close()
    store.close()
    store.close()  # idempotent
    with pytest.raises(tg.InvalidArgument):
        tg.Context(store, master_key=KEY)


def test_unclosed_objects_are_finalized():
    import gc
    import weakref

    store = tg.Store.memory()
    ctx = tg.Context(store, master_key=KEY)
    ctx.encrypt("acme", "alice", "m1", b"x")
    ref = weakref.ref(ctx)
    del ctx
    gc.collect()
    assert ref() is None
    store.close()  # the finalized context no longer counts as a user


def test_close_waits_for_calls_on_other_threads():
    import threading

    store = tg.Store.memory()
    ctx = tg.Context(store, master_key=KEY)
    outcomes = []

    def worker():
        for i in range(2000):
            try:
                env = ctx.encrypt("acme", "alice", f"m{i}", b"payload")
                assert ctx.decrypt("acme", f"m{i}", env) == b"payload"
                outcomes.append("ok")
            except tg.InvalidArgument as exc:
                assert "closed" in str(exc)
                outcomes.append("closed")
                return

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    ctx.close()
    for t in threads:
        t.join()
    store.close()
    assert "ok" in outcomes or "closed" in outcomes
