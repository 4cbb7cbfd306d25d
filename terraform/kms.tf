# Two customer managed keys, rotated yearly by KMS:
#  - media: the media bucket only, so that S3 data access and platform
#    secrets are granted separately;
#  - platform: secrets, logs, the dead-letter queue, the alarm topic, the
#    database, the Lambda environment, the image repositories and artifacts.

data "aws_iam_policy_document" "media_key" {
  #checkov:skip=CKV_AWS_111:Key policy, not an IAM policy: "*" is this key, and the account statement delegates access to IAM as the AWS default key policy does.
  #checkov:skip=CKV_AWS_356:Key policy, not an IAM policy: "*" is this key.
  #checkov:skip=CKV_AWS_109:Key policy, not an IAM policy: the account statement delegates key administration to IAM (AWS default key policy).
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "media" {
  description             = "MIA ${var.environment}: patient media in S3"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.media_key.json
}

resource "aws_kms_alias" "media" {
  name          = "alias/${local.name}-media"
  target_key_id = aws_kms_key.media.key_id
}

data "aws_iam_policy_document" "platform_key" {
  #checkov:skip=CKV_AWS_111:Key policy, not an IAM policy: "*" is this key, and the account statement delegates access to IAM as the AWS default key policy does.
  #checkov:skip=CKV_AWS_356:Key policy, not an IAM policy: "*" is this key.
  #checkov:skip=CKV_AWS_109:Key policy, not an IAM policy: the account statement delegates key administration to IAM (AWS default key policy).
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "platform" {
  description             = "MIA ${var.environment}: secrets, logs, queues, database"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.platform_key.json
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${local.name}-platform"
  target_key_id = aws_kms_key.platform.key_id
}
