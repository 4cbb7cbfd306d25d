# Terraform and provider versions are pinned exactly: a deployment of patient
# data changes only when someone bumps a version here on purpose. Commit the
# .terraform.lock.hcl that `terraform init` writes (it records the checksums).
terraform {
  # 1.11 for write-only arguments: the database password never enters the state.
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.7.2"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "2.7.1"
    }
    http = {
      source  = "hashicorp/http"
      version = "3.5.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Application = "mia"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
