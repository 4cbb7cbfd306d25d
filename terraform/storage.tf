# Buckets:
#  - media: patient originals (uploads/) and derived copies (derived/);
#    private, TLS only, SSE-KMS with the media key, versioned, lifecycle for
#    abandoned uploads, request metrics for the manager dashboards;
#  - artifacts: the Lambda deployment package and the ffmpeg layer;
#  - logs: load balancer and S3 server access logs (SSE-S3, the only
#    encryption the load balancer can deliver to).

locals {
  media_bucket     = "${local.name}-media-${local.account_id}"
  artifacts_bucket = "${local.name}-artifacts-${local.account_id}"
  logs_bucket      = "${local.name}-logs-${local.account_id}"
}

# --- media --------------------------------------------------------------------

resource "aws_s3_bucket" "media" {
  #checkov:skip=CKV_AWS_144:Patient media must stay in the UK and eu-west-2 is the only UK region; versioning and the noncurrent-version window are the recovery path.
  bucket = local.media_bucket
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket = aws_s3_bucket.media.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.media.arn
    }
    # One data key per bucket instead of a KMS call per object and part.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id

  versioning_configuration {
    status = "Enabled"
  }
}

data "aws_iam_policy_document" "media_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.media.arn,
      "${aws_s3_bucket.media.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOldTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.media.arn, "${aws_s3_bucket.media.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # Objects are encrypted with the media key or not written at all.
  statement {
    sid       = "DenyOtherEncryptionKeys"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.media.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = ["false"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.media.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket = aws_s3_bucket.media.id
  policy = data.aws_iam_policy_document.media_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.media]
}

# Lifecycle. Abandoned uploads are cleaned by the maintenance task
# (manage.py purge-expired aborts the multipart upload and deletes its tails);
# these rules are the safety net for whatever it misses (a lost database row,
# a crash between steps):
#  - a multipart upload nobody completed is aborted after N days (frees the
#    parts, which are invisible but billed);
#  - a tail object (uploads/.../original.tail.N, tagged by the S3 store) is
#    deleted after N days: tails live only while an upload runs, which is at
#    most MIA_UPLOAD_EXPIRY_HOURS. S3 lifecycle filters cannot match a key
#    suffix, and originals share the uploads/ prefix, so the tag is what
#    tells a tail from an original;
#  - versions replaced or deleted are kept for a recovery window and then
#    removed (tails after one day: every PATCH replaces one), and delete
#    markers with no versions left are removed.
resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "expire-abandoned-upload-tails"
    status = "Enabled"

    filter {
      and {
        prefix = local.uploads_prefix
        tags = {
          (local.tail_tag_key) = local.tail_tag_value
        }
      }
    }

    expiration {
      days = var.abandoned_tail_expiry_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.media]
}

resource "aws_s3_bucket_logging" "media" {
  bucket        = aws_s3_bucket.media.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.media_bucket}/"
}

# Request metrics (BucketSizeBytes and NumberOfObjects are daily and free;
# request counts, bytes and latencies per minute need a configuration).
# The portal's storage dashboard reads them by filter id.
resource "aws_s3_bucket_metric" "media_entire_bucket" {
  bucket = aws_s3_bucket.media.id
  name   = "EntireBucket"
}

resource "aws_s3_bucket_metric" "media_uploads" {
  bucket = aws_s3_bucket.media.id
  name   = "uploads"

  filter {
    prefix = local.uploads_prefix
  }
}

resource "aws_s3_bucket_metric" "media_derived" {
  bucket = aws_s3_bucket.media.id
  name   = "derived"

  filter {
    prefix = local.derived_prefix
  }
}

# --- artifacts ----------------------------------------------------------------

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_144:Build artifacts are rebuilt from the repository; no replica needed.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new artifacts; Terraform deploys them.
  bucket = local.artifacts_bucket
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.platform.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

data "aws_iam_policy_document" "artifacts_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "old-artifacts"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }

    noncurrent_version_expiration {
      noncurrent_days = 90
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

resource "aws_s3_bucket_logging" "artifacts" {
  bucket        = aws_s3_bucket.artifacts.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.artifacts_bucket}/"
}

resource "aws_s3_object" "processors_package" {
  bucket      = aws_s3_bucket.artifacts.id
  key         = "lambda/processors.zip"
  source      = local.lambda_package_path
  source_hash = fileexists(local.lambda_package_path) ? filemd5(local.lambda_package_path) : null

  lifecycle {
    precondition {
      condition     = fileexists(local.lambda_package_path)
      error_message = "No the processors package at ${local.lambda_package_path}: run `make lambda-package` first (or set the path variable)."
    }
  }
}

resource "aws_s3_object" "ffmpeg_layer" {
  bucket      = aws_s3_bucket.artifacts.id
  key         = "lambda/ffmpeg-layer.zip"
  source      = local.ffmpeg_layer_path
  source_hash = fileexists(local.ffmpeg_layer_path) ? filemd5(local.ffmpeg_layer_path) : null

  lifecycle {
    precondition {
      condition     = fileexists(local.ffmpeg_layer_path)
      error_message = "No the ffmpeg layer at ${local.ffmpeg_layer_path}: run `make lambda-package` first (or set the path variable)."
    }
  }
}

# --- logs ---------------------------------------------------------------------

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs need no cross-region replica.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new log files.
  #checkov:skip=CKV_AWS_145:Load balancer access logs can only be delivered to SSE-S3 buckets (AWS limitation); logs carry no patient data beyond URLs.
  bucket = local.logs_bucket
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket = aws_s3_bucket.logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

data "aws_elb_service_account" "current" {}

data "aws_iam_policy_document" "logs_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "LoadBalancerDeliversAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }

  statement {
    sid       = "S3DeliversServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.media.arn, aws_s3_bucket.artifacts.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}
