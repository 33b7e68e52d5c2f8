//! The shared store: S3 (or any S3-compatible store) through the official
//! SDK, with the standard credential chain and endpoint settings
//! (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, profiles, `AWS_REGION`).
//!
//! Every write that must not clobber another is conditional
//! (docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html):
//! `If-None-Match: *` creates only, `If-Match: ETAG` replaces or deletes
//! only the version the caller read. A 412 answers "someone else's"; a 409
//! ConditionalRequestConflict (a concurrent conditional write to the same
//! key) is retried, as AWS advises.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use super::Location;

const SYSTEM: &str = "S3 (shared state)";
/// Tries of a call answered 409 ConditionalRequestConflict.
const CONFLICT_TRIES: u32 = 5;

/// A store call that failed: which, and what came back.
#[derive(Debug, thiserror::Error)]
#[error("{SYSTEM}: {call} failed: {detail}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
pub struct StoreError {
    pub call: String,
    pub detail: String,
    pub hint: Option<String>,
}

/// The result of a conditional write or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Done; the object's new ETag (empty for a delete).
    Done(String),
    /// 412 (or 404 for `If-Match` on a missing key): the condition did not hold.
    Refused,
}

pub struct Store {
    client: Client,
    pub location: Location,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.location)
    }
}

impl Store {
    /// A client from the standard chain. An endpoint set for S3 (or for
    /// all services) means an S3-compatible store: buckets go in the path.
    pub async fn connect(location: Location) -> Result<Store, StoreError> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .load()
            .await;
        if config.region().is_none() {
            return Err(StoreError {
                call: format!("connecting to {location}"),
                detail: "no AWS region is configured".into(),
                hint: Some("set AWS_REGION (or a region in your AWS profile)".into()),
            });
        }
        let custom_endpoint = config.endpoint_url().is_some()
            || ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].iter().any(|v| std::env::var(v).is_ok_and(|e| !e.is_empty()));
        let conf = aws_sdk_s3::config::Builder::from(&config).force_path_style(custom_endpoint).build();
        Ok(Store { client: Client::from_conf(conf), location })
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.location.bucket)
    }

    /// The object and its ETag, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let call = format!("GetObject {}", self.url(key));
        match self.client.get_object().bucket(&self.location.bucket).key(key).send().await {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let body = out.body.collect().await.map_err(|e| StoreError { call, detail: e.to_string(), hint: None })?;
                Ok(Some((body.into_bytes().to_vec(), etag)))
            }
            Err(e) if e.as_service_error().is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) => {
                Ok(None)
            }
            Err(e) => Err(failure(call, &e)),
        }
    }

    /// Creates `key` only if there is no such object (`If-None-Match: *`).
    pub async fn create(&self, key: &str, body: &[u8]) -> Result<Written, StoreError> {
        self.put(key, body, None).await
    }

    /// Replaces `key` only if it is still the version `etag` (`If-Match`).
    pub async fn replace(&self, key: &str, body: &[u8], etag: &str) -> Result<Written, StoreError> {
        self.put(key, body, Some(etag)).await
    }

    async fn put(&self, key: &str, body: &[u8], etag: Option<&str>) -> Result<Written, StoreError> {
        let call =
            format!("PutObject {} ({})", self.url(key), etag.map_or("If-None-Match: *".into(), |e| format!("If-Match: {e}")));
        conditional(call, || async {
            let req = self
                .client
                .put_object()
                .bucket(&self.location.bucket)
                .key(key)
                .content_type("application/json")
                .body(ByteStream::from(body.to_vec()));
            let req = match etag {
                None => req.if_none_match("*"),
                Some(e) => req.if_match(e),
            };
            req.send().await.map(|out| out.e_tag().unwrap_or_default().to_string())
        })
        .await
    }

    /// Deletes `key` only if it is still the version `etag`.
    pub async fn delete(&self, key: &str, etag: &str) -> Result<Written, StoreError> {
        let call = format!("DeleteObject {} (If-Match: {etag})", self.url(key));
        conditional(call, || async {
            self.client.delete_object().bucket(&self.location.bucket).key(key).if_match(etag).send().await.map(|_| String::new())
        })
        .await
    }

    /// Every key under `prefix`, in order, through all pages.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let call = format!("ListObjectsV2 {}", self.url(prefix));
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.location.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failure(call.clone(), &e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        Ok(keys)
    }
}

/// A conditional call: done (with the new ETag), refused (412), or failed;
/// a 409 ConditionalRequestConflict is tried again with backoff.
async fn conditional<F, Fut, E>(call: String, send: F) -> Result<Written, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<String, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match send().await {
            Ok(etag) => return Ok(Written::Done(etag)),
            Err(e) => match condition(&e) {
                Condition::Failed => return Ok(Written::Refused),
                Condition::Conflict if attempt < CONFLICT_TRIES => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                _ => return Err(failure(call, &e)),
            },
        }
    }
}

enum Condition {
    /// 412 PreconditionFailed, or 404 for `If-Match` on a key that is gone.
    Failed,
    /// 409 ConditionalRequestConflict: a concurrent conditional write; try again.
    Conflict,
    Other,
}

fn condition<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Condition {
    let SdkError::ServiceError(s) = e else { return Condition::Other };
    match (s.raw().status().as_u16(), s.err().code()) {
        (412 | 404, _) | (_, Some("PreconditionFailed")) => Condition::Failed,
        (409, _) | (_, Some("ConditionalRequestConflict")) => Condition::Conflict,
        _ => Condition::Other,
    }
}

fn failure<E>(call: String, e: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let hint = match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            Some("the store did not answer: check the network, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, then try again")
        }
        SdkError::ServiceError(s) => match (s.raw().status().as_u16(), e.code()) {
            (403, _) => Some("the credentials may not use this bucket: docs/state.md lists the permissions relctl needs"),
            (_, Some("NoSuchBucket")) => {
                Some("create the bucket, or fix the name in --state, RELCTL_STATE or the runbook's `state:`")
            }
            (501, _) | (_, Some("NotImplemented")) => {
                Some("this store does not support conditional writes, which shared state needs")
            }
            _ => None,
        },
        _ => None,
    };
    StoreError { call, detail: DisplayErrorContext(e).to_string(), hint: hint.map(str::to_string) }
}
