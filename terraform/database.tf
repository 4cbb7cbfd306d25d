# Aurora MySQL Serverless v2 in the private subnets, encrypted with the
# platform key, TLS required. Or, with create_database = false, an existing
# cluster given by existing_database_* (its URL secret and security group).

ephemeral "random_password" "database" {
  count = var.create_database ? 1 : 0

  # Letters and digits only: the password goes into a URL unescaped.
  length  = 40
  special = false
}

resource "aws_db_subnet_group" "main" {
  count = var.create_database ? 1 : 0

  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_security_group" "database" {
  count = var.create_database ? 1 : 0

  name        = "${local.name}-database"
  description = "MIA database: MySQL from the application components only"
  vpc_id      = aws_vpc.main.id
}

locals {
  database_security_group_id = var.create_database ? aws_security_group.database[0].id : var.existing_database_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_app" {
  for_each = local.app_security_group_ids

  security_group_id            = local.database_security_group_id
  description                  = "MySQL from the ${each.key} component"
  ip_protocol                  = "tcp"
  from_port                    = 3306
  to_port                      = 3306
  referenced_security_group_id = each.value
}

resource "aws_rds_cluster_parameter_group" "main" {
  count = var.create_database ? 1 : 0

  name        = "${local.name}-aurora-mysql8"
  family      = "aurora-mysql8.0"
  description = "MIA: TLS only, utf8mb4, audit of connections and schema changes"

  parameter {
    name  = "require_secure_transport"
    value = "ON"
  }
  parameter {
    name  = "character_set_server"
    value = "utf8mb4"
  }
  parameter {
    name  = "collation_server"
    value = "utf8mb4_unicode_ci"
  }
  parameter {
    name  = "server_audit_logging"
    value = "1"
  }
  parameter {
    name  = "server_audit_events"
    value = "CONNECT,QUERY_DDL,QUERY_DCL"
  }
}

resource "aws_rds_cluster" "main" {
  #checkov:skip=CKV_AWS_326:Backtrack rewinds the whole cluster in place, audit trail included; recovery is point-in-time restore to a new cluster (automated backups) or an AWS Backup recovery point.
  count = var.create_database ? 1 : 0

  cluster_identifier = local.name
  engine             = "aurora-mysql"
  engine_mode        = "provisioned"
  engine_version     = var.database_engine_version
  database_name      = "mia"
  port               = 3306

  master_username            = "mia_admin"
  master_password_wo         = ephemeral.aws_secretsmanager_secret_version.database_password[0].secret_string
  master_password_wo_version = var.database_password_version

  db_subnet_group_name            = aws_db_subnet_group.main[0].name
  vpc_security_group_ids          = [aws_security_group.database[0].id]
  db_cluster_parameter_group_name = aws_rds_cluster_parameter_group.main[0].name

  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.platform.arn
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["audit", "error", "slowquery"]

  backup_retention_period   = var.database_backup_retention_days
  preferred_backup_window   = "01:00-02:00"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.name}-final"

  serverlessv2_scaling_configuration {
    min_capacity = var.database_min_capacity
    max_capacity = var.database_max_capacity
  }

  depends_on = [aws_cloudwatch_log_group.database]
}

resource "aws_rds_cluster_instance" "main" {
  count = var.create_database ? var.database_instance_count : 0

  identifier                            = "${local.name}-${count.index}"
  cluster_identifier                    = aws_rds_cluster.main[0].id
  instance_class                        = "db.serverless"
  engine                                = aws_rds_cluster.main[0].engine
  engine_version                        = aws_rds_cluster.main[0].engine_version
  db_subnet_group_name                  = aws_db_subnet_group.main[0].name
  publicly_accessible                   = false
  auto_minor_version_upgrade            = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.platform.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.database_monitoring[0].arn
}

data "aws_iam_policy_document" "database_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "database_monitoring" {
  count = var.create_database ? 1 : 0

  name               = "${local.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.database_monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "database_monitoring" {
  count = var.create_database ? 1 : 0

  role       = aws_iam_role.database_monitoring[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# --- AWS Backup: daily recovery points kept apart from the cluster -----------

resource "aws_backup_vault" "main" {
  count = var.create_database ? 1 : 0

  name        = local.name
  kms_key_arn = aws_kms_key.platform.arn
}

resource "aws_backup_plan" "database" {
  count = var.create_database ? 1 : 0

  name = "${local.name}-database"

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.main[0].name
    schedule          = "cron(0 3 * * ? *)"
    start_window      = 60
    completion_window = 360

    lifecycle {
      delete_after = var.database_backup_vault_retention_days
    }
  }
}

data "aws_iam_policy_document" "backup_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  count = var.create_database ? 1 : 0

  name               = "${local.name}-backup"
  assume_role_policy = data.aws_iam_policy_document.backup_assume.json
}

resource "aws_iam_role_policy_attachment" "backup" {
  for_each = var.create_database ? toset(["AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"]) : toset([])

  role       = aws_iam_role.backup[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/${each.value}"
}

resource "aws_backup_selection" "database" {
  count = var.create_database ? 1 : 0

  name         = "${local.name}-database"
  plan_id      = aws_backup_plan.database[0].id
  iam_role_arn = aws_iam_role.backup[0].arn
  resources    = [aws_rds_cluster.main[0].arn]
}
