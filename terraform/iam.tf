# One role per component, each allowed only what its code does:
#  - upload service: writes originals under uploads/ as S3 multipart uploads,
#    plus the small "tail" objects it keeps beside them between PATCHes (put,
#    tag, read back, delete), aborts, lists the parts and tails of its own
#    uploads; nothing outside uploads/;
#  - portal: reads and pre-signs media under uploads/ and derived/, lists
#    those prefixes and reads CloudWatch metrics for the dashboards;
#  - maintenance task (purge-expired, migrations): aborts abandoned uploads
#    and deletes their tails under uploads/;
#  - notifications service: nothing in AWS (it reads the database and talks
#    to GOV.UK Notify and the mail relay), so its role has no policy;
#  - records service: reads the display copies under derived/ (display.jpg,
#    video.mp4) that it files to the record; nothing else;
#  - processing function: reads originals, writes derived copies.
# No statement grants s3:* or any other wildcard action on data.

locals {
  media_uploads_objects = "${aws_s3_bucket.media.arn}/${local.uploads_prefix}*"
  media_derived_objects = "${aws_s3_bucket.media.arn}/${local.derived_prefix}*"
  s3_via_service        = "s3.${local.region}.amazonaws.com"
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- ECS task execution (pull image, write logs, inject secrets) -------------

data "aws_iam_policy_document" "ecs_execution" {
  statement {
    sid       = "EcrAuthorizationTokenIsAccountWide"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullOwnImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [for repository in aws_ecr_repository.app : repository.arn]
  }

  statement {
    sid     = "WriteServiceLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      for group in aws_cloudwatch_log_group.service : "${group.arn}:*"
    ]
  }

  statement {
    sid       = "ReadApplicationSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(local.app_secret_arns)
  }

  statement {
    sid       = "DecryptApplicationSecrets"
    actions   = ["kms:Decrypt"]
    resources = local.secret_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ecs_execution" {
  name               = "${local.name}-ecs-execution"
  description        = "MIA: ECS pulls images, writes logs and injects secrets for the tasks"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "ecs_execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.ecs_execution.id
  policy = data.aws_iam_policy_document.ecs_execution.json
}

# --- upload service -----------------------------------------------------------

data "aws_iam_policy_document" "upload_task" {
  # Multipart upload of originals (CreateMultipartUpload, UploadPart and
  # CompleteMultipartUpload are all s3:PutObject), the tail objects between
  # PATCHes (put with their lifecycle tag, read back, delete), a patient
  # removing their own upload, and aborting.
  statement {
    sid = "ResumableUploadsUnderUploadsPrefix"
    actions = [
      "s3:PutObject",
      "s3:PutObjectTagging",
      "s3:GetObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [local.media_uploads_objects]
  }

  # Finding the tails of one upload (ListObjectsV2 with Prefix=<key>.tail.).
  statement {
    sid       = "ListOnlyUnderUploadsPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.media.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.uploads_prefix}*"]
    }
  }

  statement {
    sid       = "MediaKeyThroughS3Only"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.media.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }
}

resource "aws_iam_role" "upload_task" {
  name               = "${local.name}-upload-task"
  description        = "MIA upload service: resumable uploads under uploads/ only"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "upload_task" {
  name   = "uploads-prefix-only"
  role   = aws_iam_role.upload_task.id
  policy = data.aws_iam_policy_document.upload_task.json
}

# --- portal -------------------------------------------------------------------

data "aws_iam_policy_document" "portal_task" {
  # Pre-signed URLs carry the signer's permissions: GetObject is what lets a
  # clinician's browser fetch an original or a derived copy for 5 minutes.
  statement {
    sid       = "ReadMediaForPresignedUrls"
    actions   = ["s3:GetObject"]
    resources = [local.media_uploads_objects, local.media_derived_objects]
  }

  statement {
    sid       = "ListMediaPrefixesForDashboards"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.media.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.uploads_prefix}*", "${local.derived_prefix}*"]
    }
  }

  statement {
    sid       = "DecryptMediaThroughS3Only"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.media.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  # GetMetricData and ListMetrics have no resource-level permissions.
  statement {
    sid       = "ReadMetricsForDashboards"
    actions   = ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "cloudwatch:GetMetricStatistics"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "portal_task" {
  name               = "${local.name}-portal-task"
  description        = "MIA portal: read and pre-sign media, dashboards"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "portal_task" {
  name   = "read-media-and-metrics"
  role   = aws_iam_role.portal_task.id
  policy = data.aws_iam_policy_document.portal_task.json
}

# --- maintenance task ---------------------------------------------------------

data "aws_iam_policy_document" "maintenance_task" {
  statement {
    sid       = "AbortAbandonedUploads"
    actions   = ["s3:AbortMultipartUpload", "s3:DeleteObject"]
    resources = [local.media_uploads_objects]
  }

  statement {
    sid       = "ListTailsUnderUploadsPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.media.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.uploads_prefix}*"]
    }
  }
}

resource "aws_iam_role" "maintenance_task" {
  name               = "${local.name}-maintenance-task"
  description        = "MIA maintenance: purge abandoned uploads, run migrations"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "maintenance_task" {
  name   = "purge-abandoned-uploads"
  role   = aws_iam_role.maintenance_task.id
  policy = data.aws_iam_policy_document.maintenance_task.json
}

# --- notifications service ----------------------------------------------------

resource "aws_iam_role" "notifications_task" {
  name               = "${local.name}-notifications-task"
  description        = "MIA notifications: no AWS permission (database, GOV.UK Notify and SMTP only)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# --- records service ----------------------------------------------------------

locals {
  # The display copies the processors write (processors/results.py): what is filed, never originals or thumbnails.
  media_display_copies = [
    "${aws_s3_bucket.media.arn}/${local.derived_prefix}*/display.jpg",
    "${aws_s3_bucket.media.arn}/${local.derived_prefix}*/video.mp4",
  ]
}

data "aws_iam_policy_document" "records_task" {
  statement {
    sid       = "ReadDisplayCopiesToFile"
    actions   = ["s3:GetObject"]
    resources = local.media_display_copies
  }

  statement {
    sid       = "DecryptMediaThroughS3Only"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.media.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }
}

resource "aws_iam_role" "records_task" {
  name               = "${local.name}-records-task"
  description        = "MIA records: read display copies to file them to the patient record"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "records_task" {
  name   = "read-display-copies"
  role   = aws_iam_role.records_task.id
  policy = data.aws_iam_policy_document.records_task.json
}

# --- processing function ------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "processing" {
  statement {
    sid       = "ReadOriginals"
    actions   = ["s3:GetObject"]
    resources = [local.media_uploads_objects]
  }

  # Derived copies: written (multipart for videos, hence abort) and read back
  # when a repeated event finds them already there.
  statement {
    sid       = "WriteDerivedCopies"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
    resources = [local.media_derived_objects]
  }

  # Without ListBucket a missing key answers 403 instead of 404.
  statement {
    sid       = "ListMediaPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.media.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.uploads_prefix}*", "${local.derived_prefix}*"]
    }
  }

  statement {
    sid       = "MediaKeyThroughS3Only"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.media.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  statement {
    sid       = "ReadApplicationSecretsAtStartUp"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(local.processing_secret_arns)
  }

  statement {
    sid       = "DecryptApplicationSecrets"
    actions   = ["kms:Decrypt"]
    resources = local.secret_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.processing_dlq.arn]
  }

  statement {
    sid       = "PlatformKeyForDeadLettersAndEnvironment"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.platform.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com", "lambda.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.processing.arn}:*"]
  }

  # X-Ray trace upload has no resource-level permissions.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "processing" {
  name               = "${local.name}-processing"
  description        = "MIA processing function: read originals, write derived copies"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "processing" {
  name   = "read-originals-write-derived"
  role   = aws_iam_role.processing.id
  policy = data.aws_iam_policy_document.processing.json
}

# Network interfaces in the VPC (AWS managed, ec2:*NetworkInterface* only).
resource "aws_iam_role_policy_attachment" "processing_vpc" {
  role       = aws_iam_role.processing.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}
