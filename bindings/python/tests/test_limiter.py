"""The rate limiter from Python: verdicts, tiers, overrides, trust,
penalties, reset and bad input. Deterministic: limits are small and every
assertion is about tokens, not time, except where a penalty is applied."""
import pytest

import tenantguard as tg

KEY = bytes(range(32))


@pytest.fixture
def ctx():
    with tg.Store.memory() as store, \
            tg.Context(store, master_key=KEY, limiter={"ip": (60, 3), "global": (6000, 1000)}) as c:
        yield c


def test_tier_table_is_monotone():
    for dim in ("user", "workspace"):
        rates = [tg.tier_default(t, dim) for t in tg.TIERS]
        assert all(r[0] > 0 and r[1] > 0 for r in rates)
        assert rates == sorted(rates)
    with pytest.raises(tg.InvalidArgument):
        tg.tier_default("platinum", "user")
    with pytest.raises(tg.InvalidArgument):
        tg.tier_default("free", "ip")


def test_ip_burst_then_denial_names_the_dimension(ctx):
    verdicts = [ctx.rate_check(ip="192.0.2.1") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    denied = verdicts[-1]
    assert denied.dimension == "ip"
    assert (denied.per_minute, denied.burst) == (60, 3)
    assert denied.tokens_left == 0
    assert denied.retry_after_ms > 0
    assert verdicts[0].dimension is None and verdicts[0].retry_after_ms == 0


def test_all_or_nothing_and_peek(ctx):
    for _ in range(3):
        assert ctx.rate_check(workspace="acme", user="alice", ip="192.0.2.9").allowed
    before = ctx.rate_peek(workspace="acme", user="alice")
    denied = ctx.rate_check(workspace="acme", user="alice", ip="192.0.2.9")
    assert not denied.allowed and denied.dimension == "ip"
    after = ctx.rate_peek(workspace="acme", user="alice")
    assert after.tokens_left == before.tokens_left  # the denial took nothing
    for _ in range(10):
        ctx.rate_peek(ip="192.0.2.9")
    ctx.rate_reset("ip", key="192.0.2.9")
    assert ctx.rate_check(ip="192.0.2.9").allowed


def test_override_tier_and_trust(ctx):
    ctx.set_user_limit("acme", 12)
    assert ctx.rate_peek(workspace="acme", user="bob").per_minute == 12
    ctx.set_user_limit("acme", 0)
    ctx.set_tier("acme", "enterprise")
    assert ctx.rate_peek(workspace="acme", user="bob").per_minute == tg.tier_default(
        "enterprise", "user")[0]
    assert ctx.trust("acme", "bob") == 0.5
    assert ctx.adjust_trust("acme", "bob", 5) == 1.0
    assert ctx.rate_peek(workspace="acme", user="bob").per_minute == 2 * tg.tier_default(
        "enterprise", "user")[0]
    with pytest.raises(tg.InvalidArgument):
        ctx.set_trust("acme", "bob", 1.5)
    with pytest.raises(tg.InvalidArgument):
        ctx.set_tier("acme", "gold")


def test_penalty(ctx):
    ctx.apply_penalty("ip", key="198.51.100.7", duration_ms=60000)
    v = ctx.rate_check(ip="198.51.100.7")
    assert not v.allowed and v.penalized and v.dimension == "ip"
    assert 0 < v.retry_after_ms <= 60000
    ctx.rate_reset("ip", key="198.51.100.7")
    assert ctx.rate_check(ip="198.51.100.7").allowed


def test_bad_input(ctx):
    with pytest.raises(tg.InvalidArgument):
        ctx.rate_check(ip="999.1.1.1")
    with pytest.raises(tg.InvalidArgument):
        ctx.rate_check(user="alice")  # a user needs a workspace
    with pytest.raises(tg.InvalidArgument):
        ctx.rate_check(ip="192.0.2.1", cost=0)
    with pytest.raises(tg.RangeError):
        ctx.rate_check(ip="192.0.2.1", cost=4)  # above the IP burst: could never pass
    with pytest.raises(tg.InvalidArgument):
        ctx.rate_reset("planet")
    with tg.Store.memory() as store:
        with pytest.raises(tg.InvalidArgument):
            tg.Context(store, master_key=KEY, limiter={"colour": 3})
        with pytest.raises((tg.InvalidArgument, tg.RangeError)) as info:
            tg.Context(store, master_key=KEY, limiter={"ip": (100, 10**9)})
        assert "burst" in str(info.value)
    assert ctx.rate_tracked() >= 0


def test_rate_key_shares_buckets_with_rate_check(ctx):
    key = ctx.rate_key("ws-key", "carol", "192.0.2.9")
    # tokens_left is what a check would leave: the IP's burst is 3.
    assert [key.peek().tokens_left for _ in range(2)] == [2, 2]  # peeks take nothing
    assert [key.check().allowed for _ in range(2)] == [True, True]
    # The same buckets as checks on strings: one IP token is left.
    assert ctx.rate_peek("ws-key", "carol", "192.0.2.9").tokens_left == 0
    assert ctx.rate_check(ip="192.0.2.9").allowed
    denied = key.check()
    assert (denied.allowed, denied.dimension, denied.tokens_left) == (False, "ip", 0)
    also = ctx.rate_peek("ws-key", "carol", "192.0.2.9")
    assert (also.allowed, also.dimension, also.tokens_left) == (False, "ip", 0)
    with pytest.raises(tg.RangeError):
        key.check(cost=4)
    with pytest.raises(tg.InvalidArgument):
        key.check(cost=0)
    key.close()
    with pytest.raises(tg.InvalidArgument):
        key.check()


def test_rate_key_bad_input_and_lifetime(ctx):
    with pytest.raises(tg.InvalidArgument):
        ctx.rate_key(user="alice")  # a user needs a workspace
    with pytest.raises(tg.InvalidArgument):
        ctx.rate_key("ws", "alice", "10.0.0.256")
    with pytest.raises(tg.InvalidArgument):
        ctx.rate_key("", "alice")
    with tg.Store.memory() as store:
        other = tg.Context(store, master_key=KEY)
        key = other.rate_key(ip="192.0.2.10")
        assert key.check().allowed
        other.close()
        with pytest.raises(tg.InvalidArgument):  # its context is closed
            key.check()
        key.close()  # freeing after the context closed is fine
