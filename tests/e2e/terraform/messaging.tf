# SNS, EventBridge, Kinesis and Firehose resources of the stack (see main.tf).

# ---- SNS ----

resource "aws_sns_topic" "alerts" {
  name         = "tf-alerts-${var.suffix}"
  display_name = "Alerts"
  tags = {
    team = "messaging"
  }
}

resource "aws_sns_topic" "orders" {
  name                        = "tf-orders-${var.suffix}.fifo"
  fifo_topic                  = true
  content_based_deduplication = true
  kms_master_key_id           = aws_kms_alias.main.name
}

resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AlarmsPublish"
      Effect    = "Allow"
      Principal = { Service = "cloudwatch.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.alerts.arn
    }]
  })
}

resource "aws_sqs_queue" "alerts" {
  name = "tf-alerts-${var.suffix}"
}

resource "aws_sqs_queue_policy" "alerts" {
  queue_url = aws_sqs_queue.alerts.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "FromTopic"
        Effect    = "Allow"
        Principal = { Service = "sns.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.alerts.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_sns_topic.alerts.arn } }
      },
      {
        Sid       = "FromRules"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.alerts.arn
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "alerts_queue" {
  topic_arn            = aws_sns_topic.alerts.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.alerts.arn
  raw_message_delivery = true
  filter_policy = jsonencode({
    severity = ["high", "critical"]
  })
}

# ---- EventBridge ----

resource "aws_cloudwatch_event_bus" "app" {
  name = "tf-app-${var.suffix}"
  tags = {
    team = "events"
  }
}

resource "aws_cloudwatch_event_rule" "orders" {
  name           = "tf-orders-${var.suffix}"
  description    = "orders placed in the app"
  event_bus_name = aws_cloudwatch_event_bus.app.name
  event_pattern = jsonencode({
    source        = ["app.orders"]
    "detail-type" = ["OrderPlaced"]
  })
  tags = {
    team = "events"
  }
}

resource "aws_cloudwatch_event_target" "orders" {
  rule           = aws_cloudwatch_event_rule.orders.name
  event_bus_name = aws_cloudwatch_event_bus.app.name
  target_id      = "to-queue"
  arn            = aws_sqs_queue.alerts.arn
  input_path     = "$.detail"
}

resource "aws_cloudwatch_event_rule" "nightly" {
  name                = "tf-nightly-${var.suffix}"
  description         = "once a day"
  schedule_expression = "cron(0 3 * * ? *)"
}

resource "aws_cloudwatch_event_target" "nightly" {
  rule      = aws_cloudwatch_event_rule.nightly.name
  target_id = "to-function"
  arn       = aws_lambda_function.worker.arn
  input = jsonencode({
    job = "nightly"
  })
}

resource "aws_cloudwatch_event_archive" "app" {
  name             = "tf-app-${var.suffix}"
  event_source_arn = aws_cloudwatch_event_bus.app.arn
  retention_days   = 7
}

# ---- Kinesis ----

resource "aws_kinesis_stream" "clicks" {
  name             = "tf-clicks-${var.suffix}"
  shard_count      = 2
  retention_period = 48
  shard_level_metrics = [
    "IncomingBytes",
    "OutgoingBytes",
  ]
  stream_mode_details {
    stream_mode = "PROVISIONED"
  }
  tags = {
    team = "streams"
  }
}

resource "aws_kinesis_stream" "ondemand" {
  name            = "tf-ondemand-${var.suffix}"
  encryption_type = "KMS"
  kms_key_id      = aws_kms_alias.main.name
  stream_mode_details {
    stream_mode = "ON_DEMAND"
  }
}

# ---- Firehose ----

resource "aws_kinesis_firehose_delivery_stream" "archive" {
  name        = "tf-archive-${var.suffix}"
  destination = "extended_s3"

  extended_s3_configuration {
    role_arn            = aws_iam_role.lambda.arn
    bucket_arn          = aws_s3_bucket.data.arn
    prefix              = "firehose/"
    error_output_prefix = "firehose-errors/"
    buffering_size      = 1
    buffering_interval  = 60
    compression_format  = "GZIP"
  }

  tags = {
    team = "streams"
  }
}
