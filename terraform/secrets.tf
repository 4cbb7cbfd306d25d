# Secrets Manager holds every secret the components read; ECS injects them
# as environment variables, the processing function reads them at start-up
# (lambda-layers/secrets-env). Terraform creates the key secrets EMPTY: their
# values are generated and put by scripts/aws_app_keys.py, so no key ever
# passes through Terraform or its state. The database URL is written here
# through a write-only argument (never stored in the state either).

locals {
  app_key_secrets = {
    MIA_ENCRYPTION_KEYS = {
      name        = "field-encryption-keys"
      description = "Field-encryption keyring, KEY_ID:BASE64[,KEY_ID:BASE64...]; the last key encrypts new values"
    }
    MIA_BLIND_INDEX_KEY = {
      name        = "blind-index-key"
      description = "Base64 32-byte HMAC key of the NHS-number search index (never rotate without re-indexing)"
    }
    MIA_URL_SIGNING_KEY = {
      name        = "url-signing-key"
      description = "Base64 32-byte key signing local media URLs"
    }
    MIA_COOKIE_KEY = {
      name        = "cookie-key"
      description = "Base64 32-byte key signing the portal sign-in cookie"
    }
  }
}

resource "aws_secretsmanager_secret" "app_key" {
  #checkov:skip=CKV2_AWS_57:Keys are rotated by the operator procedure in terraform/README.md (new field keys need manage.py rotate-keys to re-encrypt every field); a rotation Lambda cannot do that.
  for_each = local.app_key_secrets

  name                    = "${local.name}/${each.value.name}"
  description             = "MIA ${var.environment}: ${each.value.description}"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 30
}

# Credentials of the message providers, created empty when enabled; the operator puts their values
# (terraform/README.md, "Messages: GOV.UK Notify and SMTP"), so they never pass through Terraform either.
locals {
  messaging_secrets = merge(
    var.notify_enabled ? {
      MIA_NOTIFY_API_KEY = {
        name        = "notify-api-key"
        description = "GOV.UK Notify API key (live or team key) of the service that sends texts and email"
      }
      MIA_NOTIFY_CALLBACK_TOKEN = {
        name        = "notify-callback-token"
        description = "Bearer token GOV.UK Notify sends with delivery receipts (set the same in Notify's callback settings)"
      }
    } : {},
    var.smtp_enabled ? {
      MIA_SMTP_URL = {
        name        = "smtp-url"
        description = "SMTP relay with credentials, smtp://USER:PASSWORD@HOST:587?starttls=true or smtps://USER:PASSWORD@HOST:465"
      }
    } : {},
  )
}

resource "aws_secretsmanager_secret" "messaging" {
  #checkov:skip=CKV2_AWS_57:Provider credentials are issued by GOV.UK Notify and the mail relay, not by AWS; they are rotated by putting the new value and bumping key_generation (terraform/README.md).
  for_each = local.messaging_secrets

  name                    = "${local.name}/${each.value.name}"
  description             = "MIA ${var.environment}: ${each.value.description}"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 30
}

# Credentials of the record destinations (PACS, FHIR server), created empty for the operator to fill, as above.
resource "aws_secretsmanager_secret" "records" {
  #checkov:skip=CKV2_AWS_57:Record destination credentials are issued by the trust's PACS and FHIR server, not by AWS; they are rotated by putting the new value and bumping key_generation (terraform/README.md).
  for_each = var.record_credentials

  name                    = "${local.name}/${lower(replace(trimprefix(each.value, "MIA_"), "_", "-"))}"
  description             = "MIA ${var.environment}: ${each.value}, the record destination's credential"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret" "database_url" {
  #checkov:skip=CKV2_AWS_57:The password is rotated by bumping database_password_version, which writes the cluster and this secret in one apply.
  count = var.create_database ? 1 : 0

  name                    = "${local.name}/database-url"
  description             = "MIA ${var.environment}: MIA_DATABASE_URL, mysql+pymysql://USER:PASSWORD@HOST:3306/mia with TLS"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 30
}

# The master password is generated once (ephemeral: never in the plan or the
# state) and written to its own secret; the cluster and the URL take it back
# from there, so a failed or repeated apply can never leave them disagreeing.
resource "aws_secretsmanager_secret" "database_password" {
  #checkov:skip=CKV2_AWS_57:The password is rotated by bumping database_password_version, which writes the cluster and this secret in one apply.
  count = var.create_database ? 1 : 0

  name                    = "${local.name}/database-master-password"
  description             = "MIA ${var.environment}: password of the database master user mia_admin"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "database_password" {
  count = var.create_database ? 1 : 0

  secret_id                = aws_secretsmanager_secret.database_password[0].id
  secret_string_wo         = ephemeral.random_password.database[0].result
  secret_string_wo_version = var.database_password_version
}

ephemeral "aws_secretsmanager_secret_version" "database_password" {
  count = var.create_database ? 1 : 0

  secret_id = aws_secretsmanager_secret_version.database_password[0].secret_id
}

resource "aws_secretsmanager_secret_version" "database_url" {
  count = var.create_database ? 1 : 0

  secret_id = aws_secretsmanager_secret.database_url[0].id
  secret_string_wo = format(
    "mysql+pymysql://%s:%s@%s:%d/%s?charset=utf8mb4&ssl_ca=%s",
    aws_rds_cluster.main[0].master_username,
    ephemeral.aws_secretsmanager_secret_version.database_password[0].secret_string,
    aws_rds_cluster.main[0].endpoint,
    aws_rds_cluster.main[0].port,
    aws_rds_cluster.main[0].database_name,
    local.rds_ca_path,
  )
  # Rewritten when the password version or the endpoint changes.
  secret_string_wo_version = parseint(substr(sha256(jsonencode([var.database_password_version, aws_rds_cluster.main[0].endpoint])), 0, 12), 16)
}

locals {
  database_url_secret_arn = var.create_database ? aws_secretsmanager_secret.database_url[0].arn : var.existing_database_url_secret_arn

  # Environment variable name => secret ARN, for every component.
  # Every service reads the messaging settings: the outbox stores a message `not_configured` when its
  # channel has no provider, so whatever queues a message must know; only the notifications service sends.
  app_secret_arns = merge(
    { for env_name, secret in aws_secretsmanager_secret.app_key : env_name => secret.arn },
    { for env_name, secret in aws_secretsmanager_secret.messaging : env_name => secret.arn },
    { for env_name, secret in aws_secretsmanager_secret.records : env_name => secret.arn },
    { MIA_DATABASE_URL = local.database_url_secret_arn },
  )
  # The processors read no patient field, so they get the database URL and no keys.
  processing_secret_arns = { MIA_DATABASE_URL = local.database_url_secret_arn }

  secret_kms_key_arns = compact([aws_kms_key.platform.arn, var.existing_database_secret_kms_key_arn])
}
