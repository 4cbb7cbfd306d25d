output "load_balancer_dns_name" {
  description = "DNS name of the load balancer: point patient_domain and portal_domain at it (CNAME or Route 53 alias)."
  value       = aws_lb.main.dns_name
}

output "load_balancer_zone_id" {
  description = "Hosted zone of the load balancer, for Route 53 alias records."
  value       = aws_lb.main.zone_id
}

output "patient_url" {
  description = "Base URL of the patient upload service (MIA_PATIENT_BASE_URL)."
  value       = "https://${var.patient_domain}"
}

output "portal_url" {
  description = "Base URL of the clinician portal (MIA_PORTAL_BASE_URL)."
  value       = "https://${var.portal_domain}"
}

output "ecr_repository_urls" {
  description = "Where to push the images: { upload = URL, portal = URL, manage = URL }."
  value       = { for name, repository in aws_ecr_repository.app : name => repository.repository_url }
}

output "ecs_cluster_name" {
  description = "ECS cluster running the services."
  value       = aws_ecs_cluster.main.name
}

output "maintenance_task_definition" {
  description = "Task definition family for one-off manage.py commands (migrate, create-user, rotate-keys) with aws ecs run-task."
  value       = aws_ecs_task_definition.app["maintenance"].family
}

output "run_task_network_configuration" {
  description = "The --network-configuration argument of aws ecs run-task for a one-off maintenance task."
  value       = "awsvpcConfiguration={subnets=[${join(",", aws_subnet.private[*].id)}],securityGroups=[${aws_security_group.maintenance.id}],assignPublicIp=DISABLED}"
}

output "app_key_secret_arns" {
  description = "Secrets to fill before the first start ({ ENV_NAME = ARN }); scripts/aws_app_keys.py reads this."
  value       = { for env_name, secret in aws_secretsmanager_secret.app_key : env_name => secret.arn }
}

output "messaging_secret_arns" {
  description = "Secrets of the message providers to fill before the first start ({ ENV_NAME = ARN }; empty unless notify_enabled or smtp_enabled)."
  value       = { for env_name, secret in aws_secretsmanager_secret.messaging : env_name => secret.arn }
}

output "database_url_secret_arn" {
  description = "Secret holding MIA_DATABASE_URL."
  value       = local.database_url_secret_arn
}

output "database_master_password_secret_arn" {
  description = "Secret holding the database master password (break-glass access; the services use database_url_secret_arn)."
  value       = var.create_database ? aws_secretsmanager_secret.database_password[0].arn : null
}

output "database_endpoint" {
  description = "Writer endpoint of the Aurora cluster (null with an existing database)."
  value       = var.create_database ? aws_rds_cluster.main[0].endpoint : null
}

output "media_bucket" {
  description = "Bucket holding patient media (MIA_STORAGE_URL = s3://BUCKET)."
  value       = aws_s3_bucket.media.id
}

output "media_kms_key_arn" {
  description = "Customer managed key encrypting the media bucket."
  value       = aws_kms_key.media.arn
}

output "s3_request_metrics_filter_ids" {
  description = "FilterId dimension values of the S3 request metrics (AWS/S3 namespace) for the storage dashboards."
  value       = [aws_s3_bucket_metric.media_entire_bucket.name, aws_s3_bucket_metric.media_uploads.name, aws_s3_bucket_metric.media_derived.name]
}

output "artifacts_bucket" {
  description = "Bucket holding the Lambda package and layers."
  value       = aws_s3_bucket.artifacts.id
}

output "logs_bucket" {
  description = "Bucket holding load balancer and S3 access logs."
  value       = aws_s3_bucket.logs.id
}

output "processing_function_name" {
  description = "Lambda function processing new uploads."
  value       = aws_lambda_function.processing.function_name
}

output "processing_dead_letter_queue_url" {
  description = "Dead-letter queue of the processing function (S3 events that failed every retry)."
  value       = aws_sqs_queue.processing_dlq.url
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to; subscribe the on-call rota."
  value       = aws_sns_topic.alarms.arn
}

output "web_acl_arn" {
  description = "AWS WAF web ACL protecting the load balancer."
  value       = aws_wafv2_web_acl.main.arn
}
