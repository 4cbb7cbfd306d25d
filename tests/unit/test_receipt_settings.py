"""The settings of delivery receipts and reminders: defaults, and refusals that never echo the secret."""

from pathlib import Path

import pytest

from shared.config.settings import ConfigError, load_settings


def test_defaults_remind_after_48_hours_and_a_day_before_expiry_and_accept_no_callbacks(tmp_path: Path) -> None:
    messaging = load_settings({"MIA_DATA_DIR": str(tmp_path)}).messaging
    assert (messaging.reminder_after_hours, messaging.reminder_before_expiry_hours) == (48, 24)
    assert messaging.notify_callback_token is None and messaging.notify_poll_after_minutes == 30


def test_a_callback_token_is_long_and_header_safe_and_never_echoed(tmp_path: Path) -> None:
    good = "a1B2-c3D4_e5F6.g7H8~i9J0+k1L2/m3N4="
    env = {"MIA_DATA_DIR": str(tmp_path)}
    assert load_settings({**env, "MIA_NOTIFY_CALLBACK_TOKEN": good}).messaging.notify_callback_token == good
    assert good not in repr(load_settings({**env, "MIA_NOTIFY_CALLBACK_TOKEN": good}))
    for bad in ("short-secret-token", "x" * 40 + " with a space", "x" * 40 + "\u00e9", "x" * 257):
        with pytest.raises(ConfigError) as refused:
            load_settings({**env, "MIA_NOTIFY_CALLBACK_TOKEN": bad})
        assert str(refused.value).startswith("MIA_NOTIFY_CALLBACK_TOKEN: expected 32 to 256 characters")
        assert bad not in str(refused.value) and "x" * 20 not in str(refused.value)


def test_reminder_hours_take_zero_to_switch_off(tmp_path: Path) -> None:
    env = {"MIA_DATA_DIR": str(tmp_path), "MIA_REMINDER_AFTER_HOURS": "0", "MIA_REMINDER_BEFORE_EXPIRY_HOURS": "6"}
    messaging = load_settings(env).messaging
    assert (messaging.reminder_after_hours, messaging.reminder_before_expiry_hours) == (0, 6)
    with pytest.raises(ConfigError, match="MIA_REMINDER_AFTER_HOURS: expected a whole number of at least 0"):
        load_settings({**env, "MIA_REMINDER_AFTER_HOURS": "-1"})
    with pytest.raises(ConfigError, match="MIA_NOTIFY_POLL_AFTER_MINUTES: expected a whole number of at least 1"):
        load_settings({**env, "MIA_NOTIFY_POLL_AFTER_MINUTES": "0"})
