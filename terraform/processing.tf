# The processors on Lambda (ZIP package + ffmpeg layer from `make
# lambda-package`), started by S3 for every new original:
#   uploads/{encounter}/{upload}/original
# and never for the resumable-upload tails beside it (original.tail.N), which
# the suffix filter leaves out. Failed asynchronous invocations (after two
# retries) land in an encrypted dead-letter queue.
#
# Lambda cannot inject secrets the way ECS does, so a third layer
# (lambda-layers/secrets-env) runs as AWS_LAMBDA_EXEC_WRAPPER: at start-up it
# reads the secrets named in MIA_SECRET_ARNS into the environment, then starts
# the Python runtime. No secret value is in the function configuration or in
# the Terraform state. The layer also carries the RDS certificate bundle the
# database URL points at (ssl_ca=).

resource "aws_sqs_queue" "processing_dlq" {
  name                              = "${local.name}-processing-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.platform.arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_lambda_layer_version" "ffmpeg" {
  layer_name               = "${local.name}-ffmpeg"
  description              = "Static ffmpeg at /opt/bin/ffmpeg"
  s3_bucket                = aws_s3_object.ffmpeg_layer.bucket
  s3_key                   = aws_s3_object.ffmpeg_layer.key
  s3_object_version        = aws_s3_object.ffmpeg_layer.version_id
  source_code_hash         = fileexists(local.ffmpeg_layer_path) ? filebase64sha256(local.ffmpeg_layer_path) : null
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["x86_64"]
}

data "http" "rds_ca_bundle" {
  url = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

  lifecycle {
    postcondition {
      condition     = self.status_code == 200 && strcontains(self.response_body, "BEGIN CERTIFICATE")
      error_message = "Could not download the RDS certificate bundle from truststore.pki.rds.amazonaws.com."
    }
  }
}

data "archive_file" "secrets_env_layer" {
  type             = "zip"
  output_path      = "${path.module}/../build/lambda/secrets-env-layer.zip"
  output_file_mode = "0755"

  source {
    filename = "bin/mia-secrets-env"
    content  = file("${path.module}/lambda-layers/secrets-env/bin/mia-secrets-env")
  }

  source {
    filename = "mia/secrets_env.py"
    content  = file("${path.module}/lambda-layers/secrets-env/secrets_env.py")
  }

  source {
    filename = "mia/rds-ca/global-bundle.pem"
    content  = data.http.rds_ca_bundle.response_body
  }
}

resource "aws_lambda_layer_version" "secrets_env" {
  layer_name               = "${local.name}-secrets-env"
  description              = "Reads MIA secrets from Secrets Manager at start-up; RDS CA bundle"
  filename                 = data.archive_file.secrets_env_layer.output_path
  source_code_hash         = data.archive_file.secrets_env_layer.output_base64sha256
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["x86_64"]
}

resource "aws_lambda_function" "processing" {
  #checkov:skip=CKV_AWS_272:The package is built by `make lambda-package` from the reviewed repository and uploaded by Terraform to a private, versioned bucket; there is no AWS Signer profile in this deployment.
  function_name = "${local.name}-processing"
  description   = "MIA processors: make each new original reviewable"
  role          = aws_iam_role.processing.arn

  runtime       = "python3.12"
  architectures = ["x86_64"]
  handler       = "processors.lambda_handlers.handle_s3_event"

  s3_bucket         = aws_s3_object.processors_package.bucket
  s3_key            = aws_s3_object.processors_package.key
  s3_object_version = aws_s3_object.processors_package.version_id
  source_code_hash  = fileexists(local.lambda_package_path) ? filebase64sha256(local.lambda_package_path) : null
  layers            = [aws_lambda_layer_version.ffmpeg.arn, aws_lambda_layer_version.secrets_env.arn]

  memory_size                    = var.processing_memory_mb
  timeout                        = var.processing_timeout_seconds
  reserved_concurrent_executions = var.processing_reserved_concurrency

  ephemeral_storage {
    size = var.processing_ephemeral_storage_mb
  }

  vpc_config {
    subnet_ids         = aws_subnet.private[*].id
    security_group_ids = [aws_security_group.processing.id]
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.processing_dlq.arn
  }

  tracing_config {
    mode = "Active"
  }

  kms_key_arn = aws_kms_key.platform.arn

  environment {
    variables = merge(local.common_environment, {
      AWS_LAMBDA_EXEC_WRAPPER = "/opt/bin/mia-secrets-env"
      MIA_SECRET_ARNS         = jsonencode(local.processing_secret_arns)
      MIA_FFMPEG_BINARY       = "/opt/bin/ffmpeg"
    })
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.processing.name
  }

  depends_on = [
    aws_iam_role_policy.processing,
    aws_iam_role_policy_attachment.processing_vpc,
  ]
}

resource "aws_lambda_function_event_invoke_config" "processing" {
  function_name                = aws_lambda_function.processing.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 21600
}

resource "aws_lambda_permission" "s3_invokes_processing" {
  statement_id   = "S3InvokesProcessingForNewOriginals"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.processing.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.media.arn
  source_account = local.account_id
}

resource "aws_s3_bucket_notification" "media" {
  bucket = aws_s3_bucket.media.id

  lambda_function {
    id                  = "process-new-originals"
    lambda_function_arn = aws_lambda_function.processing.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = local.uploads_prefix
    filter_suffix       = local.original_suffix
  }

  depends_on = [aws_lambda_permission.s3_invokes_processing]
}
