"""Python bindings for tenantguard, the security core of a multi-tenant chat
server. Thin and explicit: each method is one C call, each C error code an
exception class.

    import tenantguard as tg
    with tg.Store.sqlite("/var/lib/chat/tg.db") as store, \
         tg.Context(store, master_key=key) as ctx:
        env = ctx.encrypt("acme", "alice", "m1", b"hello")
        assert ctx.decrypt("acme", "m1", env) == b"hello"

    with tg.Ruleset(blocked_domains=["evil.com"]) as rules, \
         rules.scan("card 4111 1111 1111 1111") as report:
        report.action, [f.preview for f in report.findings], report.redact()

A Context and a Ruleset are safe to share between threads (the C library
locks what it needs and cffi releases the GIL during calls).
"""
import contextlib
import dataclasses
import json
import threading
import weakref

from ._native import ffi, lib

__all__ = [
    "Error", "InvalidArgument", "OutOfMemory", "StoreError", "NotFound", "AlreadyExists",
    "VersionError", "FormatError", "AuthenticationFailed", "WrongWorkspace",
    "UnknownKeyVersion", "KeyRetired", "Shredded", "PermissionError_", "RangeError",
    "KmsError", "Store", "Context", "RateVerdict", "RateKey", "tier_default", "DIMENSIONS",
    "TIERS",
    "version", "Ruleset", "Report", "Finding", "Detector", "dlp_detectors", "DLP_ACTIONS",
    "DLP_CATEGORIES", "DLP_SEVERITIES", "DLP_TEXT_MAX", "DLP_FILTERS_MAX", "DLP_DOMAINS_MAX",
    "DLP_FINDINGS_MAX", "Audit", "AuditVerdict", "audit_verify_export", "AUDIT_ACTIONS",
    "AUDIT_OUTCOMES", "AUDIT_SEVERITIES", "AUDIT_TAGS", "AUDIT_PROBLEMS", "AUDIT_DETAILS_MAX",
]


class Error(Exception):
    """A tenantguard call failed. `code` is the TG_E* value, `name` its
    tg_strerror() text, and the message the library's detail."""

    code = None

    def __init__(self, code, detail):
        self.code = code
        self.name = ffi.string(lib.tg_strerror(code)).decode()
        self.detail = detail
        super().__init__(f"{self.name}: {detail}" if detail else self.name)


def _error_class(name, code, doc):
    return type(name, (Error,), {"__doc__": doc, "code": code})


InvalidArgument = _error_class("InvalidArgument", -1, "An argument is invalid.")
OutOfMemory = _error_class("OutOfMemory", -2, "An allocation failed.")
StoreError = _error_class("StoreError", -3, "The store failed.")
NotFound = _error_class("NotFound", -4, "No such key, workspace or subject.")
AlreadyExists = _error_class("AlreadyExists", -5, "Already exists.")
VersionError = _error_class("VersionError", -6, "Unsupported version.")
FormatError = _error_class("FormatError", -7, "Malformed or truncated data.")
AuthenticationFailed = _error_class("AuthenticationFailed", -8, "Data was changed or forged.")
WrongWorkspace = _error_class("WrongWorkspace", -9, "Data belongs to another workspace.")
UnknownKeyVersion = _error_class("UnknownKeyVersion", -10, "No such key version.")
KeyRetired = _error_class("KeyRetired", -11, "The key version was retired.")
Shredded = _error_class("Shredded", -12, "The key was crypto-shredded.")
PermissionError_ = _error_class("PermissionError_", -13, "A file has unsafe permissions.")
RangeError = _error_class("RangeError", -14, "Buffer too small or value out of range.")
KmsError = _error_class("KmsError", -15, "The key service failed.")

_BY_CODE = {cls.code: cls for cls in Error.__subclasses__()}


def _check(rc):
    if rc != 0:
        detail = ffi.string(lib.tg_ctx_errmsg(ffi.NULL)).decode("utf-8", "replace")
        raise _BY_CODE.get(rc, Error)(rc, detail)


def _id(value, what):
    """Identifiers are str (encoded as UTF-8) or bytes (passed as they are,
    so the library's own validation of UTF-8 is reachable)."""
    if isinstance(value, str):
        try:
            value = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgument(-1, f"{what} is not valid UTF-8") from exc
    if not isinstance(value, bytes):
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    if b"\0" in value:
        raise InvalidArgument(-1, f"{what} contains a NUL byte")
    return value


def version():
    """The linked library's version string."""
    return ffi.string(lib.tg_version_string()).decode()


class _Handle:
    """Owns one C handle. Calls borrow it through use(); close() waits for
    calls in flight, refuses while dependents (contexts on a store) remain,
    and runs the C destructor once. A handle never closed is closed when it
    is garbage-collected or at interpreter exit."""

    def __init__(self, ptr, destroy, what):
        self._ptr = ptr
        self._what = what
        self._cond = threading.Condition()
        self._busy = 0
        self._dependents = 0
        self._finalizer = weakref.finalize(self, destroy, ptr)

    @contextlib.contextmanager
    def use(self):
        with self._cond:
            if self._ptr is None:
                raise InvalidArgument(-1, f"{self._what} is closed")
            self._busy += 1
        try:
            yield self._ptr
        finally:
            with self._cond:
                self._busy -= 1
                if self._busy == 0:
                    self._cond.notify_all()

    def add_dependent(self):
        with self._cond:
            if self._ptr is None:
                raise InvalidArgument(-1, f"{self._what} is closed")
            self._dependents += 1

    def drop_dependent(self):
        with self._cond:
            self._dependents -= 1

    def close(self):
        with self._cond:
            if self._ptr is None:
                return
            if self._dependents:
                raise InvalidArgument(-1, f"{self._what} is still used by "
                                          f"{self._dependents} open context(s)")
            while self._busy:
                self._cond.wait()
            self._ptr = None
        self._finalizer()


class _Closeable:
    """close() and the context-manager protocol over a _Handle."""

    def close(self):
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Store(_Closeable):
    """A persistence handle: the built-in SQLite store or the memory store.
    It cannot be closed while a Context uses it."""

    def __init__(self, ptr):
        self._handle = _Handle(ptr, lib.tg_store_close, "store")

    @classmethod
    def sqlite(cls, path, *, sync_full=False, busy_timeout_ms=None):
        """Opens the SQLite store at path. sync_full=True syncs every commit
        to disk (survives power loss); the default survives a process crash."""
        opts = ffi.new("tg_sqlite_options *")
        lib.tg_sqlite_options_init(opts)
        opts.sync = 1 if sync_full else 0
        if busy_timeout_ms is not None:
            opts.busy_timeout_ms = busy_timeout_ms
        out = ffi.new("tg_store **")
        _check(lib.tg_store_open_sqlite(out, _id(path, "path"), opts))
        return cls(out[0])

    @classmethod
    def memory(cls):
        out = ffi.new("tg_store **")
        _check(lib.tg_store_open_memory(out))
        return cls(out[0])


DIMENSIONS = ("user", "workspace", "ip", "global")
TIERS = ("free", "standard", "professional", "enterprise")


def _index(names, name, what):
    """The C value of a name: its index in `names`."""
    try:
        return names.index(name)
    except ValueError:
        raise InvalidArgument(-1, f"{what} must be one of {names}, not {name!r}") from None


def _dimension(name):
    return _index(DIMENSIONS, name, "dimension")


def _tier(name):
    return _index(TIERS, name, "tier")


def _opt_id(value, what):
    return ffi.NULL if value is None else _id(value, what)


@dataclasses.dataclass(frozen=True)
class RateVerdict:
    """The answer to a rate check. `dimension` names the dimension that
    denied ("user", "workspace", "ip", "global"), or is None if allowed;
    per_minute and burst are its effective limit."""

    allowed: bool
    dimension: str
    penalized: bool
    penalty_level: int
    per_minute: int
    burst: int
    tokens_left: int
    retry_after_ms: int


def tier_default(tier, dimension):
    """(per_minute, burst) of a tier for "user" or "workspace"."""
    out = ffi.new("tg_limit *")
    _check(lib.tg_limiter_tier_default(out, _tier(tier), _dimension(dimension)))
    return out.per_minute, out.burst


_LIMIT_FIELDS = ("ip", "global")
_COUNT_FIELDS = ("max_keys", "idle_evict_ms", "violations_to_penalize", "violation_window_ms",
                 "penalty_base_ms", "penalty_factor", "penalty_max_ms", "penalty_decay_ms")


def _limiter_options(settings):
    """tg_limiter_options from a dict: "ip" and "global" as (per_minute,
    burst), the counters by their C names. Unknown keys are an error."""
    opts = ffi.new("tg_limiter_options *")
    lib.tg_limiter_options_init(opts)
    for key, value in settings.items():
        if key in _LIMIT_FIELDS:
            limit = getattr(opts, key)  # "global" is a Python keyword: no opts.global
            limit.per_minute, limit.burst = value
        elif key in _COUNT_FIELDS:
            setattr(opts, key, value)
        else:
            raise InvalidArgument(-1, f"unknown limiter option {key!r}")
    return opts


def _close_context(ptr, store_handle):
    lib.tg_ctx_close(ptr)
    if store_handle is not None:
        store_handle.drop_dependent()


class Context(_Closeable):
    """A tenantguard context over a Store (which must stay open while the
    context is) or a store_path (the context opens and closes the SQLite
    store itself). The root key comes from master_key (32 bytes, bytes or
    bytearray; the copy handed to the library is wiped once it has taken
    it), master_key_path, $TENANTGUARD_MASTER_KEY or "<store_path>.key".
    `limiter` is a dict of rate-limiter settings ({"ip": (600, 100),
    "global": (600000, 20000), "max_keys": ..., "penalty_base_ms": ...}).
    `checkpoint_interval` is the number of audit records between signed
    checkpoints (None: the library's default, 1000); `ctx.audit` is the
    audit log (see Audit).
    close() waits for calls in flight on other threads."""

    def __init__(self, store=None, *, store_path=None, master_key=None, master_key_path=None,
                 limiter=None, checkpoint_interval=None):
        cfg = ffi.new("tg_config *")
        lib.tg_config_init(cfg)
        keep = []  # C strings and structs that must live until tg_ctx_open returns
        if checkpoint_interval is not None:
            audit_opts = ffi.new("tg_audit_options *")
            lib.tg_audit_options_init(audit_opts)
            audit_opts.checkpoint_interval = _limit(checkpoint_interval, "checkpoint_interval")
            keep.append(audit_opts)
            cfg.audit = audit_opts
        if limiter is not None:
            keep.append(_limiter_options(limiter))
            cfg.limiter = keep[-1]
        if store_path is not None:
            keep.append(ffi.new("char[]", _id(store_path, "store_path")))
            cfg.store_path = keep[-1]
        if master_key_path is not None:
            keep.append(ffi.new("char[]", _id(master_key_path, "master_key_path")))
            cfg.master_key_path = keep[-1]
        key = None
        if master_key is not None:
            size = lib.tg_key_bytes()
            if memoryview(master_key).nbytes != size:
                raise InvalidArgument(-1, f"master_key must be {size} bytes")
            key = ffi.new("uint8_t[]", size)
            ffi.memmove(key, master_key, size)
            cfg.master_key = key
        store_handle = store._handle if store is not None else None
        out = ffi.new("tg_ctx **")
        try:
            if store_handle is None:
                _check(lib.tg_ctx_open(out, cfg))
            else:
                store_handle.add_dependent()
                try:
                    with store_handle.use() as store_ptr:
                        cfg.store = store_ptr
                        _check(lib.tg_ctx_open(out, cfg))
                except BaseException:
                    store_handle.drop_dependent()
                    raise
        finally:
            if key is not None:
                ffi.memmove(key, bytes(len(key)), len(key))
        self._handle = _Handle(out[0], lambda p: _close_context(p, store_handle), "context")
        self.audit = Audit(self._handle)

    def encrypt(self, workspace, subject, message_id, plaintext):
        """Returns the envelope (bytes) sealing `plaintext` for `subject`."""
        data = bytes(plaintext)
        cap = len(data) + lib.tg_envelope_overhead()
        out = ffi.new("uint8_t[]", cap)
        out_len = ffi.new("size_t *")
        ws, sub, mid = _id(workspace, "workspace"), _id(subject, "subject"), \
            _id(message_id, "message_id")
        with self._handle.use() as ctx:
            _check(lib.tg_keyring_encrypt(ctx, out, cap, out_len, ws, sub, mid, data, len(data)))
        return ffi.buffer(out, out_len[0])[:]

    def decrypt(self, workspace, message_id, envelope):
        """Returns the plaintext, or raises (WrongWorkspace, Shredded,
        KeyRetired, AuthenticationFailed, FormatError, ...)."""
        env = bytes(envelope)
        cap = max(len(env) - lib.tg_envelope_overhead(), 1)
        out = ffi.new("uint8_t[]", cap)
        out_len = ffi.new("size_t *")
        ws, mid = _id(workspace, "workspace"), _id(message_id, "message_id")
        with self._handle.use() as ctx:
            _check(lib.tg_keyring_decrypt(ctx, out, cap, out_len, ws, mid, env, len(env)))
        return ffi.buffer(out, out_len[0])[:]

    def rotate(self, workspace):
        """Makes a new primary key version; returns its number."""
        out = ffi.new("uint32_t *")
        ws = _id(workspace, "workspace")
        with self._handle.use() as ctx:
            _check(lib.tg_keyring_rotate(ctx, out, ws))
        return out[0]

    def primary_version(self, workspace):
        out = ffi.new("uint32_t *")
        ws = _id(workspace, "workspace")
        with self._handle.use() as ctx:
            _check(lib.tg_keyring_primary_version(ctx, out, ws))
        return out[0]

    def retire(self, workspace, version):
        ws = _id(workspace, "workspace")
        with self._handle.use() as ctx:
            _check(lib.tg_keyring_retire(ctx, ws, version))

    def shred_subject(self, workspace, subject):
        ws, sub = _id(workspace, "workspace"), _id(subject, "subject")
        with self._handle.use() as ctx:
            _check(lib.tg_keyring_shred_subject(ctx, ws, sub))

    def shred_workspace(self, workspace):
        ws = _id(workspace, "workspace")
        with self._handle.use() as ctx:
            _check(lib.tg_keyring_shred_workspace(ctx, ws))

    # ---- rate limiting ----

    def _verdict(self, call):
        """A RateVerdict from call(ctx, verdict), a limiter check or peek."""
        v = ffi.new("tg_limit_verdict *")
        lib.tg_limit_verdict_init(v)
        with self._handle.use() as ctx:
            _check(call(ctx, v))
        return RateVerdict(bool(v.allowed), DIMENSIONS[v.dimension] if v.dimension >= 0 else None,
                           bool(v.penalized), v.penalty_level, v.limit.per_minute, v.limit.burst,
                           v.tokens_left, v.retry_after_ms)

    def _rate(self, fn, workspace, user, ip, cost):
        args = (_opt_id(workspace, "workspace"), _opt_id(user, "user"), _opt_id(ip, "ip"))
        return self._verdict(lambda ctx, v: fn(ctx, v, *args, cost))

    def rate_key(self, workspace=None, user=None, ip=None):
        """A RateKey for these identifiers: validated and hashed once, for a
        connection that checks the same ones for every message."""
        return RateKey(self, workspace, user, ip)

    def rate_check(self, workspace=None, user=None, ip=None, cost=1):
        """Takes `cost` tokens from every dimension that applies, or none if
        any is short; returns a RateVerdict (a denial is not an exception)."""
        return self._rate(lib.tg_limiter_check, workspace, user, ip, cost)

    def rate_peek(self, workspace=None, user=None, ip=None, cost=1):
        """The verdict rate_check would give, taking nothing."""
        return self._rate(lib.tg_limiter_peek, workspace, user, ip, cost)

    def rate_reset(self, dimension, workspace=None, key=None):
        args = (_dimension(dimension), _opt_id(workspace, "workspace"), _opt_id(key, "key"))
        with self._handle.use() as ctx:
            _check(lib.tg_limiter_reset(ctx, *args))

    def set_tier(self, workspace, tier):
        args = (_id(workspace, "workspace"), _tier(tier))
        with self._handle.use() as ctx:
            _check(lib.tg_limiter_set_tier(ctx, *args))

    def set_user_limit(self, workspace, messages_per_minute):
        """Overrides the per-user rate (0 returns to the tier default)."""
        ws = _id(workspace, "workspace")
        with self._handle.use() as ctx:
            _check(lib.tg_limiter_set_user_limit(ctx, ws, messages_per_minute))

    def trust(self, workspace, user):
        out = ffi.new("double *")
        args = (_id(workspace, "workspace"), _id(user, "user"))
        with self._handle.use() as ctx:
            _check(lib.tg_limiter_get_trust(ctx, out, *args))
        return out[0]

    def set_trust(self, workspace, user, trust):
        args = (_id(workspace, "workspace"), _id(user, "user"), float(trust))
        with self._handle.use() as ctx:
            _check(lib.tg_limiter_set_trust(ctx, *args))

    def adjust_trust(self, workspace, user, delta):
        """Adds delta, clamped to [0, 1]; returns the new score."""
        out = ffi.new("double *")
        args = (_id(workspace, "workspace"), _id(user, "user"), float(delta))
        with self._handle.use() as ctx:
            _check(lib.tg_limiter_adjust_trust(ctx, out, *args))
        return out[0]

    def apply_penalty(self, dimension, workspace=None, key=None, duration_ms=0):
        """Penalises a user (dimension "user", with workspace) or an IP;
        duration_ms 0 means the next escalation level's period."""
        args = (_dimension(dimension), _opt_id(workspace, "workspace"), _opt_id(key, "key"),
                duration_ms)
        with self._handle.use() as ctx:
            _check(lib.tg_limiter_apply_penalty(ctx, *args))

    def rate_tracked(self):
        """How many limiter entries this context tracks now."""
        out = ffi.new("size_t *")
        with self._handle.use() as ctx:
            _check(lib.tg_limiter_tracked(ctx, out))
        return out[0]


class RateKey(_Closeable):
    """Prepared rate-limit identifiers (Context.rate_key). check() and
    peek() give what Context.rate_check and rate_peek give for the same
    identifiers, using the same buckets, with less work per call. May be
    used by several threads at once; close() or garbage collection frees
    it, before or after its context is closed (it only works while the
    context is open)."""

    def __init__(self, ctx, workspace, user, ip):
        args = (_opt_id(workspace, "workspace"), _opt_id(user, "user"), _opt_id(ip, "ip"))
        out = ffi.new("tg_limiter_key **")
        with ctx._handle.use() as c:
            _check(lib.tg_limiter_key_new(c, out, *args))
        self._ctx = ctx
        self._handle = _Handle(out[0], lib.tg_limiter_key_free, "rate key")

    def _rate(self, fn, cost):
        with self._handle.use() as key:
            return self._ctx._verdict(lambda ctx, v: fn(ctx, v, key, cost))

    def check(self, cost=1):
        """Context.rate_check for this key's identifiers."""
        return self._rate(lib.tg_limiter_check_key, cost)

    def peek(self, cost=1):
        """Context.rate_peek for this key's identifiers."""
        return self._rate(lib.tg_limiter_peek_key, cost)


# ---- data-loss prevention ----


def _names(fn, codes):
    return tuple(ffi.string(fn(c)).decode() for c in codes)


# Names indexed by their C values: DLP_CATEGORIES[TG_DLP_PII] == "pii",
# DLP_ACTIONS[TG_DLP_BLOCK] == "block" (weakest first), and
# DLP_SEVERITIES[TG_DLP_LOW - 1] == "low".
DLP_CATEGORIES = _names(lib.tg_dlp_category_name, range(5))
DLP_ACTIONS = _names(lib.tg_dlp_action_name, range(4))
DLP_SEVERITIES = _names(lib.tg_dlp_severity_name, range(1, 5))
DLP_TEXT_MAX = lib.tg_dlp_text_max()          # bytes one scan accepts
DLP_FILTERS_MAX = lib.tg_dlp_filters_max()    # content filters per ruleset
DLP_DOMAINS_MAX = lib.tg_dlp_domains_max()    # blocked domains per ruleset
DLP_FINDINGS_MAX = lib.tg_dlp_findings_max()  # findings one report keeps


def _name_of(names, value, first=0):
    i = value - first
    return names[i] if 0 <= i < len(names) else "unknown"


def _limit(value, what):
    """A uint32 limit; None means the library's default."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 < value < 1 << 32:
        raise InvalidArgument(-1, f"{what} must be in [1, 2**32), not {value}")
    return value


def _strings(values, what):
    """C strings (kept alive by the returned list) from a list of str/bytes."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a list of str, not a single {type(values).__name__}")
    return [ffi.new("char[]", _id(v, f"{what}[{i}]")) for i, v in enumerate(values)]


@dataclasses.dataclass(frozen=True)
class Detector:
    """A built-in detector. category, severity and default_action are
    names ("pii", "high", "mask")."""

    id: str
    name: str
    category: str
    severity: str
    base_confidence: float
    default_action: str
    has_validator: bool


def dlp_detectors():
    """The built-in detectors, in the library's order."""
    out = ffi.new("tg_dlp_detector *")
    result = []
    for i in range(lib.tg_dlp_detector_count()):
        _check(lib.tg_dlp_detector_info(out, i))
        result.append(Detector(ffi.string(out.id).decode(), ffi.string(out.name).decode(),
                               _name_of(DLP_CATEGORIES, out.category),
                               _name_of(DLP_SEVERITIES, out.severity, 1),
                               out.base_confidence, _name_of(DLP_ACTIONS, out.default_action),
                               bool(out.has_validator)))
    return result


@dataclasses.dataclass(frozen=True)
class Finding:
    """One finding. offset and length are in bytes of the UTF-8 text that
    was scanned (Report.span() converts them for a str); preview is masked
    ("************1111", "j***@example.com") and never the raw match.
    detector is a built-in id, "blocked_domain" or "filter:<index>"."""

    detector: str
    category: str
    severity: str
    action: str
    offset: int
    length: int
    confidence: float
    preview: str


class Report(_Closeable):
    """The result of Ruleset.scan(). The findings, action ("allow" ...
    "block": the strongest of the findings'), threat_score and incomplete
    (how many content filters hit their limit, so their verdict is unknown)
    are copied out at once; the C report and the scanned text are kept for
    redact() until close() (or garbage collection)."""

    def __init__(self, ptr, data, is_str):
        self._handle = _Handle(ptr, lib.tg_dlp_report_free, "report")
        self._data = data
        self._is_str = is_str
        findings = []
        for i in range(lib.tg_dlp_report_count(ptr)):
            f = lib.tg_dlp_report_finding(ptr, i)
            findings.append(Finding(ffi.string(f.detector).decode("utf-8", "replace"),
                                    _name_of(DLP_CATEGORIES, f.category),
                                    _name_of(DLP_SEVERITIES, f.severity, 1),
                                    _name_of(DLP_ACTIONS, f.action), f.offset, f.length,
                                    f.confidence, ffi.string(f.preview).decode("utf-8", "replace")))
        self.findings = findings
        self.action = _name_of(DLP_ACTIONS, lib.tg_dlp_report_action(ptr))
        self.threat_score = lib.tg_dlp_report_threat_score(ptr)
        self.incomplete = lib.tg_dlp_report_incomplete(ptr)

    def span(self, finding):
        """(start, stop) of a finding as indices into the scanned object:
        characters for a str, bytes for bytes (spans never split a code
        point). O(offset) per call."""
        start, stop = finding.offset, finding.offset + finding.length
        if not self._is_str:
            return start, stop
        start_chars = len(self._data[:start].decode("utf-8"))
        return start_chars, start_chars + len(self._data[start:stop].decode("utf-8"))

    def redact(self):
        """The scanned text with the report's actions applied: MASK findings
        become their preview, REDACT and BLOCK ones "[REDACTED:<detector>]".
        A str for a scanned str (previews that are not valid UTF-8 are
        decoded with replacement characters), bytes otherwise."""
        out = ffi.new("char **")
        out_len = ffi.new("size_t *")
        with self._handle.use() as rep:
            _check(lib.tg_dlp_redact(out, out_len, rep, self._data, len(self._data)))
        try:
            result = ffi.buffer(out[0], out_len[0])[:]
        finally:
            lib.tg_dlp_free(out[0])
        return result.decode("utf-8", "replace") if self._is_str else result


class Ruleset(_Closeable):
    """A compiled DLP ruleset: the built-in detectors (unless builtin=False),
    content filters (PCRE2 patterns, UTF mode, reported as "filter:<i>"),
    blocked domains (each also blocks its subdomains) and per-detector
    actions ({"email": "redact", "filter": "mask", "filter:0": "allow",
    "blocked_domain": "block"}). filter_match_limit and filter_depth_limit
    bound each filter's PCRE2 work (None: the library's defaults).

    Immutable once built: one Ruleset may be shared by any number of
    threads, which scan at once (the GIL is released during a scan);
    close() waits for scans in flight."""

    def __init__(self, *, filters=(), blocked_domains=(), actions=None, builtin=True,
                 filter_match_limit=None, filter_depth_limit=None):
        opts = ffi.new("tg_dlp_options *")
        lib.tg_dlp_options_init(opts)
        # Everything below only needs to live until tg_dlp_ruleset_new
        # returns: the library copies what it keeps.
        pats = _strings(filters, "filters")
        doms = _strings(blocked_domains, "blocked_domains")
        actions = dict(actions or {})
        rules = ffi.new("tg_dlp_action_rule[]", len(actions))
        names = []
        for rule, (detector, action) in zip(rules, actions.items()):
            names.append(ffi.new("char[]", _id(detector, "actions key")))
            rule.detector = names[-1]
            rule.action = _index(DLP_ACTIONS, action, "action")
        pat_arr = ffi.new("char *[]", pats)
        dom_arr = ffi.new("char *[]", doms)
        opts.filters, opts.filter_count = pat_arr, len(pats)
        opts.blocked_domains, opts.blocked_domain_count = dom_arr, len(doms)
        opts.actions, opts.action_count = rules, len(actions)
        opts.filter_match_limit = _limit(filter_match_limit, "filter_match_limit")
        opts.filter_depth_limit = _limit(filter_depth_limit, "filter_depth_limit")
        opts.builtin_disabled = 0 if builtin else 1
        out = ffi.new("tg_dlp_ruleset **")
        _check(lib.tg_dlp_ruleset_new(out, opts))
        self._handle = _Handle(out[0], lib.tg_dlp_ruleset_free, "ruleset")

    def scan(self, text, min_confidence=0.0):
        """Scans text (str, encoded as UTF-8, or bytes-like, scanned as it
        is: invalid UTF-8 and NUL bytes are fine) and returns a Report.
        Findings below min_confidence (in [0, 1]) are left out. Finding
        offsets are byte offsets into the UTF-8 text; Report.span() maps
        them to str indices."""
        is_str = isinstance(text, str)
        if is_str:
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidArgument(-1, "text is not valid UTF-8") from exc
        elif isinstance(text, (bytes, bytearray, memoryview)):
            data = bytes(text)
        else:
            raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
        if isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float)):
            raise TypeError(f"min_confidence must be a number, not "
                            f"{type(min_confidence).__name__}")
        out = ffi.new("tg_dlp_report **")
        with self._handle.use() as rules:
            _check(lib.tg_dlp_scan(out, rules, data, len(data), float(min_confidence)))
        return Report(out[0], data, is_str)


# ---- the audit log ----


def _names_until_none(fn, first):
    """Names fn gives for first, first + 1, ... up to its first NULL."""
    names = []
    while True:
        name = fn(first + len(names))
        if name == ffi.NULL:
            return tuple(names)
        names.append(ffi.string(name).decode())


# Names from the library's catalogue: AUDIT_ACTIONS[v - 1] is the name of
# action v ("message.sent" is 1), AUDIT_OUTCOMES[v] and AUDIT_SEVERITIES[v]
# those of outcome and severity v, AUDIT_TAGS[i] that of tag bit 1 << i,
# AUDIT_PROBLEMS[v] that of a verification problem ("valid" is 0).
AUDIT_ACTIONS = _names_until_none(lib.tg_audit_action_name, 1)
AUDIT_OUTCOMES = _names_until_none(lib.tg_audit_outcome_name, 0)
AUDIT_SEVERITIES = _names_until_none(lib.tg_audit_severity_name, 0)
AUDIT_TAGS = tuple(ffi.string(lib.tg_audit_tag_name(1 << i)).decode()
                   for i in range(32) if lib.tg_audit_tag_name(1 << i) != ffi.NULL)
AUDIT_PROBLEMS = _names_until_none(lib.tg_audit_problem_name, 0)
AUDIT_DETAILS_MAX = lib.tg_audit_details_max()  # bytes of details JSON


def _int(value, what, lo, hi):
    """An int argument in [lo, hi] (bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidArgument(-1, f"{what} must be in [{lo}, {hi}], not {value}")
    return value


_U64 = (1 << 64) - 1
_I64 = (-(1 << 63), (1 << 63) - 1)


def _coded(value, names, first, what):
    """The C value of a name in `names` (value = index + first), or an int
    passed through for the library to check."""
    if isinstance(value, str):
        return _index(names, value, what) + first
    return _int(value, what, -(1 << 31), (1 << 31) - 1)


def _action(value):
    if isinstance(value, str):
        code = lib.tg_audit_action_from_name(_id(value, "action"))
        if code == 0:
            raise InvalidArgument(-1, f"unknown action {value!r} (see AUDIT_ACTIONS)")
        return code
    return _coded(value, AUDIT_ACTIONS, 1, "action")


def _tags(values):
    if values is None:
        return 0
    if isinstance(values, (str, bytes)):
        raise TypeError(f"tags must be a list of names, not a single {type(values).__name__}")
    bits = 0
    for name in values:
        bits |= 1 << _index(AUDIT_TAGS, name, "tag")
    return bits


def _details(value):
    """Details as JSON text (str or bytes, checked by the library) or a
    dict, dumped compactly."""
    if isinstance(value, dict):
        try:
            value = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(-1, f"details cannot be JSON: {exc}") from exc
    return _id(value, "details")


def _cstr(keep, value, what):
    """A C string for an optional id, kept alive by `keep`."""
    if value is None:
        return ffi.NULL
    keep.append(ffi.new("char[]", _id(value, what)))
    return keep[-1]


_EVENT_FIELDS = ("workspace", "action", "actor", "actor_ip", "target", "target_is_subject",
                 "outcome", "severity", "tags", "details")


def _fill_event(ev, keep, workspace=None, action="message.sent", actor=None, actor_ip=None,
                target=None, target_is_subject=False, outcome="success", severity="info",
                tags=None, details=None):
    """Fills a tg_audit_event *; `keep` holds the C strings until the call."""
    lib.tg_audit_event_init(ev)
    ev.workspace = _cstr(keep, workspace, "workspace")
    ev.actor = _cstr(keep, actor, "actor")
    ev.actor_ip = _cstr(keep, actor_ip, "actor_ip")
    ev.target = _cstr(keep, target, "target")
    ev.action = _action(action)
    if not isinstance(target_is_subject, bool):
        raise TypeError("target_is_subject must be a bool")
    ev.target_is_subject = int(target_is_subject)
    ev.outcome = _coded(outcome, AUDIT_OUTCOMES, 0, "outcome")
    ev.severity = _coded(severity, AUDIT_SEVERITIES, 0, "severity")
    ev.tags = _tags(tags)
    ev.details = ffi.NULL if details is None else _cstr(keep, _details(details), "details")


@dataclasses.dataclass(frozen=True)
class AuditVerdict:
    """The outcome of a verification. `problem` is "valid" or the first
    problem found ("bad_hash", "gap", "reordered", "bad_signature",
    "truncated", "malformed"), at record `bad_seq`; first_seq..last_seq is
    the range checked, `records` and `checkpoints` what was checked, and
    `reason` a sentence for people. A problem is an outcome, not an
    exception."""

    problem: str
    bad_seq: int
    first_seq: int
    last_seq: int
    records: int
    checkpoints: int
    reason: str

    @property
    def valid(self):
        return self.problem == "valid"


def _verdict(v):
    return AuditVerdict(_name_of(AUDIT_PROBLEMS, v.problem), v.bad_seq, v.first_seq, v.last_seq,
                        v.records, v.checkpoints,
                        ffi.string(v.reason).decode("utf-8", "replace"))


def _new_verdict():
    v = ffi.new("tg_audit_verdict *")
    lib.tg_audit_verdict_init(v)
    return v


class Audit:
    """The audit log of a Context (ctx.audit): one hash chain per workspace
    and one for the system (workspace=None). People (actor, and target
    with target_is_subject=True) are stored as per-workspace pseudonyms.
    Actions, outcomes, severities and tags are names from AUDIT_ACTIONS,
    AUDIT_OUTCOMES, AUDIT_SEVERITIES and AUDIT_TAGS (or their C values).
    Thread-safe like the Context."""

    def __init__(self, handle):
        self._handle = handle

    def append(self, workspace=None, action="message.sent", actor=None, actor_ip=None,
               target=None, target_is_subject=False, outcome="success", severity="info",
               tags=None, details=None):
        """Records one event; returns its sequence number in its chain.
        tags=None (or []) means the action's default compliance tags;
        details is a dict (or JSON object text) of ids and counts, never
        content."""
        keep = []
        ev = ffi.new("tg_audit_event *")
        _fill_event(ev, keep, workspace, action, actor, actor_ip, target, target_is_subject,
                    outcome, severity, tags, details)
        seq = ffi.new("uint64_t *")
        with self._handle.use() as ctx:
            _check(lib.tg_audit_append(ctx, ev, seq))
        return seq[0]

    def append_batch(self, events):
        """Records a list of events (dicts with append()'s keyword names) in
        one transaction, all or none; returns the first one's sequence
        number (in the first event's chain)."""
        events = list(events)
        if not events:
            raise InvalidArgument(-1, "append_batch needs at least one event")
        keep = []
        arr = ffi.new("tg_audit_event[]", len(events))
        for i, event in enumerate(events):
            if not isinstance(event, dict):
                raise TypeError(f"events[{i}] must be a dict, not {type(event).__name__}")
            unknown = set(event) - set(_EVENT_FIELDS)
            if unknown:
                raise InvalidArgument(-1, f"events[{i}]: unknown field(s) {sorted(unknown)}")
            _fill_event(ffi.addressof(arr, i), keep, **event)
        seq = ffi.new("uint64_t *")
        with self._handle.use() as ctx:
            _check(lib.tg_audit_append_batch(ctx, arr, len(events), seq))
        return seq[0]

    def checkpoint(self, workspace=None):
        """Signs a checkpoint of the chain's head now; returns its sequence
        number (NotFound for an empty chain)."""
        ws = _opt_id(workspace, "workspace")
        seq = ffi.new("uint64_t *")
        with self._handle.use() as ctx:
            _check(lib.tg_audit_checkpoint(ctx, ws, seq))
        return seq[0]

    def public_key(self):
        """The Ed25519 key (32 bytes) that verifies checkpoints; keep a copy
        where the store's owner cannot write."""
        out = ffi.new("uint8_t[]", lib.tg_audit_public_key_bytes())
        with self._handle.use() as ctx:
            _check(lib.tg_audit_public_key(ctx, out))
        return ffi.buffer(out)[:]

    def verify(self, workspace=None, from_seq=0, to_seq=0):
        """Verifies a chain, all of it or [from_seq, to_seq]; returns an
        AuditVerdict."""
        ws = _opt_id(workspace, "workspace")
        lo, hi = _int(from_seq, "from_seq", 0, _U64), _int(to_seq, "to_seq", 0, _U64)
        v = _new_verdict()
        with self._handle.use() as ctx:
            _check(lib.tg_audit_verify(ctx, v, ws, lo, hi, ffi.NULL, ffi.NULL))
        return _verdict(v)

    def query(self, workspace=None, *, since_ms=0, until_ms=0, action=None, actor=None,
              outcome=None, after_seq=0, limit=0):
        """Records of a chain matching every filter given, as a dict
        {"records": [...], "next_after_seq": int or None}: pass
        next_after_seq back as after_seq for the next page. since_ms is
        inclusive, until_ms exclusive (0: no bound); actor is a user id;
        limit 0 means 100 (at most 10000). A record whose person was
        erased has "actor_erased": True (or "target_erased")."""
        q = ffi.new("tg_audit_query *")
        lib.tg_audit_query_init(q)
        keep = []
        q.workspace = _cstr(keep, workspace, "workspace")
        q.actor = _cstr(keep, actor, "actor")
        q.since_ms = _int(since_ms, "since_ms", *_I64)
        q.until_ms = _int(until_ms, "until_ms", *_I64)
        q.action = 0 if action is None else _action(action)
        q.outcome = -1 if outcome is None else _coded(outcome, AUDIT_OUTCOMES, 0, "outcome")
        q.after_seq = _int(after_seq, "after_seq", 0, _U64)
        q.limit = _int(limit, "limit", 0, (1 << 32) - 1)
        out = ffi.new("char **")
        with self._handle.use() as ctx:
            _check(lib.tg_audit_query_json(ctx, out, q))
        try:
            return json.loads(ffi.string(out[0]).decode("utf-8"))
        finally:
            lib.tg_audit_free(out[0])

    def export(self, workspace=None):
        """The chain as JSON Lines (a str): a header with the public key,
        the retention anchor if any, every record and checkpoint. Check it
        with audit_verify_export()."""
        ws = _opt_id(workspace, "workspace")
        lines = []

        def write(user, line, length):
            lines.append(ffi.buffer(line, length)[:])
            return 0

        # Kept alive (a local) until the call returns; an exception inside
        # write() (memory) stops the export with TG_ECALLBACK.
        cb = ffi.callback("tg_audit_write_cb", write, error=-18)
        with self._handle.use() as ctx:
            _check(lib.tg_audit_export(ctx, ws, cb, ffi.NULL))
        return b"".join(lines).decode("utf-8")

    def prune(self, workspace, older_than_ms):
        """Deletes the chain's records older than older_than_ms (ms since
        the epoch) up to its latest checkpoint before them, which stays as
        the anchor; returns how many were deleted."""
        ws = _opt_id(workspace, "workspace")
        older = _int(older_than_ms, "older_than_ms", *_I64)
        out = ffi.new("uint64_t *")
        with self._handle.use() as ctx:
            _check(lib.tg_audit_prune(ctx, ws, older, out))
        return out[0]

    def erase_subject(self, workspace, user):
        """Deletes the user's pseudonym mapping in the workspace (erasure):
        the chain still verifies, and queries show the records as erased.
        NotFound if the workspace has none for the user."""
        ws, u = _opt_id(workspace, "workspace"), _id(user, "user")
        with self._handle.use() as ctx:
            _check(lib.tg_audit_erase_subject(ctx, ws, u))


def audit_verify_export(data, public_key=None):
    """Verifies an export (str or bytes, from Audit.export) offline and
    returns an AuditVerdict. public_key (32 bytes, from Audit.public_key,
    kept elsewhere) is the key to trust; None trusts the key in the file,
    which proves only that the file is self-consistent."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError(f"data must be str or bytes, not {type(data).__name__}")
    pk = ffi.NULL
    if public_key is not None:
        if not isinstance(public_key, (bytes, bytearray)):
            raise TypeError(f"public_key must be bytes, not {type(public_key).__name__}")
        if len(public_key) != lib.tg_audit_public_key_bytes():
            raise InvalidArgument(-1, f"public_key must be {lib.tg_audit_public_key_bytes()} "
                                      f"bytes, not {len(public_key)}")
        pk = bytes(public_key)
    v = _new_verdict()
    _check(lib.tg_audit_verify_export(v, data, len(data), pk, ffi.NULL, ffi.NULL))
    return _verdict(v)
