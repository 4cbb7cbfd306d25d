from pathlib import Path

import pytest

from shared.config.settings import GIB, MIB, ConfigError, load_settings, parse_size


def test_defaults_are_embedded_sqlite_and_filesystem(tmp_path: Path) -> None:
    settings = load_settings({"MIA_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'mia.sqlite3'}"
    assert settings.storage_url == (tmp_path / "objects").as_uri()
    assert settings.max_image_bytes == 50 * MIB
    assert settings.max_video_bytes == 2 * GIB
    assert settings.max_files_per_encounter == 20
    assert not settings.uses_s3 and settings.uses_sqlite and not settings.is_production
    assert settings.dashboard_cache_seconds == 300 and settings.cloudwatch_endpoint_url is None
    assert (settings.portal_cookie_name, settings.portal_cookie_hours, settings.portal_idle_minutes) == (
        "mia_portal_auth",
        12,
        30,
    )
    assert settings.patient_session_minutes == 60 and not settings.trust_proxy_headers
    assert settings.scratch_dir == tmp_path / "scratch"
    assert settings.upload_min_bytes_per_second == 512 and settings.min_free_bytes == GIB


def test_scratch_is_under_tmp_in_lambda_unless_set(tmp_path: Path) -> None:
    in_lambda = {"MIA_DATA_DIR": str(tmp_path), "AWS_LAMBDA_FUNCTION_NAME": "mia-processor"}
    assert load_settings(in_lambda).scratch_dir == Path("/tmp/mia-scratch")
    chosen = load_settings({**in_lambda, "MIA_SCRATCH_DIR": str(tmp_path / "elsewhere")})
    assert chosen.scratch_dir == tmp_path / "elsewhere"


def test_s3_and_mysql_are_accepted() -> None:
    settings = load_settings(
        {
            "MIA_DATABASE_URL": "mysql+pymysql://mia:secret@db:3306/mia",
            "MIA_STORAGE_URL": "s3://mia-media/prod",
            "MIA_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        }
    )
    assert settings.uses_s3 and not settings.uses_sqlite
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MIA_DATABASE_URL", "postgres://db/mia"),
        ("MIA_STORAGE_URL", "ftp://files"),
        ("MIA_S3_ENDPOINT_URL", "localhost:9000"),
        ("MIA_MAX_IMAGE_BYTES", "fifty megabytes"),
        ("MIA_MAX_VIDEO_BYTES", "0"),
        ("MIA_MAX_FILES_PER_ENCOUNTER", "-3"),
        ("MIA_UPLOAD_PORT", "70000"),
        ("MIA_PATIENT_BASE_URL", "upload.example"),
        ("MIA_ENV", "staging"),
        ("MIA_S3_PART_SIZE", "1MiB"),
        ("MIA_MEDIA_URL_LIFETIME_SECONDS", "3600"),
        ("MIA_CLOUDWATCH_ENDPOINT_URL", "cloudwatch"),
        ("MIA_DASHBOARD_CACHE_SECONDS", "0"),
        ("MIA_PORTAL_COOKIE_NAME", "mia portal; Path=/"),
        ("MIA_PORTAL_COOKIE_HOURS", "0"),
        ("MIA_PORTAL_IDLE_MINUTES", "a while"),
        ("MIA_PATIENT_SESSION_MINUTES", "0"),
        ("MIA_TRUST_PROXY_HEADERS", "maybe"),
        ("MIA_SCRATCH_DIR", "var/scratch"),
        ("MIA_UPLOAD_MIN_RATE", "slow"),
        ("MIA_MIN_FREE_BYTES", "plenty"),
    ],
)
def test_bad_value_names_the_variable_in_one_line(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({name: value})
    message = str(error.value)
    assert message.startswith(f"{name}: expected")
    assert "\n" not in message


def test_database_password_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"MIA_DATABASE_URL": "postgresql://user:hunter2@db/mia"})
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(("raw", "expected"), [("1024", 1024), ("50MiB", 50 * MIB), ("2 GiB", 2 * GIB), ("1kb", 1000)])
def test_sizes(raw: str, expected: int) -> None:
    assert parse_size("X", raw) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MIA_MAX_FILES_PER_ENCOUNTER", "٢٠"),
        ("MIA_MAX_FILES_PER_ENCOUNTER", "２０"),
        ("MIA_MAX_FILES_PER_ENCOUNTER", "+20"),
        ("MIA_MAX_FILES_PER_ENCOUNTER", "2_0"),
        ("MIA_UPLOAD_PORT", "8" * 5000),
        ("MIA_MAX_IMAGE_BYTES", "٥٠MiB"),
        ("MIA_MAX_IMAGE_BYTES", "²MiB"),
        ("MIA_MAX_IMAGE_BYTES", "1_000"),
    ],
)
def test_numbers_in_settings_are_digits_0_to_9(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({name: value})
    assert str(error.value).startswith(f"{name}: expected")
