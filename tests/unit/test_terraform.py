"""Static checks of the AWS deployment (terraform/): the properties a security
review relies on, asserted on the parsed HCL so they hold without an AWS
account. Each test names the property; breaking it in terraform/ fails here.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from processors.lambda_handlers import store_key_for
from processors.results import DISPLAY_IMAGE, DISPLAY_VIDEO, POSTER_IMAGE, THUMBNAIL_IMAGE
from shared.config.settings import PROJECT_ROOT
from shared.storage.s3 import TAIL_TAGGING, S3Store
from tests.support.terraform import Terraform, load_terraform, reference_name, single

MEDIA_ARN = "${aws_s3_bucket.media.arn}"
BUCKETS = ("media", "artifacts", "logs")
# S3 actions that only read or list; everything else writes or deletes.
S3_READ_ACTIONS = {"s3:GetObject", "s3:ListBucket", "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads"}
S3_MULTIPART_WRITE_ACTIONS = {"s3:PutObject", "s3:AbortMultipartUpload"}


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return load_terraform()


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _policy_statements(tf: Terraform, role: str) -> list[dict]:
    """Every statement granted to an IAM role: its inline policies (built from policy documents).

    The only managed policy a data role may carry is Lambda's VPC access
    (network interfaces, no data); any other attachment fails the test.
    """
    attachments = [
        body["policy_arn"]
        for body in tf.resources.get("aws_iam_role_policy_attachment", {}).values()
        if f"aws_iam_role.{role}." in str(body["role"])
    ]
    unexpected = [arn for arn in attachments if not arn.endswith("/service-role/AWSLambdaVPCAccessExecutionRole")]
    assert unexpected == [], f"role {role} has managed policies attached: {unexpected}"
    statements = []
    policies = [
        body for body in tf.resources["aws_iam_role_policy"].values() if body["role"] == f"${{aws_iam_role.{role}.id}}"
    ]
    assert policies, f"role {role} has no policy"
    for policy in policies:
        document = reference_name(policy["policy"], "data.aws_iam_policy_document")
        statements += tf.resolve(tf.data["aws_iam_policy_document"][document])["statement"]
    return statements


def _s3_grants(statements: list[dict]) -> list[tuple[str, str, dict]]:
    """(action, resource, conditions by variable) for every allowed S3 action."""
    grants = []
    for statement in statements:
        assert statement.get("effect", "Allow") == "Allow"
        conditions = {cond["variable"]: cond for cond in statement.get("condition", [])}
        for action in statement["actions"]:
            if action.startswith("s3:") or action == "*":
                for resource in statement["resources"]:
                    grants.append((action, resource, conditions))
    return grants


def _list_prefixes(conditions: dict) -> list[str]:
    condition = conditions.get("s3:prefix")
    assert condition and condition["test"] in ("StringLike", "StringEquals"), (
        "ListBucket without an s3:prefix condition"
    )
    return condition["values"]


# --- edge ---------------------------------------------------------------------


def test_waf_allows_only_great_britain_by_default(tf: Terraform) -> None:
    acl = tf.resource("aws_wafv2_web_acl", "main")
    rules = acl["rule"]
    geo_rules = [rule for rule in rules if "geo_match_statement" in str(rule["statement"])]
    assert len(geo_rules) == 1
    geo = geo_rules[0]
    # Block whatever is NOT from the allowed countries, before any other rule.
    assert list(single(geo["action"])) == ["block"]
    negated = single(single(geo["statement"])["not_statement"])
    countries = tf.resolve(single(single(negated["statement"])["geo_match_statement"])["country_codes"])
    assert countries == ["GB"]
    assert geo["priority"] == min(rule["priority"] for rule in rules)
    assert all("allow" not in single(rule.get("action", [{}])) for rule in rules), "an allow rule would skip the rest"
    association = tf.resource("aws_wafv2_web_acl_association", "alb")
    assert association == {"resource_arn": "${aws_lb.main.arn}", "web_acl_arn": "${aws_wafv2_web_acl.main.arn}"}


def test_waf_rate_limits_date_of_birth_attempts(tf: Terraform) -> None:
    rule = next(
        rule for rule in tf.resource("aws_wafv2_web_acl", "main")["rule"] if "rate_based_statement" in str(rule)
    )
    assert "block" in single(rule["action"])
    rate = single(single(rule["statement"])["rate_based_statement"])
    assert rate["aggregate_key_type"] == "IP"
    assert 10 <= tf.resolve(rate["limit"]) <= 300
    matches = single(single(rate["scope_down_statement"])["and_statement"])["statement"]
    conditions = {
        (
            next(iter(single(m["byte_match_statement"])["field_to_match"][0])),
            single(m["byte_match_statement"])["search_string"],
        )
        for m in matches
    }
    assert conditions == {("uri_path", "/p/"), ("method", "POST")}


def test_waf_uses_aws_managed_rule_groups_including_log4j(tf: Terraform) -> None:
    groups = [
        single(single(rule["statement"])["managed_rule_group_statement"])["name"]
        for rule in tf.resource("aws_wafv2_web_acl", "main")["rule"]
        if "managed_rule_group_statement" in single(rule["statement"])
    ]
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(groups)


def test_load_balancer_serves_https_only_with_a_modern_tls_policy(tf: Terraform) -> None:
    http = tf.resource("aws_lb_listener", "http")
    action = single(http["default_action"])
    assert action["type"] == "redirect" and single(action["redirect"])["protocol"] == "HTTPS"
    https = tf.resource("aws_lb_listener", "https")
    assert https["protocol"] == "HTTPS"
    assert tf.resolve(https["ssl_policy"]).startswith("ELBSecurityPolicy-TLS13-1-2")
    assert single(tf.resource("aws_lb", "main")["access_logs"])["enabled"] is True


def test_health_checks_and_portal_stickiness(tf: Terraform) -> None:
    portal = tf.resource("aws_lb_target_group", "portal")
    assert single(portal["health_check"])["path"] == "/_stcore/health"
    assert single(portal["stickiness"])["enabled"] is True


def test_ecs_checks_the_upload_service_liveness_and_the_load_balancer_its_readiness(tf: Terraform) -> None:
    """ECS replaces a task whose container check fails, so that check asks only whether the process answers
    (/healthz): a database or S3 outage must not replace every task. The load balancer routes on /readyz. ECS
    also replaces tasks the target group calls unhealthy, so that verdict must outlast a short outage."""
    upload = tf.locals["containers"]["upload"]
    assert upload["health_url"].endswith("/healthz")
    definition = tf.resource("aws_ecs_task_definition", "app")["container_definitions"]
    assert "urlopen('${local.containers[each.key].health_url}'" in definition  # the container check uses it
    check = single(tf.resource("aws_lb_target_group", "upload")["health_check"])
    assert check["path"] == "/readyz" and check["matcher"] == "200"
    assert check["interval"] * check["unhealthy_threshold"] >= 120, "a 90-second outage would replace tasks"


# --- storage ------------------------------------------------------------------


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_blocks_all_public_access(tf: Terraform, bucket: str) -> None:
    block = tf.resource("aws_s3_bucket_public_access_block", bucket)
    assert block["bucket"] == f"${{aws_s3_bucket.{bucket}.id}}"
    for setting in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert block.get(setting) is True, f"{bucket}: {setting} must be true"


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_refuses_plain_http(tf: Terraform, bucket: str) -> None:
    policy = tf.resource("aws_s3_bucket_policy", bucket)
    assert policy["bucket"] == f"${{aws_s3_bucket.{bucket}.id}}"
    document = tf.data["aws_iam_policy_document"][reference_name(policy["policy"], "data.aws_iam_policy_document")]
    arn = f"${{aws_s3_bucket.{bucket}.arn}}"
    tls_only = [
        statement
        for statement in document["statement"]
        if statement.get("effect") == "Deny"
        and statement["actions"] == ["s3:*"]
        and set(statement["resources"]) == {arn, f"{arn}/*"}
        and single(statement["principals"]) == {"type": "*", "identifiers": ["*"]}
        and any(
            cond == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
            for cond in statement.get("condition", [])
        )
    ]
    assert len(tls_only) == 1, f"{bucket}: no deny of aws:SecureTransport=false on the bucket and its objects"


def test_media_bucket_is_encrypted_with_its_own_rotating_key(tf: Terraform) -> None:
    rule = single(tf.resource("aws_s3_bucket_server_side_encryption_configuration", "media")["rule"])
    default = single(rule["apply_server_side_encryption_by_default"])
    assert default == {"sse_algorithm": "aws:kms", "kms_master_key_id": "${aws_kms_key.media.arn}"}
    assert tf.resource("aws_kms_key", "media")["enable_key_rotation"] is True
    versioning = single(tf.resource("aws_s3_bucket_versioning", "media")["versioning_configuration"])
    assert versioning["status"] == "Enabled"


def test_media_lifecycle_aborts_incomplete_multipart_uploads(tf: Terraform) -> None:
    rules = tf.resolve(tf.resource("aws_s3_bucket_lifecycle_configuration", "media"))["rule"]
    aborting = [rule for rule in rules if rule.get("abort_incomplete_multipart_upload") and rule["status"] == "Enabled"]
    assert aborting, "no rule aborts incomplete multipart uploads"
    for rule in aborting:
        days = single(rule["abort_incomplete_multipart_upload"])["days_after_initiation"]
        assert isinstance(days, int) and 1 <= days <= 7
    # It must reach the originals being uploaded: the whole bucket or uploads/.
    filters = [single(rule["filter"]) for rule in aborting]
    assert any(f == {} or f.get("prefix") in ("", "uploads/") for f in filters)


def test_media_lifecycle_expires_only_tagged_tails_and_after_uploads_expire(tf: Terraform) -> None:
    rules = tf.resolve(tf.resource("aws_s3_bucket_lifecycle_configuration", "media"))["rule"]
    expiring = [rule for rule in rules if single(rule.get("expiration", [{}])).get("days")]
    assert len(expiring) == 1, "only the tail rule may expire current objects (patient media is never expired)"
    condition = single(single(expiring[0]["filter"])["and"])
    tag_key, tag_value = TAIL_TAGGING.split("=")
    assert condition == {"prefix": "uploads/", "tags": {tag_key: tag_value}}
    days = single(expiring[0]["expiration"])["days"]
    assert days * 24 > 24, "tails must outlive MIA_UPLOAD_EXPIRY_HOURS (default 24)"


def test_media_bucket_has_request_metrics_for_the_dashboards(tf: Terraform) -> None:
    metrics = [
        body for body in tf.resources["aws_s3_bucket_metric"].values() if body["bucket"] == "${aws_s3_bucket.media.id}"
    ]
    assert any("filter" not in body for body in metrics), "no whole-bucket request metrics"


# --- least privilege ----------------------------------------------------------


def test_no_role_grants_wildcard_actions_on_data(tf: Terraform) -> None:
    for name, document in tf.data["aws_iam_policy_document"].items():
        if name.endswith("_key"):
            continue  # KMS key policies: "*" means the key itself
        for statement in document["statement"]:
            for action in statement["actions"]:
                verb = action.partition(":")[2]
                if statement.get("effect", "Allow") == "Allow":
                    assert "*" not in verb and action != "*", f"{name}: wildcard action {action}"


def test_upload_role_reaches_nothing_outside_uploads_prefix(tf: Terraform) -> None:
    task_role = tf.locals["task_roles"]["upload"]
    assert task_role == "${aws_iam_role.upload_task.arn}"
    grants = _s3_grants(_policy_statements(tf, "upload_task"))
    assert grants
    for action, resource, conditions in grants:
        assert "*" not in action.partition(":")[2], f"wildcard action {action}"
        if action == "s3:ListBucket":
            assert resource == MEDIA_ARN
            assert all(prefix.startswith("uploads/") for prefix in _list_prefixes(conditions))
        else:
            assert resource == f"{MEDIA_ARN}/uploads/*", f"{action} on {resource}"
    written = {action for action, _, _ in grants if action not in S3_READ_ACTIONS}
    assert written <= S3_MULTIPART_WRITE_ACTIONS | {"s3:PutObjectTagging", "s3:DeleteObject"}


def test_upload_role_has_no_access_to_derived_media_or_other_buckets(tf: Terraform) -> None:
    for _action, resource, conditions in _s3_grants(_policy_statements(tf, "upload_task")):
        assert "derived" not in resource and resource.startswith(MEDIA_ARN)
        for prefix in conditions.get("s3:prefix", {}).get("values", []):
            assert not fnmatch.fnmatch("derived/e/m/display.jpg", prefix)


def test_processing_role_reads_originals_and_writes_only_derived(tf: Terraform) -> None:
    for action, resource, _ in _s3_grants(_policy_statements(tf, "processing")):
        if action in S3_READ_ACTIONS:
            assert resource in (MEDIA_ARN, f"{MEDIA_ARN}/uploads/*", f"{MEDIA_ARN}/derived/*")
        else:
            assert resource == f"{MEDIA_ARN}/derived/*", f"processing writes {action} on {resource}"


def test_portal_role_only_reads_media(tf: Terraform) -> None:
    for action, resource, conditions in _s3_grants(_policy_statements(tf, "portal_task")):
        assert action in ("s3:GetObject", "s3:ListBucket"), f"portal may {action}"
        if action == "s3:ListBucket":
            assert all(prefix in ("uploads/*", "derived/*") for prefix in _list_prefixes(conditions))
        else:
            assert resource in (f"{MEDIA_ARN}/uploads/*", f"{MEDIA_ARN}/derived/*")


# --- processing ---------------------------------------------------------------


def _s3_filter_matches(lambda_config: dict, key: str) -> bool:
    """S3's own rule: the key starts with filter_prefix and ends with filter_suffix."""
    return key.startswith(lambda_config.get("filter_prefix", "")) and key.endswith(
        lambda_config.get("filter_suffix", "")
    )


def _storage_prefix(tf: Terraform) -> str:
    """The key prefix the components' MIA_STORAGE_URL (s3://BUCKET/PREFIX) puts objects under."""
    url = urlsplit(tf.mapping(tf.locals["common_environment"])["MIA_STORAGE_URL"])
    assert url.scheme == "s3" and url.netloc == "${aws_s3_bucket.media.id}"
    return url.path.strip("/")


def test_processing_is_triggered_only_by_new_originals_under_the_storage_prefix(tf: Terraform) -> None:
    notification = tf.resolve(tf.resource("aws_s3_bucket_notification", "media"))
    assert notification["bucket"] == "${aws_s3_bucket.media.id}"
    triggers = notification["lambda_function"]
    assert len(triggers) == 1
    trigger = triggers[0]
    assert trigger["lambda_function_arn"] == "${aws_lambda_function.processing.arn}"
    assert trigger["events"] == ["s3:ObjectCreated:*"]
    # The objects the S3 store writes for MIA_STORAGE_URL, and what the handler accepts of them.
    prefix = _storage_prefix(tf)
    store = S3Store(client=None, bucket="media", prefix=prefix)
    under = f"{prefix}/" if prefix else ""
    assert trigger["filter_prefix"] == f"{under}uploads/"
    assert trigger["filter_suffix"] == "/original"
    assert _s3_filter_matches(trigger, f"{under}uploads/E1/U1/original")
    assert store_key_for(store, "media", f"{under}uploads/E1/U1/original") == "uploads/E1/U1/original"
    for key in ("uploads/E1/U1/original.tail.3", "derived/E1/M1/display.jpg", "uploads/E1/U1/notoriginal"):
        assert not _s3_filter_matches(trigger, f"{under}{key}"), key
    if prefix:
        assert not _s3_filter_matches(trigger, "uploads/E1/U1/original"), "an original outside the storage prefix"


def test_processing_function_is_sized_for_large_videos(tf: Terraform) -> None:
    function = tf.resolve(tf.resource("aws_lambda_function", "processing"))
    assert function["handler"] == "processors.lambda_handlers.handle_s3_event"
    assert function["runtime"] == "python3.12" and function["architectures"] == ["x86_64"]
    assert single(function["ephemeral_storage"])["size"] >= 2 * 2048 + 1024  # a 2 GiB original, its copy, scratch
    assert function["timeout"] == 900 and function["memory_size"] >= 3008
    assert function["reserved_concurrent_executions"] >= 1
    assert single(function["dead_letter_config"])["target_arn"] == "${aws_sqs_queue.processing_dlq.arn}"
    assert tf.resource("aws_sqs_queue", "processing_dlq")["kms_master_key_id"] == "${aws_kms_key.platform.arn}"


# --- services behind the load balancer -----------------------------------------


def test_services_behind_the_load_balancer_trust_its_forwarded_headers(tf: Terraform) -> None:
    behind = set(tf.locals["web_services"])
    assert behind == {"upload", "portal"}
    service = tf.resource("aws_ecs_service", "web")
    assert service["for_each"] == "${local.web_services}" and single(service["load_balancer"])
    containers = tf.locals["containers"]
    for name in behind:
        environment = tf.mapping(containers[name]["environment"])
        assert environment.get("MIA_TRUST_PROXY_HEADERS") == "true", f"{name}: the audit would record the balancer"
    assert "load_balancer" not in tf.resource("aws_ecs_service", "maintenance")


def test_each_service_runs_the_image_of_its_requirement_set(tf: Terraform) -> None:
    """manage.py's services run the manage image; the patient-facing upload image carries none of their packages."""
    images = {name: container["image"] for name, container in tf.locals["containers"].items()}
    assert images == {
        "upload": "${local.images.upload}",
        "portal": "${local.images.portal}",
        "maintenance": "${local.images.manage}",
        "notifications": "${local.images.manage}",
        "records": "${local.images.manage}",
    }
    assert set(tf.resource("aws_ecr_repository", "app")["for_each"].split('"')[1::2]) == {"upload", "portal", "manage"}


# --- notifications service --------------------------------------------------------

MESSAGING_SECRETS = {"MIA_NOTIFY_API_KEY", "MIA_NOTIFY_CALLBACK_TOKEN", "MIA_SMTP_URL"}


def _messaging_secrets(tf: Terraform) -> dict[str, set[str]]:
    """Secret names per enabling variable, read from `local.messaging_secrets` (a merge of conditional maps)."""
    expression = str(tf.locals["messaging_secrets"])
    found: dict[str, set[str]] = {}
    for variable, part in re.findall(r"var\.([a-z_]+) \? (\{.*?\}\}) : \{\}", expression):
        found[variable] = set(re.findall(r"(MIA_[A-Z0-9_]+) = \{", part))
    return found


def test_notifications_service_runs_the_dispatcher_alone_outside_the_load_balancer(tf: Terraform) -> None:
    container = tf.locals["containers"]["notifications"]
    assert container["command"] == ["python", "manage.py", "deliver-notifications"]
    assert container["image"] == "${local.images.manage}" and container["port"] is None
    procfile = dict(line.split(": ", 1) for line in (PROJECT_ROOT / "Procfile").read_text().splitlines() if line)
    assert procfile["notifications"] == ".venv/bin/python manage.py deliver-notifications"  # as under make run
    service = tf.resource("aws_ecs_service", "notifications")
    assert service["task_definition"] == '${aws_ecs_task_definition.app["notifications"].arn}'
    assert service["desired_count"] == "${var.start_services ? 1 : 0}"
    assert "load_balancer" not in service and "notifications" not in tf.locals["web_services"]
    assert single(service["network_configuration"])["security_groups"] == ["${aws_security_group.notifications.id}"]
    assert single(service["network_configuration"])["assign_public_ip"] is False
    assert "notifications" in tf.resource("aws_cloudwatch_log_group", "service")["for_each"]


def test_notifications_role_may_do_nothing_in_aws(tf: Terraform) -> None:
    assert tf.locals["task_roles"]["notifications"] == "${aws_iam_role.notifications_task.arn}"
    granted = [
        body
        for kind in ("aws_iam_role_policy", "aws_iam_role_policy_attachment")
        for body in tf.resources.get(kind, {}).values()
        if "aws_iam_role.notifications_task." in str(body["role"])
    ]
    assert granted == []


def test_notifications_service_reaches_only_https_the_database_and_the_smtp_relay(tf: Terraform) -> None:
    group = "${aws_security_group.notifications.id}"
    assert tf.locals["app_security_group_ids"]["notifications"] == group
    reached = set()
    for name, rule in tf.resources["aws_vpc_security_group_egress_rule"].items():
        if rule.get("for_each") == "${local.app_security_group_ids}" or rule["security_group_id"] == group:
            reached.add((name, rule["from_port"], rule["to_port"]))
    assert reached == {
        ("app_https", 443, 443),
        ("app_to_database", 3306, 3306),
        ("notifications_smtp", "${var.smtp_port}", "${var.smtp_port}"),
    }
    smtp = tf.resource("aws_vpc_security_group_egress_rule", "notifications_smtp")
    assert smtp["count"] == "${var.smtp_enabled ? 1 : 0}" and smtp["ip_protocol"] == "tcp"
    assert tf.variables["smtp_port"]["default"] == 587
    ingress = tf.resources["aws_vpc_security_group_ingress_rule"].values()
    assert all(rule["security_group_id"] != group for rule in ingress), "nothing may connect to the dispatcher"


# --- records service ------------------------------------------------------------


def test_records_service_runs_the_filing_runner_alone_outside_the_load_balancer(tf: Terraform) -> None:
    container = tf.locals["containers"]["records"]
    assert container["command"] == ["python", "manage.py", "file-records"]
    assert container["image"] == "${local.images.manage}" and container["port"] is None
    procfile = dict(line.split(": ", 1) for line in (PROJECT_ROOT / "Procfile").read_text().splitlines() if line)
    assert procfile["records"] == ".venv/bin/python manage.py file-records"
    service = tf.resource("aws_ecs_service", "records")
    assert service["task_definition"] == '${aws_ecs_task_definition.app["records"].arn}'
    assert "load_balancer" not in service and "records" not in tf.locals["web_services"]
    assert single(service["network_configuration"])["security_groups"] == ["${aws_security_group.records.id}"]
    assert single(service["network_configuration"])["assign_public_ip"] is False
    assert "records" in tf.resource("aws_cloudwatch_log_group", "service")["for_each"]


def test_records_role_reads_only_display_copies(tf: Terraform) -> None:
    assert tf.locals["task_roles"]["records"] == "${aws_iam_role.records_task.arn}"
    grants = _s3_grants(_policy_statements(tf, "records_task"))
    assert {action for action, _, _ in grants} == {"s3:GetObject"}
    assert all(resource.startswith(f"{MEDIA_ARN}/") for _, resource, _ in grants)
    patterns = [resource.removeprefix(f"{MEDIA_ARN}/") for _, resource, _ in grants]
    derived = f"{_storage_prefix(tf)}derived/e1/m1/"

    def readable(key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)

    assert readable(derived + DISPLAY_IMAGE) and readable(derived + DISPLAY_VIDEO)
    assert not any(readable(derived + name) for name in (THUMBNAIL_IMAGE, POSTER_IMAGE))
    assert not readable(f"{_storage_prefix(tf)}uploads/e1/u1/original")
    ingress = tf.resources["aws_vpc_security_group_ingress_rule"].values()
    assert all(rule["security_group_id"] != "${aws_security_group.records.id}" for rule in ingress)


def test_record_credentials_are_secrets_never_app_settings(tf: Terraform) -> None:
    forbidden = single(tf.variables["app_settings"]["validation"])["condition"]
    for name in ("MIA_DICOMWEB_TOKEN", "MIA_DICOMWEB_PASSWORD", "MIA_FHIR_TOKEN"):
        assert f'"{name}"' in forbidden
        assert f'"{name}"' in single(tf.variables["record_credentials"]["validation"])["condition"]
    assert "aws_secretsmanager_secret.records" in str(tf.locals["app_secret_arns"])
    assert tf.resource("aws_secretsmanager_secret", "records")["kms_key_id"] == "${aws_kms_key.platform.arn}"


def test_provider_credentials_come_from_secrets_manager_never_from_app_settings(tf: Terraform) -> None:
    assert _messaging_secrets(tf) == {
        "notify_enabled": {"MIA_NOTIFY_API_KEY", "MIA_NOTIFY_CALLBACK_TOKEN"},
        "smtp_enabled": {"MIA_SMTP_URL"},
    }
    secret = tf.resource("aws_secretsmanager_secret", "messaging")
    assert secret["for_each"] == "${local.messaging_secrets}"
    assert secret["kms_key_id"] == "${aws_kms_key.platform.arn}"
    versions = tf.resources["aws_secretsmanager_secret_version"].values()
    assert all("secretsmanager_secret.messaging" not in str(version) for version in versions), "a value in the state"
    assert "aws_secretsmanager_secret.messaging" in str(tf.locals["app_secret_arns"])
    forbidden = single(tf.variables["app_settings"]["validation"])["condition"]
    for name in MESSAGING_SECRETS:
        assert f'"{name}"' in forbidden, f"{name} could be given in plain text through app_settings"
    assert _settings_read_by_the_code() >= MESSAGING_SECRETS


# --- configuration ------------------------------------------------------------


def _settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for path in sorted((PROJECT_ROOT / "shared" / "config").glob("*.py")):
        names |= set(re.findall(r'"(MIA_[A-Z0-9_]+)"', Path(path).read_text()))
    return names


def test_components_get_only_settings_the_code_reads(tf: Terraform) -> None:
    known = _settings_read_by_the_code()
    configured = " ".join(str(tf.locals[name]) for name in ("common_environment", "containers"))
    messaging = set().union(*_messaging_secrets(tf).values())
    given = set(re.findall(r"MIA_[A-Z0-9_]+", configured)) | set(tf.locals["app_key_secrets"]) | {"MIA_DATABASE_URL"}
    given |= messaging
    assert "MIA_STORAGE_URL" in given and "MIA_ENV" in given
    assert given <= known, f"not read by shared/config/: {sorted(given - known)}"
    secrets = set(tf.locals["app_key_secrets"]) | {"MIA_DATABASE_URL"}
    assert secrets == {
        "MIA_DATABASE_URL",
        "MIA_ENCRYPTION_KEYS",
        "MIA_BLIND_INDEX_KEY",
        "MIA_URL_SIGNING_KEY",
        "MIA_COOKIE_KEY",
    }


def test_every_variable_and_output_is_documented(tf: Terraform) -> None:
    readme = (PROJECT_ROOT / "terraform" / "README.md").read_text()
    for name, variable in tf.variables.items():
        assert variable.get("description"), f"variable {name} has no description"
        assert f"`{name}`" in readme, f"variable {name} is not in terraform/README.md"
    outputs = {}
    for path in sorted((PROJECT_ROOT / "terraform").glob("*.tf")):
        outputs.update(dict.fromkeys(re.findall(r'^output "([a-z0-9_]+)"', path.read_text(), flags=re.M)))
    assert outputs
    for name in outputs:
        assert f"`{name}`" in readme, f"output {name} is not in terraform/README.md"


def test_checkov_skips_are_documented_with_reasons() -> None:
    readme = (PROJECT_ROOT / "terraform" / "README.md").read_text()
    for path in sorted((PROJECT_ROOT / "terraform").glob("*.tf")):
        for check, reason in re.findall(r"#checkov:skip=([A-Z0-9_]+):(.*)", path.read_text()):
            assert len(reason.strip()) > 20, f"{path.name}: {check} skipped without a reason"
            assert check in readme, f"{path.name}: {check} skipped but not listed in terraform/README.md"
