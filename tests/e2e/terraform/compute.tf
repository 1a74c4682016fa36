# Lambda, CloudWatch Logs and CloudWatch resources of the stack (see main.tf). tf.sh init writes
# lambda/handler.zip from lambda/handler.py.

# ---- Lambda ----

resource "aws_lambda_function" "worker" {
  function_name    = "tf-worker-${var.suffix}"
  description      = "consumes the e2e queue"
  role             = aws_iam_role.lambda.arn
  runtime          = "python3.12"
  handler          = "handler.handler"
  filename         = "${path.module}/lambda/handler.zip"
  source_code_hash = filebase64sha256("${path.module}/lambda/handler.zip")
  memory_size      = 256
  timeout          = 30
  architectures    = ["x86_64"]

  environment {
    variables = {
      TABLE = aws_dynamodb_table.orders.name
      MODE  = "e2e"
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.worker.name
  }

  tags = {
    team = "compute"
  }

  depends_on = [aws_iam_role_policy_attachment.lambda]
}

resource "aws_lambda_alias" "live" {
  name             = "live"
  description      = "what callers use"
  function_name    = aws_lambda_function.worker.function_name
  function_version = "$LATEST"
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowEvents"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.worker.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.nightly.arn
}

resource "aws_lambda_permission" "topic" {
  statement_id  = "AllowTopic"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.worker.function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.alerts.arn
}

resource "aws_sqs_queue" "jobs" {
  name                       = "tf-jobs-${var.suffix}"
  visibility_timeout_seconds = 180
}

resource "aws_lambda_event_source_mapping" "jobs" {
  event_source_arn                   = aws_sqs_queue.jobs.arn
  function_name                      = aws_lambda_function.worker.arn
  batch_size                         = 5
  maximum_batching_window_in_seconds = 2
}

resource "aws_lambda_event_source_mapping" "orders" {
  event_source_arn  = aws_dynamodb_table.orders.stream_arn
  function_name     = aws_lambda_function.worker.arn
  starting_position = "LATEST"
  batch_size        = 10
}

resource "aws_lambda_event_source_mapping" "clicks" {
  event_source_arn  = aws_kinesis_stream.clicks.arn
  function_name     = aws_lambda_function.worker.arn
  starting_position = "TRIM_HORIZON"
  batch_size        = 50
}

# ---- CloudWatch Logs ----

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/tf/${var.suffix}/worker"
  retention_in_days = 14
  tags = {
    team = "observability"
  }
}

resource "aws_cloudwatch_log_group" "audit" {
  name              = "/tf/${var.suffix}/audit"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_stream" "worker" {
  name           = "manual"
  log_group_name = aws_cloudwatch_log_group.worker.name
}

resource "aws_cloudwatch_log_metric_filter" "errors" {
  name           = "errors"
  pattern        = "ERROR"
  log_group_name = aws_cloudwatch_log_group.worker.name

  metric_transformation {
    name          = "WorkerErrors"
    namespace     = "TF/${var.suffix}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_log_subscription_filter" "audit" {
  name            = "to-firehose"
  log_group_name  = aws_cloudwatch_log_group.audit.name
  filter_pattern  = ""
  destination_arn = aws_kinesis_firehose_delivery_stream.archive.arn
  role_arn        = aws_iam_role.lambda.arn
}

# ---- CloudWatch ----

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "tf-errors-${var.suffix}"
  alarm_description   = "the worker logged errors"
  namespace           = "TF/${var.suffix}"
  metric_name         = "WorkerErrors"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 2
  datapoints_to_alarm = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags = {
    team = "observability"
  }
}

resource "aws_cloudwatch_metric_alarm" "queue_depth" {
  alarm_name          = "tf-queue-depth-${var.suffix}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.jobs.name }
  extended_statistic  = "p90"
  period              = 300
  evaluation_periods  = 1
  threshold           = 100
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = "tf-${var.suffix}"
  dashboard_body = jsonencode({
    widgets = [{
      type   = "metric"
      x      = 0
      y      = 0
      width  = 12
      height = 6
      properties = {
        metrics = [["TF/${var.suffix}", "WorkerErrors"]]
        period  = 60
        stat    = "Sum"
        region  = "us-east-1"
        title   = "Worker errors"
      }
    }]
  })
}
