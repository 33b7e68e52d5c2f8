//! moto's server, as scripts/test.sh starts it, and SDK clients pointed at it
//! for seeding and inspecting state. A test that needs moto fails loudly when
//! it is absent: nothing is skipped.

use std::collections::BTreeMap;

pub const REGION: &str = "us-east-1";

pub fn url() -> String {
    std::env::var("RELCTL_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!("moto is not running: run the suite with ./scripts/test.sh, which installs and starts it (or set RELCTL_TEST_MOTO_URL)")
    })
}

/// Environment for relctl runs against moto: static credentials, region.
pub fn env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", REGION.into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// A name no other test uses (moto's state is shared by the whole run).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{}-{nanos}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(url())
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await
}

pub async fn s3() -> aws_sdk_s3::Client {
    let conf = config().await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build())
}

pub async fn cloudwatch() -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&config().await)
}

/// Creates a bucket holding `objects` (key → body), with content types.
pub async fn bucket(s3: &aws_sdk_s3::Client, name: &str, objects: &[(&str, &str)]) {
    s3.create_bucket().bucket(name).send().await.unwrap();
    for (key, body) in objects {
        let ct = if std::path::Path::new(key).extension().is_some_and(|e| e.eq_ignore_ascii_case("html")) {
            "text/html"
        } else {
            "application/javascript"
        };
        s3.put_object()
            .bucket(name)
            .key(*key)
            .body(body.as_bytes().to_vec().into())
            .content_type(ct)
            .cache_control("max-age=60")
            .send()
            .await
            .unwrap();
    }
}

/// Key → (ETag, content type) under a prefix.
pub async fn listing(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    // moto runs with small pages (scripts/moto.sh): read them all.
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            let key = o.key().unwrap().to_string();
            let head = s3.head_object().bucket(bucket).key(&key).send().await.unwrap();
            out.insert(key, (o.e_tag().unwrap_or_default().to_string(), head.content_type().unwrap_or_default().to_string()));
        }
    }
    out
}

pub async fn body(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let o = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
    String::from_utf8(o.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}

pub async fn alarm(cw: &aws_sdk_cloudwatch::Client, name: &str, firing: bool) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .metric_name("5xx")
        .namespace("relctl/test")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let state = if firing { aws_sdk_cloudwatch::types::StateValue::Alarm } else { aws_sdk_cloudwatch::types::StateValue::Ok };
    cw.set_alarm_state().alarm_name(name).state_value(state).state_reason("test").send().await.unwrap();
}

pub async fn elbv2() -> aws_sdk_elasticloadbalancingv2::Client {
    aws_sdk_elasticloadbalancingv2::Client::new(&config().await)
}

pub async fn ecs() -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&config().await)
}

/// Uploads `body` as a one-part multipart upload (its ETag is not an MD5,
/// and a copy of it gets another ETag, as `aws s3 sync` uploads do).
pub async fn multipart(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str) {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let up = s3.create_multipart_upload().bucket(bucket).key(key).send().await.unwrap();
    let id = up.upload_id().unwrap().to_string();
    let part = s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .part_number(1)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let done = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    s3.complete_multipart_upload().bucket(bucket).key(key).upload_id(&id).multipart_upload(done).send().await.unwrap();
}
