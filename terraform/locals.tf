# Names and values shared by several files.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# The zones are named, not discovered: a zone AWS adds later must not move
# subnets (and with them the database) on the next apply.
data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "zone-name"
    values = [for letter in ["a", "b", "c"] : "${var.region}${letter}"]
  }
}

locals {
  name       = "${var.name_prefix}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  azs        = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # Object key layout shared by every component (see shared/DESIGN.md):
  # originals at uploads/{encounter}/{upload}/original (+ resumable tails
  # original.tail.N while the upload runs), derived files under derived/,
  # both under the storage prefix of MIA_STORAGE_URL (s3://BUCKET/PREFIX;
  # "" = the bucket's root, else ending in "/"). Every prefix below (IAM,
  # lifecycle, metrics, the processing trigger) follows it.
  storage_prefix  = ""
  uploads_prefix  = "${local.storage_prefix}uploads/"
  derived_prefix  = "${local.storage_prefix}derived/"
  original_suffix = "/original"
  # Tag the S3 store puts on resumable-upload tails (shared/storage/s3.py):
  # the lifecycle rule that expires abandoned tails selects them by it.
  tail_tag_key   = "mia-object"
  tail_tag_value = "resumable-tail"

  upload_port = 8080
  portal_port = 8501

  lambda_package_path = coalesce(var.lambda_package_path, "${path.module}/../build/lambda/processors.zip")
  ffmpeg_layer_path   = coalesce(var.ffmpeg_layer_path, "${path.module}/../build/lambda/ffmpeg-layer.zip")

  # Path of the RDS certificate bundle inside the images and the Lambda layer,
  # so one database URL (with ssl_ca=) serves every component.
  rds_ca_path = "/opt/mia/rds-ca/global-bundle.pem"
}
