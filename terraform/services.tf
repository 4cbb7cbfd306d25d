# ECS Fargate: the upload service and the portal behind the load balancer,
# the notifications service (manage.py deliver-notifications: texts and email
# through GOV.UK Notify or SMTP), the records service (manage.py file-records:
# reviewed photos and videos to the PACS, FHIR server and XDS repository that
# app_settings name), and the maintenance task (manage.py
# purge-expired every 15 minutes; the
# same task definition runs migrations and other manage.py commands with
# `aws ecs run-task`, see README.md). Images come from the stack's ECR
# repositories: upload, portal and manage (maintenance, notifications and
# records run manage.py); each contains the whole application's code and
# installs only its own requirement set.

locals {
  images = {
    upload = "${aws_ecr_repository.app["upload"].repository_url}:${var.image_tag}"
    portal = "${aws_ecr_repository.app["portal"].repository_url}:${var.image_tag}"
    manage = "${aws_ecr_repository.app["manage"].repository_url}:${var.image_tag}"
  }

  # What every component reads (shared/config/settings.py); secrets are added from
  # Secrets Manager. SECRETS_GENERATION is read by nobody: changing it makes a
  # new task definition, so every task restarts and reads the secrets again.
  common_environment = merge(var.app_settings, {
    MIA_ENV              = "production"
    MIA_DATA_DIR         = "/tmp/mia"
    MIA_STORAGE_URL      = "s3://${aws_s3_bucket.media.id}/${local.storage_prefix}"
    MIA_S3_REGION        = local.region
    MIA_PATIENT_BASE_URL = "https://${var.patient_domain}"
    MIA_PORTAL_BASE_URL  = "https://${var.portal_domain}"
    MIA_LOG_LEVEL        = var.log_level
    SECRETS_GENERATION   = tostring(var.key_generation)
  })

  # The services behind the load balancer see it as their client: the
  # patient's address (for the audit log) is the last X-Forwarded-For hop and
  # HTTPS is its X-Forwarded-Proto. Without this, every audit event records
  # the balancer's own address.
  behind_load_balancer = { MIA_TRUST_PROXY_HEADERS = "true" }

  container_secrets = [
    for env_name in sort(keys(local.app_secret_arns)) : {
      name      = env_name
      valueFrom = local.app_secret_arns[env_name]
    }
  ]

  containers = {
    upload = {
      image       = local.images.upload
      command     = null
      port        = local.upload_port
      environment = merge(local.common_environment, local.behind_load_balancer, { MIA_UPLOAD_HOST = "0.0.0.0", MIA_UPLOAD_PORT = tostring(local.upload_port) })
      health_url  = "http://127.0.0.1:${local.upload_port}/healthz"
    }
    portal = {
      image       = local.images.portal
      command     = null
      port        = local.portal_port
      environment = merge(local.common_environment, local.behind_load_balancer)
      health_url  = "http://127.0.0.1:${local.portal_port}/_stcore/health"
    }
    maintenance = {
      image       = local.images.manage
      command     = ["python", "manage.py", "purge-expired", "--every", "900"]
      port        = null
      environment = local.common_environment
      health_url  = null
    }
    notifications = {
      image       = local.images.manage
      command     = ["python", "manage.py", "deliver-notifications"]
      port        = null
      environment = local.common_environment
      health_url  = null
    }
    records = {
      image       = local.images.manage
      command     = ["python", "manage.py", "file-records"]
      port        = null
      environment = local.common_environment
      health_url  = null
    }
  }

  task_sizes = {
    upload        = { cpu = var.upload_cpu, memory = var.upload_memory }
    portal        = { cpu = var.portal_cpu, memory = var.portal_memory }
    maintenance   = { cpu = 256, memory = 512 }
    notifications = { cpu = 256, memory = 512 }
    records       = { cpu = var.records_cpu, memory = var.records_memory }
  }

  task_roles = {
    upload        = aws_iam_role.upload_task.arn
    portal        = aws_iam_role.portal_task.arn
    maintenance   = aws_iam_role.maintenance_task.arn
    notifications = aws_iam_role.notifications_task.arn
    records       = aws_iam_role.records_task.arn
  }
}

# --- image repositories -------------------------------------------------------

resource "aws_ecr_repository" "app" {
  for_each = toset(["upload", "portal", "manage"])

  name                 = "${local.name}/${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.platform.arn
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  for_each = aws_ecr_repository.app

  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 30 most recent images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 30 }
      action       = { type = "expire" }
    }]
  })
}

# --- cluster and tasks --------------------------------------------------------

resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_ecs_task_definition" "app" {
  # Keys only: the three container descriptions differ in shape (no port,
  # no command...), so they are looked up, not iterated as one map type.
  for_each = toset(keys(local.containers))

  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.task_sizes[each.key].cpu
  memory                   = local.task_sizes[each.key].memory
  execution_role_arn       = aws_iam_role.ecs_execution.arn
  task_role_arn            = local.task_roles[each.key]

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # The root file system is read-only; /tmp is the task's scratch space.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    # Unset (null) fields are left out of the definition.
    { for field, value in {
      name                   = each.key
      image                  = local.containers[each.key].image
      command                = local.containers[each.key].command
      essential              = true
      user                   = "10001:10001"
      readonlyRootFilesystem = true
      stopTimeout            = 60
      environment = [
        for name in sort(keys(local.containers[each.key].environment)) :
        { name = name, value = local.containers[each.key].environment[name] }
      ]
      secrets      = local.container_secrets
      mountPoints  = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      portMappings = local.containers[each.key].port == null ? null : [{ containerPort = local.containers[each.key].port, protocol = "tcp" }]
      linuxParameters = {
        initProcessEnabled = true
        capabilities       = { drop = ["ALL"] }
      }
      healthCheck = local.containers[each.key].health_url == null ? null : {
        command     = ["CMD", "python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('${local.containers[each.key].health_url}', timeout=4).status != 200)"]
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 60
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
          awslogs-region        = local.region
          awslogs-stream-prefix = each.key
        }
      }
    } : field => value if value != null }
  ])
}

# --- services -----------------------------------------------------------------

locals {
  web_services = {
    upload = { target_group = aws_lb_target_group.upload.arn, min = var.upload_min_count, max = var.upload_max_count }
    portal = { target_group = aws_lb_target_group.portal.arn, min = var.portal_min_count, max = var.portal_max_count }
  }
}

resource "aws_ecs_service" "web" {
  for_each = local.web_services

  name                              = each.key
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.app[each.key].arn
  desired_count                     = var.start_services ? each.value.min : 0
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [local.app_security_group_ids[each.key]]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = each.value.target_group
    container_name   = each.key
    container_port   = local.containers[each.key].port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # The autoscaling below owns the running count once the service exists.
  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener_rule.upload, aws_lb_listener_rule.portal]
}

resource "aws_appautoscaling_target" "web" {
  for_each = local.web_services

  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.web[each.key].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  # Raising the minimum (start_services = true) scales the service out to it.
  min_capacity = var.start_services ? each.value.min : 0
  max_capacity = var.start_services ? each.value.max : 1
}

resource "aws_appautoscaling_policy" "web_cpu" {
  for_each = local.web_services

  name               = "${local.name}-${each.key}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.web[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.web[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.web[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = 60
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# One dispatcher: claims are leased, so a second one during a deployment
# never sends a message twice (it waits for the lease to run out);
# stopTimeout (60 s) outlasts the message in hand (MIA_DISPATCH_TIMEOUT_SECONDS).
resource "aws_ecs_service" "notifications" {
  name             = "notifications"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.app["notifications"].arn
  desired_count    = var.start_services ? 1 : 0
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.notifications.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}

# One records runner: claims are leased (MIA_RECORDS_LEASE_SECONDS), so a
# second one during a deployment waits for the lease rather than filing the
# same request twice at once (a refiling would update, not duplicate, anyway).
resource "aws_ecs_service" "records" {
  name             = "records"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.app["records"].arn
  desired_count    = var.start_services ? 1 : 0
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.records.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}

resource "aws_ecs_service" "maintenance" {
  name             = "maintenance"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.app["maintenance"].arn
  desired_count    = var.start_services ? 1 : 0
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.maintenance.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}
