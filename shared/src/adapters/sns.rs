//! Release notifications and the weekly review on an SNS topic, with attributes subscribers
//! filter on.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::ports::{Notifier, NotifyError, ReviewPublisher, ReviewReport};
use crate::release::notification::ReleaseNotification;

/// Environment variable naming the topic (set by the SAM template).
pub const TOPIC_ENV: &str = "ROLLGATE_TOPIC_ARN";

pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }

    async fn send(&self, event: &str, subject: String, message: String, attributes: &[(&str, String)]) -> Result<(), NotifyError> {
        let fail = |transient: bool, message: String| NotifyError { event: event.into(), transient, message };
        let mut request = self.client.publish().topic_arn(&self.topic_arn).subject(subject).message(message);
        for (name, value) in attributes {
            let attribute =
                MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(|e| fail(false, e.to_string()))?;
            request = request.message_attributes(*name, attribute);
        }
        request.send().await.map_err(|e| {
            let transient = e.as_service_error().is_some_and(|s| s.is_internal_error_exception() || s.is_kms_throttling_exception())
                || matches!(e, aws_sdk_sns::error::SdkError::TimeoutError(_) | aws_sdk_sns::error::SdkError::DispatchFailure(_));
            fail(transient, crate::adapters::aws_error::cause(&e))
        })?;
        Ok(())
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, notification: &ReleaseNotification) -> Result<(), NotifyError> {
        self.send(notification.event_name(), notification.subject(), notification.body().to_string(), &notification.attributes()).await
    }
}

#[async_trait]
impl ReviewPublisher for SnsNotifier {
    /// The review as JSON (`review`) with the report for people beside it (`text`).
    async fn publish_review(&self, report: &ReviewReport) -> Result<(), NotifyError> {
        let body = serde_json::json!({ "event": "weekly_review", "summary": report.text, "review": report.review });
        let attributes = [("event", "weekly_review".to_string()), ("severity", "info".to_string())];
        self.send("weekly_review", report.subject.clone(), body.to_string(), &attributes).await
    }
}
