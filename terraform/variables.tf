# Every input of the MIA production stack. Only the four without a default
# must be set (see terraform.tfvars.example); the rest are safe defaults.

# --- general ----------------------------------------------------------------

variable "region" {
  description = "AWS region. London (eu-west-2) keeps patient data in the UK."
  type        = string
  default     = "eu-west-2"
}

variable "name_prefix" {
  description = "Prefix of every resource name (letters, digits and hyphens)."
  type        = string
  default     = "mia"

  # Short enough for the 32-character load balancer and target group names.
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,7}$", var.name_prefix))
    error_message = "name_prefix: 2-8 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name, part of resource names and tags (e.g. production, staging)."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.environment))
    error_message = "environment: 2-12 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource (e.g. cost centre, data classification)."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Protect the load balancer and the database from deletion. Turn off only to tear a test stack down."
  type        = bool
  default     = true
}

# --- network ------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR block of the VPC; split into one public and one private subnet per availability zone."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr: an IPv4 CIDR block of /20 or larger, e.g. 10.40.0.0/16."
  }
}

variable "az_count" {
  description = "Number of availability zones to spread subnets, tasks and database instances over (2 or 3)."
  type        = number
  default     = 2

  validation {
    condition     = contains([2, 3], var.az_count)
    error_message = "az_count: 2 or 3 (Aurora and the load balancer need at least two zones)."
  }
}

variable "single_nat_gateway" {
  description = "Use one NAT gateway for all zones (cheaper, but outbound traffic stops if that zone fails)."
  type        = bool
  default     = false
}

# --- edge ---------------------------------------------------------------------

variable "patient_domain" {
  description = "Host name patients use (the upload service), e.g. photos.example.nhs.uk. Point it at the load balancer."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.patient_domain))
    error_message = "patient_domain: a lower-case DNS host name such as photos.example.nhs.uk."
  }
}

variable "portal_domain" {
  description = "Host name clinicians use (the portal), e.g. mia-portal.example.nhs.uk. Point it at the load balancer."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.portal_domain))
    error_message = "portal_domain: a lower-case DNS host name such as mia-portal.example.nhs.uk."
  }
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate (same region) covering patient_domain and portal_domain."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/", var.certificate_arn))
    error_message = "certificate_arn: an ACM certificate ARN, arn:aws:acm:REGION:ACCOUNT:certificate/ID."
  }
}

variable "additional_certificate_arns" {
  description = "More ACM certificates for the HTTPS listener, when the two host names are not on one certificate."
  type        = list(string)
  default     = []
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.3 and 1.2 with forward-secret ciphers only)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-")
    error_message = "ssl_policy: one of the ELBSecurityPolicy-TLS13-* policies."
  }
}

variable "alb_idle_timeout" {
  description = "Seconds the load balancer keeps an idle connection (the portal's websocket, slow mobile uploads)."
  type        = number
  default     = 120
}

variable "allowed_countries" {
  description = "ISO 3166-1 alpha-2 codes of the countries allowed to reach the service; every other country is blocked by the WAF."
  type        = list(string)
  default     = ["GB"]

  validation {
    condition     = length(var.allowed_countries) > 0 && alltrue([for code in var.allowed_countries : can(regex("^[A-Z]{2}$", code))])
    error_message = "allowed_countries: at least one upper-case two-letter country code, e.g. [\"GB\"]."
  }
}

variable "verification_rate_limit" {
  description = "Most date-of-birth attempts (POST /p/...) one IP address may make in 5 minutes before the WAF blocks it."
  type        = number
  default     = 100

  validation {
    condition     = var.verification_rate_limit >= 10 && var.verification_rate_limit <= 2000000000
    error_message = "verification_rate_limit: at least 10 (the AWS WAF minimum)."
  }
}

variable "portal_allowed_cidrs" {
  description = "If not empty, only these IPv4 ranges (e.g. the trust's HSCN egress) may reach the portal host name."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.portal_allowed_cidrs : can(cidrnetmask(cidr))])
    error_message = "portal_allowed_cidrs: IPv4 CIDR blocks such as 194.0.2.0/24."
  }
}

# --- services -----------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the upload, portal and manage images in their ECR repositories (immutable tags, e.g. the git commit)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag: a Docker tag other than 'latest' (tags are immutable; use the git commit)."
  }
}

variable "start_services" {
  description = "Run the ECS services. Set false for the first apply, before the keys are seeded and the database migrated."
  type        = bool
  default     = true
}

variable "records_cpu" {
  description = "CPU units of the records service task (1024 = 1 vCPU); it transcodes a video only when its H.264 fits no DICOM transfer syntax."
  type        = number
  default     = 512
}

variable "records_memory" {
  description = "Memory (MiB) of the records service task (one filing's display copies are read in turn)."
  type        = number
  default     = 1024
}

variable "upload_cpu" {
  description = "CPU units of one upload-service task (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "upload_memory" {
  description = "Memory (MiB) of one upload-service task."
  type        = number
  default     = 1024
}

variable "upload_min_count" {
  description = "Fewest upload-service tasks (spread over the zones)."
  type        = number
  default     = 2
}

variable "upload_max_count" {
  description = "Most upload-service tasks the CPU autoscaling may start."
  type        = number
  default     = 10
}

variable "portal_cpu" {
  description = "CPU units of one portal task (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "portal_memory" {
  description = "Memory (MiB) of one portal task."
  type        = number
  default     = 2048
}

variable "portal_min_count" {
  description = "Fewest portal tasks."
  type        = number
  default     = 2
}

variable "portal_max_count" {
  description = "Most portal tasks the CPU autoscaling may start."
  type        = number
  default     = 6
}

variable "log_level" {
  description = "MIA_LOG_LEVEL of every component."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level: DEBUG, INFO, WARNING or ERROR."
  }
}

variable "app_settings" {
  description = "More MIA_* settings for every component (see the configuration table in the main README), e.g. { MIA_MAX_VIDEO_BYTES = \"2GiB\" }. Never keys or passwords: those come from Secrets Manager."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for name in keys(var.app_settings) : can(regex("^MIA_[A-Z0-9_]+$", name)) && !contains([
        "MIA_DATABASE_URL", "MIA_ENCRYPTION_KEYS", "MIA_BLIND_INDEX_KEY", "MIA_URL_SIGNING_KEY", "MIA_COOKIE_KEY",
        "MIA_ENV", "MIA_STORAGE_URL", "MIA_KEYS_FILE",
        "MIA_NOTIFY_API_KEY", "MIA_NOTIFY_CALLBACK_TOKEN", "MIA_SMTP_URL",
        "MIA_DICOMWEB_TOKEN", "MIA_DICOMWEB_PASSWORD", "MIA_FHIR_TOKEN",
      ], name)
    ])
    error_message = "app_settings: names must be MIA_* settings; keys, messaging and record credentials, MIA_DATABASE_URL, MIA_ENV and MIA_STORAGE_URL are set by the stack."
  }
}

# --- messages to patients and clinicians ----------------------------------------

variable "notify_enabled" {
  description = "Send texts (and email, unless smtp_enabled) through GOV.UK Notify: creates the empty secrets MIA_NOTIFY_API_KEY and MIA_NOTIFY_CALLBACK_TOKEN, to fill before start_services. Template ids go in app_settings."
  type        = bool
  default     = false
}

variable "smtp_enabled" {
  description = "Send email through an SMTP relay (e.g. NHSmail): creates the empty secret MIA_SMTP_URL, to fill before start_services, and lets the notifications service reach smtp_port. Set MIA_MAIL_FROM in app_settings."
  type        = bool
  default     = false
}

variable "record_credentials" {
  description = "Credentials the record destinations need, each created as an EMPTY secret to fill before start_services: any of MIA_DICOMWEB_TOKEN, MIA_DICOMWEB_PASSWORD (with MIA_DICOMWEB_USERNAME in app_settings), MIA_FHIR_TOKEN. The destinations' URLs go in app_settings."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for name in var.record_credentials : contains(["MIA_DICOMWEB_TOKEN", "MIA_DICOMWEB_PASSWORD", "MIA_FHIR_TOKEN"], name)])
    error_message = "record_credentials: each must be MIA_DICOMWEB_TOKEN, MIA_DICOMWEB_PASSWORD or MIA_FHIR_TOKEN."
  }
}

variable "smtp_port" {
  description = "Port of the SMTP relay the notifications service may reach (587 STARTTLS, 465 implicit TLS)."
  type        = number
  default     = 587

  validation {
    condition     = contains([25, 465, 587, 2525], var.smtp_port)
    error_message = "smtp_port: 587 (STARTTLS), 465 (implicit TLS), 25 or 2525."
  }
}

variable "key_generation" {
  description = "Bump after changing a key in Secrets Manager: every task and the processing function restart and read the new value."
  type        = number
  default     = 1
}

# --- processing ---------------------------------------------------------------

variable "lambda_package_path" {
  description = "Path of the processors deployment package built by `make lambda-package` (default: build/lambda/processors.zip in the repository)."
  type        = string
  default     = null
}

variable "ffmpeg_layer_path" {
  description = "Path of the ffmpeg layer built by `make lambda-package` (default: build/lambda/ffmpeg-layer.zip in the repository)."
  type        = string
  default     = null
}

variable "processing_memory_mb" {
  description = "Memory of the processing function; Lambda gives CPU in proportion (10240 MB = 6 vCPUs for video transcoding)."
  type        = number
  default     = 10240

  validation {
    condition     = var.processing_memory_mb >= 1024 && var.processing_memory_mb <= 10240
    error_message = "processing_memory_mb: between 1024 and 10240."
  }
}

variable "processing_timeout_seconds" {
  description = "Timeout of the processing function (Lambda allows at most 900 s)."
  type        = number
  default     = 900

  validation {
    condition     = var.processing_timeout_seconds >= 60 && var.processing_timeout_seconds <= 900
    error_message = "processing_timeout_seconds: between 60 and 900."
  }
}

variable "processing_ephemeral_storage_mb" {
  description = "/tmp of the processing function: a 2 GiB original, its transcoded copy and ffmpeg's scratch files."
  type        = number
  default     = 10240

  validation {
    condition     = var.processing_ephemeral_storage_mb >= 5120 && var.processing_ephemeral_storage_mb <= 10240
    error_message = "processing_ephemeral_storage_mb: between 5120 (room for a 2 GiB video twice) and 10240."
  }
}

variable "processing_reserved_concurrency" {
  description = "Most processing functions running at once (bounds database connections and cost)."
  type        = number
  default     = 10

  validation {
    condition     = var.processing_reserved_concurrency >= 1
    error_message = "processing_reserved_concurrency: at least 1."
  }
}

# --- storage ------------------------------------------------------------------

variable "abort_incomplete_multipart_days" {
  description = "Days after which S3 aborts a multipart upload nobody finished (the maintenance task normally aborts them sooner)."
  type        = number
  default     = 2

  validation {
    condition     = var.abort_incomplete_multipart_days >= 1
    error_message = "abort_incomplete_multipart_days: at least 1."
  }
}

variable "abandoned_tail_expiry_days" {
  description = "Days after which S3 deletes an upload tail object (uploads/.../original.tail.N) that was never finished or aborted. Must be longer than MIA_UPLOAD_EXPIRY_HOURS."
  type        = number
  default     = 3

  validation {
    condition     = var.abandoned_tail_expiry_days * 24 > tonumber(lookup(var.app_settings, "MIA_UPLOAD_EXPIRY_HOURS", "24"))
    error_message = "abandoned_tail_expiry_days: must be longer than MIA_UPLOAD_EXPIRY_HOURS, or live uploads would lose their tails."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days S3 keeps an overwritten or deleted object version (recovery window for mistakes)."
  type        = number
  default     = 30
}

variable "access_log_retention_days" {
  description = "Days the load balancer and S3 access logs are kept."
  type        = number
  default     = 90
}

# --- database -----------------------------------------------------------------

variable "create_database" {
  description = "Create an Aurora MySQL Serverless v2 cluster. Set false to use an existing cluster (existing_database_*)."
  type        = bool
  default     = true
}

variable "database_engine_version" {
  description = "Aurora MySQL engine version (MySQL 8.0 compatible)."
  type        = string
  default     = "8.0.mysql_aurora.3.08.2"
}

variable "database_min_capacity" {
  description = "Fewest Aurora capacity units (ACU) per instance."
  type        = number
  default     = 0.5
}

variable "database_max_capacity" {
  description = "Most Aurora capacity units (ACU) per instance."
  type        = number
  default     = 8
}

variable "database_instance_count" {
  description = "Aurora instances: 1 writer plus readers in other zones that take over on failure."
  type        = number
  default     = 2

  validation {
    condition     = var.database_instance_count >= 1 && var.database_instance_count <= 4
    error_message = "database_instance_count: between 1 and 4."
  }
}

variable "database_backup_retention_days" {
  description = "Days of automated Aurora backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.database_backup_retention_days >= 7 && var.database_backup_retention_days <= 35
    error_message = "database_backup_retention_days: between 7 and 35."
  }
}

variable "database_backup_vault_retention_days" {
  description = "Days AWS Backup keeps each daily recovery point of the database."
  type        = number
  default     = 35
}

variable "database_password_version" {
  description = "Bump to give the database a new random password (written to the cluster and the URL secret, never to the state)."
  type        = number
  default     = 1
}

variable "existing_database_url_secret_arn" {
  description = "With create_database = false: ARN of a Secrets Manager secret holding mysql+pymysql://USER:PASSWORD@HOST:3306/DB."
  type        = string
  default     = null

  validation {
    condition     = var.create_database || can(regex("^arn:aws[a-z-]*:secretsmanager:", var.existing_database_url_secret_arn))
    error_message = "existing_database_url_secret_arn: required (a Secrets Manager secret ARN) when create_database = false."
  }
}

variable "existing_database_secret_kms_key_arn" {
  description = "With create_database = false: the KMS key that encrypts that secret, if it is not the AWS managed key."
  type        = string
  default     = null
}

variable "existing_database_security_group_id" {
  description = "With create_database = false: security group of the existing cluster; the stack lets its tasks and function in on 3306. The cluster must be reachable from this VPC (peering or transit gateway)."
  type        = string
  default     = null

  validation {
    condition     = var.create_database || can(regex("^sg-[0-9a-f]+$", var.existing_database_security_group_id))
    error_message = "existing_database_security_group_id: required (sg-...) when create_database = false."
  }
}

# --- operations ---------------------------------------------------------------

variable "log_retention_days" {
  description = "Days CloudWatch keeps application, WAF and VPC flow logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: one of the CloudWatch Logs retention values (e.g. 90, 365, 731)."
  }
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (confirm the subscription mail). Leave null to subscribe by other means."
  type        = string
  default     = null
}

variable "alb_5xx_threshold_percent" {
  description = "Alarm when more than this percentage of requests get a 5xx answer over 5 minutes."
  type        = number
  default     = 5
}
