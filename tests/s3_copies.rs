//! s3.promote and s3.rollback against moto, for what a plain CopyObject
//! drops (S3 API reference, CopyObject): the object's ACL (a copy is
//! private), its storage class, its website redirect, and anything over 5 GB
//! (UploadPartCopy). On a bucket serving public-read assets a plain copy
//! would make the live site private.

use aws_sdk_s3::types::{ObjectCannedAcl, Permission, StorageClass, Tag, Tagging};

use crate::support::moto;
use crate::support::*;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

fn runbook(bucket: &str, extra: &str) -> String {
    format!(
        "version: 1\nname: {}\nintegrations:\n  aws: {{ region: {}, endpoint_url: \"{}\" }}\nexecute:\n  - s3.promote: {{ bucket: {bucket}, from: releases/2/, to: live/{extra} }}\nvalidate:\n  - run: test -f healthy\nrollback:\n  - s3.rollback: {{ bucket: {bucket}, to: live/{extra} }}\n  - run: touch healthy\n",
        moto::unique("s3copies"),
        moto::REGION,
        moto::url()
    )
}

fn run(sb: &Sandbox, yaml: &str) -> Run {
    sb.write("release.yaml", yaml);
    let env = moto::env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sb.relctl_env(&["run", "release.yaml", "--non-interactive", "--approve", "all"], &env)
}

async fn put_public(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .acl(ObjectCannedAcl::PublicRead)
        .content_type("text/html")
        .cache_control("max-age=60")
        .metadata("release", key.split('/').nth(1).unwrap_or_default())
        .website_redirect_location("/moved.html")
        .storage_class(StorageClass::StandardIa)
        .send()
        .await
        .unwrap();
}

/// (public-read?, cache-control, redirect, storage class, x-amz-meta-release) of an object.
async fn kept(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> (bool, String, String, String, String) {
    let acl = s3.get_object_acl().bucket(bucket).key(key).send().await.unwrap();
    let public = acl
        .grants()
        .iter()
        .any(|g| g.permission() == Some(&Permission::Read) && g.grantee().and_then(|e| e.uri()) == Some(ALL_USERS));
    let head = s3.head_object().bucket(bucket).key(key).send().await.unwrap();
    (
        public,
        head.cache_control().unwrap_or_default().to_string(),
        head.website_redirect_location().unwrap_or_default().to_string(),
        head.storage_class().map(|c| c.as_str().to_string()).unwrap_or_default(),
        head.metadata().and_then(|m| m.get("release").cloned()).unwrap_or_default(),
    )
}

#[test]
fn promote_and_rollback_keep_public_read_acls_redirects_storage_class_and_metadata() {
    let rt = moto::runtime();
    let s3 = rt.block_on(moto::s3());
    let bucket = moto::unique("public-web").to_lowercase();
    rt.block_on(async {
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        put_public(&s3, &bucket, "live/index.html", b"<html>v1</html>".to_vec()).await;
        put_public(&s3, &bucket, "releases/2/index.html", b"<html>v2</html>".to_vec()).await;
    });
    let sb = Sandbox::new();
    sb.write("healthy", "");
    run(&sb, &runbook(&bucket, "")).expect_code(0);
    let live = rt.block_on(kept(&s3, &bucket, "live/index.html"));
    assert_eq!(rt.block_on(moto::body(&s3, &bucket, "live/index.html")), "<html>v2</html>");
    assert_eq!(live, (true, "max-age=60".into(), "/moved.html".into(), "STANDARD_IA".into(), "2".into()), "after promote");
    let backup = format!("relctl-backups/{}/live/index.html", sb.latest_run_id());
    assert!(rt.block_on(kept(&s3, &bucket, &backup)).0, "the backup keeps the grants too");

    // A failed release (no `healthy` file until the rollback makes one):
    // the rollback restores v2 as it was served.
    rt.block_on(put_public(&s3, &bucket, "releases/2/index.html", b"<html>v3</html>".to_vec()));
    std::fs::remove_file(sb.path().join("healthy")).unwrap();
    run(&sb, &runbook(&bucket, "")).expect_code(3);
    assert_eq!(rt.block_on(moto::body(&s3, &bucket, "live/index.html")), "<html>v2</html>");
    let restored = rt.block_on(kept(&s3, &bucket, "live/index.html"));
    assert_eq!(restored, (true, "max-age=60".into(), "/moved.html".into(), "STANDARD_IA".into(), "2".into()), "after rollback");
}

#[test]
fn an_object_over_the_multipart_threshold_is_copied_in_parts_with_its_metadata_and_tags() {
    let rt = moto::runtime();
    let s3 = rt.block_on(moto::s3());
    let bucket = moto::unique("big-assets").to_lowercase();
    // 11 MiB and a threshold of 5 MiB: three UploadPartCopy parts (5, 5, 1).
    let big: Vec<u8> = (0..11 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    rt.block_on(async {
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        put_public(&s3, &bucket, "releases/2/app.bin", big.clone()).await;
        let tags = Tagging::builder().tag_set(Tag::builder().key("team").value("web ui").build().unwrap()).build().unwrap();
        s3.put_object_tagging().bucket(&bucket).key("releases/2/app.bin").tagging(tags).send().await.unwrap();
    });
    let sb = Sandbox::new();
    sb.write("healthy", "");
    let r = run(&sb, &runbook(&bucket, ", multipart_threshold_mib: 5"));
    r.expect_code(0);
    let got = rt.block_on(async {
        let o = s3.get_object().bucket(&bucket).key("live/app.bin").send().await.unwrap();
        (o.parts_count(), o.body.collect().await.unwrap().into_bytes().to_vec())
    });
    assert!(got.1 == big, "the copy is byte for byte the source ({} of {} bytes)", got.1.len(), big.len());
    let head = rt.block_on(s3.head_object().bucket(&bucket).key("live/app.bin").send()).unwrap();
    assert!(head.e_tag().unwrap_or_default().ends_with("-3\""), "copied in 3 parts: {:?}", head.e_tag());
    assert_eq!(
        rt.block_on(kept(&s3, &bucket, "live/app.bin")),
        (true, "max-age=60".into(), "/moved.html".into(), "STANDARD_IA".into(), "2".into())
    );
    let tags = rt.block_on(s3.get_object_tagging().bucket(&bucket).key("live/app.bin").send()).unwrap();
    assert_eq!(tags.tag_set().iter().map(|t| (t.key(), t.value())).collect::<Vec<_>>(), [("team", "web ui")]);
}
