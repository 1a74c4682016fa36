# The stack tests/tools_e2e.rs applies with the real hashicorp/aws provider against snapstack:
# after apply, `terraform plan -detailed-exitcode` must find no drift, before and after a restart.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "endpoint" {
  type        = string
  description = "snapstack's URL, http://127.0.0.1:PORT"
}

variable "suffix" {
  type        = string
  default     = "e2e"
  description = "appended to every name"
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {
    s3             = var.endpoint
    sqs            = var.endpoint
    dynamodb       = var.endpoint
    ssm            = var.endpoint
    sts            = var.endpoint
    kms            = var.endpoint
    secretsmanager = var.endpoint
    sns            = var.endpoint
    logs           = var.endpoint
    cloudwatch     = var.endpoint
    iam            = var.endpoint
    events         = var.endpoint
    kinesis        = var.endpoint
    lambda         = var.endpoint
    firehose       = var.endpoint
  }

  default_tags {
    tags = {
      stack = "snapstack-e2e"
    }
  }
}

data "aws_caller_identity" "me" {}

# ---- S3 ----

resource "aws_s3_bucket" "data" {
  bucket = "tf-data-${var.suffix}"
  tags = {
    team = "storage"
  }
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_object" "readme" {
  bucket       = aws_s3_bucket.data.id
  key          = "docs/readme.txt"
  content      = "hello from terraform"
  content_type = "text/plain"
  tags = {
    kind = "doc"
  }
  depends_on = [aws_s3_bucket_versioning.data]
}

resource "aws_s3_bucket" "site" {
  bucket        = "tf-site-${var.suffix}"
  force_destroy = true
}

resource "aws_s3_bucket_ownership_controls" "site" {
  bucket = aws_s3_bucket.site.id
  rule {
    object_ownership = "BucketOwnerPreferred"
  }
}

resource "aws_s3_bucket_cors_configuration" "site" {
  bucket = aws_s3_bucket.site.id
  cors_rule {
    allowed_headers = ["*"]
    allowed_methods = ["GET", "PUT"]
    allowed_origins = ["https://app.example"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3000
  }
  cors_rule {
    allowed_methods = ["GET"]
    allowed_origins = ["*"]
  }
}

resource "aws_s3_bucket_policy" "site" {
  bucket = aws_s3_bucket.site.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ReadOnly"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.me.account_id}:root" }
      Action    = ["s3:GetObject"]
      Resource  = ["${aws_s3_bucket.site.arn}/*"]
    }]
  })
}

resource "aws_s3_bucket_accelerate_configuration" "site" {
  bucket = aws_s3_bucket.site.id
  status = "Enabled"
}

resource "aws_s3_bucket_request_payment_configuration" "site" {
  bucket = aws_s3_bucket.site.id
  payer  = "Requester"
}

# ---- SQS ----

resource "aws_sqs_queue" "dlq" {
  name                      = "tf-dlq-${var.suffix}"
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue" "work" {
  name                       = "tf-work-${var.suffix}"
  delay_seconds              = 5
  max_message_size           = 65536
  message_retention_seconds  = 86400
  receive_wait_time_seconds  = 10
  visibility_timeout_seconds = 60
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = 4
  })
  tags = {
    team = "queues"
  }
}

resource "aws_sqs_queue_policy" "work" {
  queue_url = aws_sqs_queue.work.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "SendFromAccount"
      Effect    = "Allow"
      Principal = { AWS = data.aws_caller_identity.me.account_id }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.work.arn
    }]
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.work.arn]
  })
}

resource "aws_sqs_queue" "events" {
  name                        = "tf-events-${var.suffix}.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
}

# ---- DynamoDB ----

resource "aws_dynamodb_table" "orders" {
  name         = "tf-orders-${var.suffix}"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "status"
    type = "S"
  }
  attribute {
    name = "created"
    type = "N"
  }

  global_secondary_index {
    name            = "by-status"
    hash_key        = "status"
    range_key       = "sk"
    projection_type = "ALL"
  }

  local_secondary_index {
    name            = "by-created"
    range_key       = "created"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    attribute_name = "expires"
    enabled        = true
  }

  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  tags = {
    team = "tables"
  }
}

resource "aws_dynamodb_table" "counters" {
  name           = "tf-counters-${var.suffix}"
  billing_mode   = "PROVISIONED"
  read_capacity  = 2
  write_capacity = 2
  hash_key       = "id"

  attribute {
    name = "id"
    type = "N"
  }
}

resource "aws_dynamodb_table_item" "first" {
  table_name = aws_dynamodb_table.orders.name
  hash_key   = aws_dynamodb_table.orders.hash_key
  range_key  = aws_dynamodb_table.orders.range_key
  item = jsonencode({
    pk     = { S = "customer#1" }
    sk     = { S = "order#1" }
    status = { S = "open" }
    total  = { N = "42" }
  })
}

# ---- SSM ----

resource "aws_ssm_parameter" "url" {
  name  = "/tf/${var.suffix}/db/url"
  type  = "String"
  value = "postgres://db:5432/app"
  tags = {
    team = "config"
  }
}

resource "aws_ssm_parameter" "secret" {
  name        = "/tf/${var.suffix}/db/password"
  type        = "SecureString"
  value       = "s3cr3t"
  description = "the database password"
}

resource "aws_ssm_parameter" "hosts" {
  name  = "/tf/${var.suffix}/hosts"
  type  = "StringList"
  value = "a.example,b.example"
  tier  = "Standard"
}

resource "aws_ssm_parameter" "limits" {
  name            = "/tf/${var.suffix}/limits/max"
  type            = "String"
  value           = "100"
  allowed_pattern = "^[0-9]+$"
  tier            = "Advanced"
}

output "account_id" {
  value = data.aws_caller_identity.me.account_id
}

output "queue_url" {
  value = aws_sqs_queue.work.url
}
