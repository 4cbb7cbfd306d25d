# Application Load Balancer: HTTPS only (HTTP answers with a redirect), a
# TLS 1.3/1.2 policy, routing by host name to the upload service (patients)
# and the portal (clinicians), access logs to the logs bucket.

resource "aws_lb" "main" {
  #checkov:skip=CKV2_AWS_76:The WAF has the Log4j protection (KnownBadInputs, CKV_AWS_192) but deliberately not AWSManagedRulesAnonymousIpList: it would block patients behind iCloud Private Relay or a VPN; the country rule, IP reputation list and rate limit apply instead.
  name               = local.name
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.alb.id]
  subnets            = aws_subnet.public[*].id

  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = var.alb_idle_timeout

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "upload" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; targets are reached over HTTP inside private subnets that only the load balancer may enter.
  name                 = "${local.name}-upload"
  port                 = local.upload_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 60

  # Readiness, not liveness: /readyz fails while this task cannot serve (the
  # database is unreachable, the store refuses writes, the disk is nearly
  # full) and the load balancer stops sending it patients; if every task
  # fails at once (a database outage), it sends to all of them anyway and
  # patients get 503 with Retry-After. ECS also replaces tasks this check
  # calls unhealthy, so it takes 8 failures in a row (2 minutes) to say so:
  # a short outage must not replace every task and cut every upload in
  # flight. A dead process is ECS's own container check's (/healthz,
  # services.tf).
  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 8
  }
}

resource "aws_lb_target_group" "portal" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; targets are reached over HTTP inside private subnets that only the load balancer may enter.
  name                 = "${local.name}-portal"
  port                 = local.portal_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  health_check {
    path                = "/_stcore/health"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  # Streamlit keeps each session's state in one process: stay on it.
  stickiness {
    type            = "lb_cookie"
    cookie_duration = 86400
    enabled         = true
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Not found"
      status_code  = "404"
    }
  }
}

resource "aws_lb_listener_certificate" "additional" {
  for_each = toset(var.additional_certificate_arns)

  listener_arn    = aws_lb_listener.https.arn
  certificate_arn = each.value
}

resource "aws_lb_listener_rule" "upload" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.upload.arn
  }

  condition {
    host_header {
      values = [var.patient_domain]
    }
  }
}

resource "aws_lb_listener_rule" "portal" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 20

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.portal.arn
  }

  condition {
    host_header {
      values = [var.portal_domain]
    }
  }
}
