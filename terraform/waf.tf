# AWS WAF in front of the load balancer. Rules, in order:
#  0 block every country not in allowed_countries (default: the UK only);
#  1 (optional) the portal host name only from portal_allowed_cidrs;
#  2 AWS IP reputation list;
#  3 rate limit on date-of-birth attempts (POST /p/...) per IP address;
#  4 label tus upload data (PATCH/POST /files/...: opaque photo and video
#    bytes) so that the body-inspecting rule groups skip it: binary media
#    would trip the size and injection patterns at random;
#  5-7 AWS managed rule groups (common, known bad inputs incl. Log4j, SQLi).
# Everything else is allowed.

locals {
  tus_data_label = "mia:tus-upload-data"

}

resource "aws_wafv2_ip_set" "portal" {
  count = length(var.portal_allowed_cidrs) > 0 ? 1 : 0

  name               = "${local.name}-portal-networks"
  description        = "Networks allowed to reach the MIA portal"
  scope              = "REGIONAL"
  ip_address_version = "IPV4"
  addresses          = var.portal_allowed_cidrs
}

resource "aws_wafv2_web_acl" "main" {
  name        = local.name
  description = "MIA: allowed countries only, managed protections, verification rate limit"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "allow-only-listed-countries"
    priority = 0

    action {
      block {}
    }

    statement {
      not_statement {
        statement {
          geo_match_statement {
            country_codes = var.allowed_countries
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-geo-block"
      sampled_requests_enabled   = true
    }
  }

  dynamic "rule" {
    for_each = aws_wafv2_ip_set.portal

    content {
      name     = "portal-only-from-allowed-networks"
      priority = 1

      action {
        block {}
      }

      statement {
        and_statement {
          statement {
            byte_match_statement {
              search_string         = var.portal_domain
              positional_constraint = "EXACTLY"
              field_to_match {
                single_header {
                  name = "host"
                }
              }
              text_transformation {
                priority = 0
                type     = "LOWERCASE"
              }
            }
          }
          statement {
            not_statement {
              statement {
                ip_set_reference_statement {
                  arn = rule.value.arn
                }
              }
            }
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${local.name}-portal-networks"
        sampled_requests_enabled   = true
      }
    }
  }

  rule {
    name     = "aws-ip-reputation"
    priority = 2

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesAmazonIpReputationList"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-ip-reputation"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "rate-limit-patient-verification"
    priority = 3

    action {
      block {
        custom_response {
          response_code = 429
        }
      }
    }

    statement {
      rate_based_statement {
        limit              = var.verification_rate_limit
        aggregate_key_type = "IP"

        scope_down_statement {
          and_statement {
            statement {
              byte_match_statement {
                search_string         = "/p/"
                positional_constraint = "STARTS_WITH"
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
            statement {
              byte_match_statement {
                search_string         = "POST"
                positional_constraint = "EXACTLY"
                field_to_match {
                  method {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-verification-rate"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "label-tus-upload-data"
    priority = 4

    action {
      count {}
    }

    rule_label {
      name = local.tus_data_label
    }

    statement {
      and_statement {
        statement {
          byte_match_statement {
            search_string         = "/files/"
            positional_constraint = "STARTS_WITH"
            field_to_match {
              uri_path {}
            }
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
        statement {
          regex_match_statement {
            regex_string = "^(PATCH|POST)$"
            field_to_match {
              method {}
            }
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-tus-upload-data"
      sampled_requests_enabled   = false
    }
  }

  rule {
    name     = "aws-common-rule-set"
    priority = 5

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"

        scope_down_statement {
          not_statement {
            statement {
              label_match_statement {
                scope = "LABEL"
                key   = local.tus_data_label
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-common-rule-set"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 6

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"

        scope_down_statement {
          not_statement {
            statement {
              label_match_statement {
                scope = "LABEL"
                key   = local.tus_data_label
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-sql-injection"
    priority = 7

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesSQLiRuleSet"
        vendor_name = "AWS"

        scope_down_statement {
          not_statement {
            statement {
              label_match_statement {
                scope = "LABEL"
                key   = local.tus_data_label
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-sql-injection"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.name
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "alb" {
  resource_arn = aws_lb.main.arn
  web_acl_arn  = aws_wafv2_web_acl.main.arn
}

# Blocked requests only (allowed traffic is in the load balancer's access
# logs); cookies and credentials are redacted.
resource "aws_wafv2_web_acl_logging_configuration" "main" {
  resource_arn            = aws_wafv2_web_acl.main.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  logging_filter {
    default_behavior = "DROP"

    filter {
      behavior    = "KEEP"
      requirement = "MEETS_ANY"

      condition {
        action_condition {
          action = "BLOCK"
        }
      }
    }
  }
}
