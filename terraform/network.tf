# VPC: public subnets hold only the load balancer and the NAT gateways;
# tasks, the processing function and the database live in private subnets.

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = local.name }
}

# No rules: nothing may use the default security group.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id
}

resource "aws_subnet" "public" {
  count = var.az_count

  vpc_id                  = aws_vpc.main.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  map_public_ip_on_launch = false

  tags = { Name = "${local.name}-public-${local.azs[count.index]}" }
}

resource "aws_subnet" "private" {
  count = var.az_count

  vpc_id            = aws_vpc.main.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, 8 + count.index)

  tags = { Name = "${local.name}-private-${local.azs[count.index]}" }
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = local.name }
}

resource "aws_eip" "nat" {
  count = var.single_nat_gateway ? 1 : var.az_count

  domain = "vpc"

  tags = { Name = "${local.name}-nat-${count.index}" }
}

resource "aws_nat_gateway" "main" {
  count = var.single_nat_gateway ? 1 : var.az_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags       = { Name = "${local.name}-${local.azs[count.index]}" }
  depends_on = [aws_internet_gateway.main]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }

  tags = { Name = "${local.name}-public" }
}

resource "aws_route_table_association" "public" {
  count = var.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  count = var.az_count

  vpc_id = aws_vpc.main.id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.main[var.single_nat_gateway ? 0 : count.index].id
  }

  tags = { Name = "${local.name}-private-${local.azs[count.index]}" }
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# S3 traffic (2 GiB videos) stays on the AWS network instead of paying for NAT.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id

  tags = { Name = "${local.name}-s3" }
}

# --- VPC flow logs ------------------------------------------------------------

resource "aws_flow_log" "vpc" {
  vpc_id          = aws_vpc.main.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    sid       = "WriteFlowLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.name}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

# --- security groups ----------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "MIA load balancer: HTTPS (and HTTP for the redirect) from the internet"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere (the WAF allows only the configured countries)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS; patients type or tap plain http links.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere, redirected to HTTPS by the listener"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_upload" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the upload service tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.upload_port
  to_port                      = local.upload_port
  referenced_security_group_id = aws_security_group.upload.id
}

resource "aws_vpc_security_group_egress_rule" "alb_to_portal" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the portal tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.portal_port
  to_port                      = local.portal_port
  referenced_security_group_id = aws_security_group.portal.id
}

# Application components: upload service, portal, maintenance task, notifications service, records service,
# processing function.
locals {
  app_security_groups = {
    upload        = "MIA upload service tasks"
    portal        = "MIA portal tasks"
    maintenance   = "MIA maintenance task (purge-expired, migrations)"
    notifications = "MIA notifications service (GOV.UK Notify, SMTP)"
    records       = "MIA records service (PACS DICOMweb, FHIR, XDS over HTTPS)"
    processing    = "MIA processing function"
  }
}

resource "aws_security_group" "upload" {
  name        = "${local.name}-upload"
  description = local.app_security_groups.upload
  vpc_id      = aws_vpc.main.id
}

resource "aws_security_group" "portal" {
  name        = "${local.name}-portal"
  description = local.app_security_groups.portal
  vpc_id      = aws_vpc.main.id
}

resource "aws_security_group" "maintenance" {
  name        = "${local.name}-maintenance"
  description = local.app_security_groups.maintenance
  vpc_id      = aws_vpc.main.id
}

resource "aws_security_group" "notifications" {
  name        = "${local.name}-notifications"
  description = local.app_security_groups.notifications
  vpc_id      = aws_vpc.main.id
}

resource "aws_security_group" "records" {
  name        = "${local.name}-records"
  description = local.app_security_groups.records
  vpc_id      = aws_vpc.main.id
}

resource "aws_security_group" "processing" {
  name        = "${local.name}-processing"
  description = local.app_security_groups.processing
  vpc_id      = aws_vpc.main.id
}

locals {
  app_security_group_ids = {
    upload        = aws_security_group.upload.id
    portal        = aws_security_group.portal.id
    maintenance   = aws_security_group.maintenance.id
    notifications = aws_security_group.notifications.id
    records       = aws_security_group.records.id
    processing    = aws_security_group.processing.id
  }
}

resource "aws_vpc_security_group_ingress_rule" "upload_from_alb" {
  security_group_id            = aws_security_group.upload.id
  description                  = "From the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.upload_port
  to_port                      = local.upload_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_ingress_rule" "portal_from_alb" {
  security_group_id            = aws_security_group.portal.id
  description                  = "From the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.portal_port
  to_port                      = local.portal_port
  referenced_security_group_id = aws_security_group.alb.id
}

# HTTPS out: AWS APIs (S3 goes through the gateway endpoint), Secrets
# Manager, ECR, CloudWatch, notification providers and record destinations.
resource "aws_vpc_security_group_egress_rule" "app_https" {
  for_each = local.app_security_group_ids

  security_group_id = each.value
  description       = "HTTPS to AWS APIs, notification providers and record destinations"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# Email through the trust's relay (NHSmail: send.nhs.net, 587 with STARTTLS): the notifications service only.
resource "aws_vpc_security_group_egress_rule" "notifications_smtp" {
  count = var.smtp_enabled ? 1 : 0

  security_group_id = aws_security_group.notifications.id
  description       = "SMTP submission to the mail relay (TLS: STARTTLS or implicit)"
  ip_protocol       = "tcp"
  from_port         = var.smtp_port
  to_port           = var.smtp_port
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "app_to_database" {
  for_each = local.app_security_group_ids

  security_group_id            = each.value
  description                  = "MySQL to the database"
  ip_protocol                  = "tcp"
  from_port                    = 3306
  to_port                      = 3306
  referenced_security_group_id = local.database_security_group_id
}
