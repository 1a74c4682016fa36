# KMS, Secrets Manager and IAM resources of the stack (see main.tf).

locals {
  account_id = data.aws_caller_identity.me.account_id
}

# ---- KMS ----

resource "aws_kms_key" "main" {
  description             = "snapstack terraform e2e key"
  deletion_window_in_days = 7
  enable_key_rotation     = true
  policy = jsonencode({
    Version = "2012-10-17"
    Id      = "key-default-1"
    Statement = [
      {
        Sid       = "EnableRoot"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "AllowLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.us-east-1.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
  })
  tags = {
    team = "security"
  }
}

resource "aws_kms_alias" "main" {
  name          = "alias/tf-${var.suffix}"
  target_key_id = aws_kms_key.main.key_id
}

resource "aws_kms_key" "signing" {
  description              = "snapstack terraform e2e signing key"
  deletion_window_in_days  = 7
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
}

# ---- Secrets Manager ----

resource "aws_secretsmanager_secret" "db" {
  name                    = "tf/${var.suffix}/db"
  description             = "the database credentials"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 0
  tags = {
    team = "security"
  }
}

resource "aws_secretsmanager_secret_version" "db" {
  secret_id = aws_secretsmanager_secret.db.id
  secret_string = jsonencode({
    username = "app"
    password = "s3cr3t"
  })
}

resource "aws_secretsmanager_secret" "plain" {
  name                    = "tf/${var.suffix}/plain"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "plain" {
  secret_id     = aws_secretsmanager_secret.plain.id
  secret_string = "just a string"
}

resource "aws_secretsmanager_secret_policy" "plain" {
  secret_arn = aws_secretsmanager_secret.plain.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ReadFromAccount"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${local.account_id}:root" }
      Action    = "secretsmanager:GetSecretValue"
      Resource  = "*"
    }]
  })
}

# ---- IAM ----

resource "aws_iam_role" "lambda" {
  name        = "tf-lambda-${var.suffix}"
  path        = "/service/"
  description = "runs the e2e function"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = ["lambda.amazonaws.com", "firehose.amazonaws.com"] }
      Action    = "sts:AssumeRole"
    }]
  })
  max_session_duration = 7200
  tags = {
    team = "identity"
  }
}

resource "aws_iam_policy" "lambda" {
  name        = "tf-lambda-${var.suffix}"
  description = "what the e2e function may do"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "Queues"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
        Resource = "*"
      },
      {
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "*"
      },
      {
        Sid      = "Bucket"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject", "s3:ListBucket"]
        Resource = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/*"]
      },
    ]
  })
  tags = {
    team = "identity"
  }
}

resource "aws_iam_role_policy_attachment" "lambda" {
  role       = aws_iam_role.lambda.name
  policy_arn = aws_iam_policy.lambda.arn
}

resource "aws_iam_role_policy" "inline" {
  name = "streams"
  role = aws_iam_role.lambda.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["kinesis:Get*", "kinesis:Describe*", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
      Resource = "*"
    }]
  })
}

resource "aws_iam_user" "ci" {
  name = "tf-ci-${var.suffix}"
  path = "/ci/"
  tags = {
    team = "identity"
  }
}

resource "aws_iam_access_key" "ci" {
  user = aws_iam_user.ci.name
}

resource "aws_iam_user_policy_attachment" "ci" {
  user       = aws_iam_user.ci.name
  policy_arn = aws_iam_policy.lambda.arn
}

resource "aws_iam_group" "deployers" {
  name = "tf-deployers-${var.suffix}"
  path = "/ci/"
}

resource "aws_iam_group_membership" "deployers" {
  name  = "tf-deployers-${var.suffix}"
  group = aws_iam_group.deployers.name
  users = [aws_iam_user.ci.name]
}

resource "aws_iam_instance_profile" "app" {
  name = "tf-app-${var.suffix}"
  role = aws_iam_role.lambda.name
}
