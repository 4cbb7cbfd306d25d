"""Sign-in rules on both databases: replay, throttling and lockout, cookies, sessions and logout."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from sqlalchemy import select, update

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db.tables import users
from shared.staff import authentication, totp
from shared.staff.accounts import create_user
from shared.staff.authentication import StaffSession, unix_time
from tests.support.staff import StaffAccount, make_staff

IDLE = dt.timedelta(minutes=30)
COOKIE_HOURS = 12


def code_at(account: StaffAccount, moment: dt.datetime, offset: int = 0) -> str:
    return totp.code_for_step(account.secret, totp.current_step(unix_time(moment)) + offset)


def verify(ctx: AppContext, account: StaffAccount, code: str, moment: dt.datetime) -> StaffSession | None:
    return authentication.verify_second_factor(ctx, account.user_id, code, now=moment)


def user_row(ctx: AppContext, account: StaffAccount):  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return conn.execute(select(users).where(users.c.id == account.user_id)).one()


def fail_password(ctx: AppContext, account: StaffAccount, moment: dt.datetime) -> int:
    return authentication.record_failure(ctx, account.user_id, factor="password", reason="wrong_password", now=moment)


def cookie_token(username: str, issued: dt.datetime, hours: int = COOKIE_HOURS) -> dict:
    """What streamlit-authenticator 0.4.2 puts in its cookie, decoded."""
    return {"username": username, "exp_date": unix_time(issued) + hours * 3600}


def test_a_code_is_accepted_once_and_never_again(ctx: AppContext) -> None:
    account = make_staff(ctx, "drjones")
    moment = utcnow()
    code = code_at(account, moment)
    session = verify(ctx, account, code, moment)
    assert session is not None and session.user_id == account.user_id
    assert verify(ctx, account, code, moment + dt.timedelta(seconds=5)) is None  # replay in another session
    # An older code still inside the window is refused too: steps only move forward.
    assert verify(ctx, account, code_at(account, moment, -1), moment) is None
    assert verify(ctx, account, code_at(account, moment, +1), moment) is not None
    row = user_row(ctx, account)
    assert row.totp_last_step == totp.current_step(unix_time(moment)) + 1
    with ctx.engine.connect() as conn:
        reasons = [
            e["detail"] for e in audit.search(conn, action="auth.failed", actor_id=account.user_id) if e["detail"]
        ]
    assert sum('"replayed_code"' in detail for detail in reasons) == 2


def test_failures_of_either_factor_pause_then_lock_the_account(ctx: AppContext) -> None:
    account = make_staff(ctx, "drjones")
    moment = utcnow()
    assert fail_password(ctx, account, moment) == 1
    assert verify(ctx, account, "000000" if code_at(account, moment) != "000000" else "111111", moment) is None
    assert user_row(ctx, account).locked_until is None  # two failures: no pause yet
    fail_password(ctx, account, moment)  # third failure: a short pause
    row = user_row(ctx, account)
    assert row.failed_attempts == 3 and row.locked_until == moment + authentication.THROTTLE_BASE
    # While paused, even the right code is refused and not counted.
    assert verify(ctx, account, code_at(account, moment), moment) is None
    assert user_row(ctx, account).failed_attempts == 3
    assert account.username not in authentication.authenticator_credentials(ctx, moment)["usernames"]
    later = moment + dt.timedelta(minutes=1)
    assert account.username in authentication.authenticator_credentials(ctx, later)["usernames"]
    fail_password(ctx, account, later)
    fail_password(ctx, account, later + dt.timedelta(minutes=2))  # fifth: locked for 15 minutes
    row = user_row(ctx, account)
    locked_at = later + dt.timedelta(minutes=2)
    assert row.failed_attempts == authentication.MAX_FAILURES and row.locked_until == locked_at + authentication.LOCKOUT
    assert verify(ctx, account, code_at(account, locked_at), locked_at + dt.timedelta(minutes=14)) is None
    with ctx.engine.connect() as conn:
        assert audit.search(conn, action="auth.locked")
    # After the lockout a right code signs in and clears the count.
    after = locked_at + authentication.LOCKOUT + dt.timedelta(seconds=1)
    assert verify(ctx, account, code_at(account, after), after) is not None
    row = user_row(ctx, account)
    assert row.failed_attempts == 0 and row.locked_until is None


def test_unknown_accounts_cost_a_bcrypt_check_and_are_audited_without_the_name(ctx: AppContext) -> None:
    for username in ("nobody", None):
        assert authentication.record_password_failure(ctx, username, now=utcnow(), remote_addr="192.0.2.7") is None
    with ctx.engine.connect() as conn:
        events = audit.search(conn, action="auth.failed")
    assert len(events) == 2
    for event in events:
        assert event["actor_id"] is None and event["remote_addr"] == "192.0.2.7"
        assert "unknown_or_unavailable_account" in event["detail"] and "nobody" not in event["detail"]


def test_a_wrong_password_counts_against_the_account_it_names(ctx: AppContext) -> None:
    account = make_staff(ctx, "drjones")
    named = authentication.record_password_failure(ctx, "DrJones", now=utcnow(), remote_addr="192.0.2.8")
    assert named == account.user_id and user_row(ctx, account).failed_attempts == 1
    with ctx.engine.connect() as conn:
        (event,) = audit.search(conn, action="auth.failed", actor_id=account.user_id)
    assert '"reason": "wrong_password"' in event["detail"] and event["remote_addr"] == "192.0.2.8"


def test_only_active_enrolled_unpaused_accounts_reach_the_password_check(ctx: AppContext) -> None:
    active = make_staff(ctx, "drjones")
    disabled = make_staff(ctx, "drsmith")
    with ctx.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == disabled.user_id).values(status="disabled"))
    create_user(ctx, username="newbie", display_name="New", role="clinician")
    credentials = authentication.authenticator_credentials(ctx, utcnow())
    assert set(credentials["usernames"]) == {"drjones"}
    entry = credentials["usernames"]["drjones"]
    assert entry["password"].startswith("$2b$") and entry["roles"] == ["clinician"]
    assert active.username == "drjones"


def test_a_session_ends_when_idle_revoked_or_disabled(ctx: AppContext) -> None:
    account = make_staff(ctx, "drjones")
    moment = utcnow()
    session = verify(ctx, account, code_at(account, moment), moment)
    assert session is not None
    assert authentication.check_session(ctx, session, now=moment, idle=IDLE).user.username == "drjones"  # type: ignore[union-attr]
    idle = authentication.check_session(
        ctx, session, now=moment + IDLE + dt.timedelta(seconds=1), idle=IDLE, remote_addr="192.0.2.9"
    )
    assert idle.user is None and idle.ended_because == "idle"
    authentication.sign_out(ctx, account.user_id, now=moment + dt.timedelta(seconds=1))
    revoked = authentication.check_session(ctx, session, now=moment + dt.timedelta(seconds=2), idle=IDLE)
    assert revoked.user is None and revoked.ended_because == "revoked"
    with ctx.engine.begin() as conn:
        assert audit.search(conn, action="auth.signed_out", actor_id=account.user_id)
        conn.execute(update(users).where(users.c.id == account.user_id).values(status="disabled"))
    fresh = StaffSession(account.user_id, moment + dt.timedelta(seconds=3), moment + dt.timedelta(seconds=3))
    assert authentication.check_session(ctx, fresh, now=fresh.last_seen, idle=IDLE).ended_because == "disabled"
    with ctx.engine.connect() as conn:  # each ending audited once, with its reason; a live session is not an event
        ended = audit.search(conn, action="auth.session_ended", actor_id=account.user_id)
    assert sorted(e["detail"] for e in ended) == sorted(
        f'{{"reason": "{reason}"}}' for reason in ("idle", "revoked", "disabled")
    )
    assert "192.0.2.9" in {e["remote_addr"] for e in ended}


def test_cookie_re_login_skips_only_the_password_and_dies_at_logout(ctx: AppContext) -> None:
    account = make_staff(ctx, "drjones")
    issued = utcnow()  # after the account's enrollment, which revoked anything older
    moment = issued + dt.timedelta(hours=1)
    token = cookie_token(account.username, issued)
    assert authentication.cookie_allows_password_skip(ctx, token, cookie_hours=COOKIE_HOURS, now=moment)
    older = cookie_token(account.username, issued - dt.timedelta(minutes=5))
    assert not authentication.cookie_allows_password_skip(ctx, older, cookie_hours=COOKIE_HOURS, now=moment)
    # The cookie gives no session: a portal session exists only from verify_second_factor.
    # (tests/portal/test_sign_in.py: a session with authentication_status but no code sees nothing.)
    authentication.sign_out(ctx, account.user_id, now=moment)
    assert not authentication.cookie_allows_password_skip(ctx, token, cookie_hours=COOKIE_HOURS, now=moment)
    newer = cookie_token(account.username, moment + dt.timedelta(seconds=1))
    later = moment + dt.timedelta(seconds=2)
    assert authentication.cookie_allows_password_skip(ctx, newer, cookie_hours=COOKIE_HOURS, now=later)


@pytest.mark.parametrize(
    "token",
    [
        None,
        {},
        {"username": "drjones"},
        {"username": "drjones", "exp_date": "tomorrow"},
        {"username": "nobody", "exp_date": unix_time(utcnow()) + 3600},
        {"username": "drjones", "exp_date": unix_time(utcnow()) - 1},  # expired
        {"username": "drjones", "exp_date": unix_time(utcnow()) + 100 * 3600},  # outlives the policy
        {"username": "drjones", "exp_date": float("inf")},  # no calendar holds these
        {"username": "drjones", "exp_date": 1e308},
        {"username": "drjones", "exp_date": float("nan")},
        {"username": "drjones", "exp_date": True},
    ],
)
def test_malformed_expired_or_foreign_cookies_are_refused(sqlite_ctx: AppContext, token: dict | None) -> None:
    make_staff(sqlite_ctx, "drjones")
    assert not authentication.cookie_allows_password_skip(sqlite_ctx, token, cookie_hours=COOKIE_HOURS, now=utcnow())


def test_cookie_signature_is_checked_with_the_configured_key(sqlite_ctx: AppContext) -> None:
    """streamlit-authenticator decodes its cookie with HS256 and MIA_COOKIE_KEY; a forged one does not decode."""
    from portal_ui.auth_gate import cookie_key

    key = cookie_key(sqlite_ctx)
    assert key != "some_key" and len(key) >= 43
    claims = cookie_token("drjones", utcnow())
    genuine = jwt.encode(claims, key, algorithm="HS256")
    assert jwt.decode(genuine, key, algorithms=["HS256"])["username"] == "drjones"
    forged = jwt.encode(claims, "another-32-byte-key-that-is-not-ours", algorithm="HS256")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=["HS256"])


@pytest.mark.filterwarnings("ignore:The HMAC key is:jwt.warnings.InsecureKeyLengthWarning")  # HS512 with our key
def test_only_an_hs256_cookie_signed_with_our_key_verifies(sqlite_ctx: AppContext) -> None:
    """Everything else is None, never an exception: streamlit-authenticator 0.4.2 raised on several of these."""
    from portal_ui.auth_gate import cookie_key

    key = cookie_key(sqlite_ctx)
    claims = cookie_token("drjones", utcnow())
    genuine = jwt.encode(claims, key, algorithm="HS256")
    assert authentication.sign_in_cookie_claims(genuine, key) == claims
    refused = [
        None,
        "",
        "garbage",
        "a.b.c",
        genuine[:-4],  # signature cut short
        jwt.encode(claims, None, algorithm="none"),
        jwt.encode(claims, key, algorithm="HS512"),
        jwt.encode(claims, "x" * 64, algorithm="HS512"),
        jwt.encode(claims, "y" * 64, algorithm="HS256"),
        jwt.encode({**claims, "exp": 1}, key, algorithm="HS256"),  # a JWT expiry in the past
        jwt.encode({**claims, "nbf": 4_000_000_000}, key, algorithm="HS256"),  # not valid yet
        jwt.encode({"username": "drjones"}, key, algorithm="HS256"),
        jwt.encode({"exp_date": claims["exp_date"]}, key, algorithm="HS256"),
        jwt.encode({"username": 7, "exp_date": claims["exp_date"]}, key, algorithm="HS256"),
        jwt.encode({"username": "drjones", "exp_date": "soon"}, key, algorithm="HS256"),
        jwt.api_jws.encode(b"[1, 2]", key, algorithm="HS256"),  # not a JSON object
    ]
    for token in refused:
        assert authentication.sign_in_cookie_claims(token, key) is None, token


def test_a_sign_in_cookie_is_accepted_only_when_it_verifies_and_the_rules_allow_it(sqlite_ctx: AppContext) -> None:
    """The portal's one call: a refusal (of either kind) is audited once; no cookie at all is no event."""
    from portal_ui.auth_gate import cookie_key

    account = make_staff(sqlite_ctx, "drjones")
    key = cookie_key(sqlite_ctx)
    moment = utcnow() + dt.timedelta(minutes=1)
    genuine = jwt.encode(cookie_token(account.username, moment - dt.timedelta(seconds=30)), key, algorithm="HS256")
    unknown = jwt.encode(cookie_token("nobody", moment), key, algorithm="HS256")

    def accept(raw: str | None) -> bool:
        return authentication.accept_sign_in_cookie(
            sqlite_ctx, raw, key, cookie_hours=COOKIE_HOURS, now=moment, remote_addr="192.0.2.10"
        )

    assert accept(genuine) and not accept(None)
    assert not accept("garbage") and not accept(unknown)
    with sqlite_ctx.engine.connect() as conn:
        refused = audit.search(conn, action="auth.cookie_refused")
    assert sorted(e["detail"] for e in refused) == ['{"reason": "not_allowed"}', '{"reason": "not_verified"}']
    assert {e["remote_addr"] for e in refused} == {"192.0.2.10"}
