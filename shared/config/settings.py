"""Settings from environment variables with embedded defaults (twelve-factor).

Every part of MIA reads its configuration through `load_settings()`. A bad
value raises `ConfigError` whose message is one line naming the variable and
what it expects; entry points print it and exit non-zero.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from shared.config.messaging import MAX_PATIENT_BASE_URL, MessagingConfigError, MessagingSettings, load_messaging
from shared.config.records import RecordsConfigError, RecordSettings, load_records
from shared.numbers import whole_number

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Lambda can write nowhere but /tmp; the runtime sets AWS_LAMBDA_FUNCTION_NAME.
LAMBDA_SCRATCH_DIR = "/tmp/mia-scratch"  # noqa: S108 - /tmp is the sandbox's own; claim refuses one not ours

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

_SIZE_UNITS = {"": 1, "b": 1, "kib": KIB, "kb": 1000, "mib": MIB, "mb": 1000**2, "gib": GIB, "gb": 1000**3}
MAX_SETTING_DIGITS = 18  # any number a setting needs, and far below what int() would chew on


class ConfigError(ValueError):
    """A configuration value is missing or malformed (message is one line)."""


@dataclass(frozen=True)
class Settings:
    environment: str
    data_dir: Path
    database_url: str
    storage_url: str
    s3_endpoint_url: str | None
    s3_region: str
    s3_part_size: int
    cloudwatch_endpoint_url: str | None
    keys_file: Path
    patient_base_url: str
    portal_base_url: str
    upload_host: str
    upload_port: int
    max_image_bytes: int
    max_video_bytes: int
    max_files_per_encounter: int
    max_encounter_bytes: int
    invite_lifetime_hours: int
    upload_expiry_hours: int
    media_url_lifetime_seconds: int
    dashboard_cache_seconds: int
    log_level: str
    ffmpeg_binary: str | None
    scratch_dir: Path
    video_timeout_seconds: int
    worker_poll_seconds: int
    worker_lease_seconds: int
    portal_cookie_name: str
    portal_cookie_hours: int
    portal_idle_minutes: int
    patient_session_minutes: int = 60
    trust_proxy_headers: bool = False
    upload_min_bytes_per_second: int = 512
    min_free_bytes: int = GIB
    messaging: MessagingSettings = field(default_factory=MessagingSettings)
    records: RecordSettings = field(default_factory=RecordSettings)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_s3(self) -> bool:
        return self.storage_url.startswith("s3://")


def parse_size(name: str, raw: str) -> int:
    """Parse '50MiB', '2 GiB' or plain bytes; refuse anything else."""
    match = re.fullmatch(r"\s*(\S+?)\s*([a-zA-Z]*)\s*", raw)
    number = whole_number(match.group(1), MAX_SETTING_DIGITS) if match else None
    unit = match.group(2).lower() if match else None
    if number is None or unit not in _SIZE_UNITS:
        raise ConfigError(f"{name}: expected a size such as 52428800, 50MiB or 2GiB, got {raw!r}")
    value = number * _SIZE_UNITS[unit]
    if value <= 0:
        raise ConfigError(f"{name}: expected a size greater than zero, got {raw!r}")
    return value


def _positive_int(name: str, raw: str, maximum: int | None = None) -> int:
    value = whole_number(raw, MAX_SETTING_DIGITS)
    if value is None:
        raise ConfigError(f"{name}: expected a whole number (digits 0-9), got {raw!r}")
    if value <= 0 or (maximum is not None and value > maximum):
        bound = f" up to {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name}: expected a whole number greater than zero{bound}, got {raw!r}")
    return value


def _base_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{name}: expected an http(s) base URL such as https://upload.example.nhs.uk, got {raw!r}")
    return raw.rstrip("/")


def _boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _optional_base_url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    return _base_url(name, raw) if raw else None


def _database_url(name: str, raw: str) -> str:
    if raw.startswith("sqlite:///") or raw.startswith("mysql+pymysql://"):
        return raw
    raise ConfigError(
        f"{name}: expected sqlite:///PATH or mysql+pymysql://USER:PASSWORD@HOST:PORT/DB, got {raw.split('@')[-1]!r}"
    )


def _storage_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme == "file" and parts.path:
        return raw
    if parts.scheme == "s3" and parts.netloc:
        return raw
    raise ConfigError(f"{name}: expected file:///ABSOLUTE/PATH or s3://BUCKET/PREFIX, got {raw!r}")


def _executable(name: str, raw: str) -> str:
    path = Path(raw)
    if not path.is_absolute() or not path.is_file() or not os.access(path, os.X_OK):
        raise ConfigError(f"{name}: expected the absolute path of an executable ffmpeg, got {raw!r}")
    return raw


def _cookie_name(name: str, raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", raw):
        raise ConfigError(f"{name}: expected 1 to 64 letters, digits, '_' or '-', got {raw!r}")
    return raw


def _scratch_dir(env: Mapping[str, str], data_dir: Path) -> Path:
    """Where processors keep local copies of media: `$MIA_DATA_DIR/scratch`, or /tmp in Lambda."""
    default = LAMBDA_SCRATCH_DIR if env.get("AWS_LAMBDA_FUNCTION_NAME") else str(data_dir / "scratch")
    raw = env.get("MIA_SCRATCH_DIR", "").strip() or default
    if not Path(raw).is_absolute():
        raise ConfigError(f"MIA_SCRATCH_DIR: expected an absolute path, got {raw!r}")
    return Path(raw)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env

    def get(name: str, default: str) -> str:
        value = env.get(name, "").strip()
        return value or default

    environment = get("MIA_ENV", "development")
    if environment not in ("development", "production"):
        raise ConfigError(f"MIA_ENV: expected 'development' or 'production', got {environment!r}")
    data_dir = Path(get("MIA_DATA_DIR", str(PROJECT_ROOT / "var"))).resolve()
    s3_part_size = parse_size("MIA_S3_PART_SIZE", get("MIA_S3_PART_SIZE", "8MiB"))
    if s3_part_size < 5 * MIB:
        raise ConfigError("MIA_S3_PART_SIZE: expected at least 5MiB (the S3 minimum part size)")
    messaging = _messaging(get)
    patient_base_url = _base_url("MIA_PATIENT_BASE_URL", get("MIA_PATIENT_BASE_URL", "http://localhost:8080"))
    if messaging.sms_configured and len(patient_base_url) > MAX_PATIENT_BASE_URL:
        raise ConfigError(
            f"MIA_PATIENT_BASE_URL: at most {MAX_PATIENT_BASE_URL} characters when texts are sent "
            f"(MIA_NOTIFY_API_KEY), so that every text fits two fragments; got {len(patient_base_url)}"
        )
    log_level = get("MIA_LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"MIA_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    return Settings(
        environment=environment,
        data_dir=data_dir,
        database_url=_database_url(
            "MIA_DATABASE_URL", get("MIA_DATABASE_URL", f"sqlite:///{data_dir / 'mia.sqlite3'}")
        ),
        storage_url=_storage_url("MIA_STORAGE_URL", get("MIA_STORAGE_URL", (data_dir / "objects").as_uri())),
        s3_endpoint_url=_optional_base_url(env, "MIA_S3_ENDPOINT_URL"),
        s3_region=get("MIA_S3_REGION", "eu-west-2"),
        s3_part_size=s3_part_size,
        cloudwatch_endpoint_url=_optional_base_url(env, "MIA_CLOUDWATCH_ENDPOINT_URL"),
        keys_file=Path(get("MIA_KEYS_FILE", str(data_dir / "keys.json"))),
        patient_base_url=patient_base_url,
        portal_base_url=_base_url("MIA_PORTAL_BASE_URL", get("MIA_PORTAL_BASE_URL", "http://localhost:8501")),
        upload_host=get("MIA_UPLOAD_HOST", "127.0.0.1"),
        upload_port=_positive_int("MIA_UPLOAD_PORT", get("MIA_UPLOAD_PORT", "8080"), maximum=65535),
        max_image_bytes=parse_size("MIA_MAX_IMAGE_BYTES", get("MIA_MAX_IMAGE_BYTES", "50MiB")),
        max_video_bytes=parse_size("MIA_MAX_VIDEO_BYTES", get("MIA_MAX_VIDEO_BYTES", "2GiB")),
        max_files_per_encounter=_positive_int("MIA_MAX_FILES_PER_ENCOUNTER", get("MIA_MAX_FILES_PER_ENCOUNTER", "20")),
        max_encounter_bytes=parse_size("MIA_MAX_ENCOUNTER_BYTES", get("MIA_MAX_ENCOUNTER_BYTES", "10GiB")),
        invite_lifetime_hours=_positive_int(
            "MIA_INVITE_LIFETIME_HOURS", get("MIA_INVITE_LIFETIME_HOURS", "72"), maximum=24 * 28
        ),
        upload_expiry_hours=_positive_int("MIA_UPLOAD_EXPIRY_HOURS", get("MIA_UPLOAD_EXPIRY_HOURS", "24")),
        media_url_lifetime_seconds=_positive_int(
            "MIA_MEDIA_URL_LIFETIME_SECONDS", get("MIA_MEDIA_URL_LIFETIME_SECONDS", "300"), maximum=300
        ),
        dashboard_cache_seconds=_positive_int(
            "MIA_DASHBOARD_CACHE_SECONDS", get("MIA_DASHBOARD_CACHE_SECONDS", "300"), maximum=86400
        ),
        log_level=log_level,
        ffmpeg_binary=_executable("MIA_FFMPEG_BINARY", env["MIA_FFMPEG_BINARY"].strip())
        if env.get("MIA_FFMPEG_BINARY", "").strip()
        else None,
        scratch_dir=_scratch_dir(env, data_dir),
        video_timeout_seconds=_positive_int(
            "MIA_VIDEO_TIMEOUT_SECONDS", get("MIA_VIDEO_TIMEOUT_SECONDS", "1800"), maximum=24 * 3600
        ),
        worker_poll_seconds=_positive_int("MIA_WORKER_POLL_SECONDS", get("MIA_WORKER_POLL_SECONDS", "2"), maximum=3600),
        worker_lease_seconds=_positive_int(
            "MIA_WORKER_LEASE_SECONDS", get("MIA_WORKER_LEASE_SECONDS", "300"), maximum=24 * 3600
        ),
        portal_cookie_name=_cookie_name("MIA_PORTAL_COOKIE_NAME", get("MIA_PORTAL_COOKIE_NAME", "mia_portal_auth")),
        portal_cookie_hours=_positive_int(
            "MIA_PORTAL_COOKIE_HOURS", get("MIA_PORTAL_COOKIE_HOURS", "12"), maximum=24 * 30
        ),
        portal_idle_minutes=_positive_int(
            "MIA_PORTAL_IDLE_MINUTES", get("MIA_PORTAL_IDLE_MINUTES", "30"), maximum=24 * 60
        ),
        patient_session_minutes=_positive_int(
            "MIA_PATIENT_SESSION_MINUTES", get("MIA_PATIENT_SESSION_MINUTES", "60"), maximum=12 * 60
        ),
        trust_proxy_headers=_boolean("MIA_TRUST_PROXY_HEADERS", get("MIA_TRUST_PROXY_HEADERS", "false")),
        upload_min_bytes_per_second=parse_size("MIA_UPLOAD_MIN_RATE", get("MIA_UPLOAD_MIN_RATE", "512")),
        min_free_bytes=parse_size("MIA_MIN_FREE_BYTES", get("MIA_MIN_FREE_BYTES", "1GiB")),
        messaging=messaging,
        records=_records(get),
    )


def _records(get: Callable[[str, str], str]) -> RecordSettings:
    try:
        return load_records(get)
    except RecordsConfigError as error:
        raise ConfigError(str(error)) from None


def _messaging(get: Callable[[str, str], str]) -> MessagingSettings:
    try:
        return load_messaging(get)
    except MessagingConfigError as error:
        raise ConfigError(str(error)) from None
