//! `integrations.aws`: where the AWS steps (S3, CloudWatch, ECS) connect.
//!
//! The standard credential chain (environment, profiles, SSO, instance and
//! task roles) with an optional `profile`, `region` and `endpoint_url` (a
//! proxy, a VPC endpoint, or moto in tests). The SDK configuration is built
//! once per run, on first use, so a runbook that never reaches an AWS step
//! never touches credentials.

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::sync::OnceCell;

use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::Template;
use crate::runbook::node::Node;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::step::schema;
use crate::step::{AdapterError, Integration, IntegrationKind, ParseContext, RemoteKind, Settings, StepEnv, StepFailure};

pub struct AwsIntegrationKind;

#[derive(Debug)]
pub struct AwsSettings {
    region: Option<Template>,
    profile: Option<Template>,
    endpoint_url: Option<Template>,
    config: OnceCell<SdkConfig>,
}

impl IntegrationKind for AwsIntegrationKind {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn parse(&self, node: &Node, cx: &mut dyn ParseContext) -> Option<Arc<dyn Integration>> {
        let v = Settings::mapping(node, "aws", &["region", "profile", "endpoint_url"], "e.g. `aws: { region: us-east-1 }`", cx)?;
        let region = v.template("region", cx);
        let profile = v.template("profile", cx);
        let endpoint_url = v.template("endpoint_url", cx);
        Some(Arc::new(AwsSettings { region, profile, endpoint_url, config: OnceCell::new() }))
    }

    fn schema(&self) -> serde_json::Value {
        schema::object(
            "AWS settings for the s3.*, ecs.* and cloudwatch.* steps; credentials come from the standard chain",
            &[
                ("region", schema::template("the region (default: the standard chain's)")),
                ("profile", schema::template("a profile from ~/.aws/config")),
                ("endpoint_url", schema::template("another endpoint, for an S3-compatible store or a test server")),
            ],
            &[],
        )
    }
}

impl Integration for AwsSettings {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn describe(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(r) = &self.region {
            parts.push(format!("region {}", r.display()));
        }
        if let Some(p) = &self.profile {
            parts.push(format!("profile {}", p.display()));
        }
        if let Some(e) = self.endpoint_url.as_ref().filter(|e| !e.raw.is_empty()) {
            parts.push(format!("endpoint {}", e.display()));
        }
        if parts.is_empty() {
            parts.push("the standard credential chain and region".into());
        }
        vec![format!("aws: {}", parts.join(", "))]
    }
}

impl AwsSettings {
    /// The SDK configuration for this run, built on first use.
    pub async fn config(&self, env: &dyn StepEnv) -> Result<&SdkConfig, StepFailure> {
        let render = |t: &Option<Template>| t.as_ref().map(|t| env.render(t)).transpose();
        let (region, profile, endpoint) = (render(&self.region)?, render(&self.profile)?, render(&self.endpoint_url)?);
        let config = self
            .config
            .get_or_init(|| async move {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(p) = profile.filter(|p| !p.is_empty()) {
                    loader = loader.profile_name(p);
                }
                if let Some(r) = region.filter(|r| !r.is_empty()) {
                    loader = loader.region(Region::new(r));
                }
                if let Some(e) = endpoint.filter(|e| !e.is_empty()) {
                    loader = loader.endpoint_url(e);
                }
                // No call may hang a release: a stuck connection fails the attempt.
                loader = loader.timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .connect_timeout(std::time::Duration::from_secs(10))
                        .operation_attempt_timeout(std::time::Duration::from_secs(30))
                        .operation_timeout(std::time::Duration::from_secs(120))
                        .build(),
                );
                loader.load().await
            })
            .await;
        if config.region().is_none() {
            return Err(StepFailure::from(
                AdapterError::refused("AWS: no region is configured")
                    .with_help("set `region` under integrations.aws, or AWS_REGION, or a region in the profile"),
            ));
        }
        Ok(config)
    }
}

/// The `aws` settings a step needs, with a clear error when they are missing.
pub fn settings(
    cx: &mut dyn ParseContext,
    key_span: crate::runbook::diagnostic::Span,
    kind: &str,
) -> Option<Arc<dyn Integration>> {
    let s = cx.integration("aws");
    if s.is_none() {
        cx.diagnostics().push(
            Diagnostic::new(key_span, format!("an `{kind}` step needs `integrations: {{ aws: {{ region: ... }} }}`"))
                .hint("add `aws:` under top-level `integrations:` (region, and optionally profile and endpoint_url)"),
        );
    }
    s
}

pub fn downcast(i: &Arc<dyn Integration>) -> &AwsSettings {
    i.settings()
}

/// An SDK error as one line: the service's code and message, or the transport failure.
/// An AWS SDK error as an [`AdapterError`], classified by the SDK's typed
/// error (the variant, the service's error code, the HTTP status), never by
/// searching its text. The message keeps the SDK's whole context.
pub fn sdk_error<E>(service: &'static str, call: &str, e: &SdkError<E, HttpResponse>) -> AdapterError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = aws_sdk_s3::error::DisplayErrorContext(e).to_string();
    let kind = match e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => RemoteKind::Transient,
        SdkError::DispatchFailure(f) if f.is_timeout() => RemoteKind::Transient,
        SdkError::DispatchFailure(_) => RemoteKind::Unreachable,
        SdkError::ServiceError(s) => classify(e.code(), s.raw().status().as_u16()),
        _ => RemoteKind::Rejected,
    };
    AdapterError::remote(service, call, kind, detail)
}

/// A service error by its code (the SDK's own retry classifier's lists for
/// throttling and transient codes), then by its HTTP status.
fn classify(code: Option<&str>, status: u16) -> RemoteKind {
    const DENIED: &[&str] = &[
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    ];
    const NOT_FOUND: &[&str] = &[
        "ClusterNotFoundException",
        "NoSuchBucket",
        "NoSuchKey",
        "NotFound",
        "ResourceNotFound",
        "ResourceNotFoundException",
        "ServiceNotFoundException",
    ];
    const SERVER: &[&str] = &["InternalError", "InternalFailure", "ServerException", "ServiceUnavailable"];
    match code {
        Some(c) if THROTTLING_ERRORS.contains(&c) || TRANSIENT_ERRORS.contains(&c) || SERVER.contains(&c) => {
            RemoteKind::Transient
        }
        Some(c) if DENIED.contains(&c) => RemoteKind::Denied,
        Some(c) if NOT_FOUND.contains(&c) => RemoteKind::NotFound,
        _ => match status {
            500..=599 | 429 => RemoteKind::Transient,
            401 | 403 => RemoteKind::Denied,
            404 => RemoteKind::NotFound,
            _ => RemoteKind::Rejected,
        },
    }
}

/// The AWS SDK's retry classifier lists (aws-runtime `retries::classifiers`).
const THROTTLING_ERRORS: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];
const TRANSIENT_ERRORS: &[&str] = &["RequestTimeout", "RequestTimeoutException"];

#[cfg(test)]
mod tests {
    use super::{RemoteKind, classify};

    #[test]
    fn service_errors_are_classified_by_code_then_status() {
        assert_eq!(classify(Some("ThrottlingException"), 400), RemoteKind::Transient);
        assert_eq!(classify(Some("SlowDown"), 503), RemoteKind::Transient);
        assert_eq!(classify(Some("AccessDeniedException"), 400), RemoteKind::Denied);
        assert_eq!(classify(Some("ExpiredToken"), 400), RemoteKind::Denied);
        assert_eq!(classify(Some("ClusterNotFoundException"), 400), RemoteKind::NotFound);
        assert_eq!(classify(Some("NoSuchBucket"), 404), RemoteKind::NotFound);
        assert_eq!(classify(Some("InvalidParameterException"), 400), RemoteKind::Rejected);
        assert_eq!(classify(None, 502), RemoteKind::Transient);
        assert_eq!(classify(None, 403), RemoteKind::Denied);
    }
}
