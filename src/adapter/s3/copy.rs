//! Server-side copies that keep what a plain CopyObject drops. As the S3 API
//! reference says of CopyObject: the copy gets a private ACL (the source's
//! grants are not copied), the STANDARD storage class unless one is given,
//! no website redirect (`x-amz-website-redirect-location` "is not copied"),
//! and the bucket's default encryption; and one CopyObject handles at most
//! 5 GB. So each source is looked at first (HeadObject, and GetObjectAcl
//! when the bucket has ACLs), the copy carries the source's grants, storage
//! class, redirect and encryption, and an object over the multipart
//! threshold is copied in parts (UploadPartCopy) with its metadata and tags.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectOwnership, Permission, StorageClass, Type};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::super::aws::sdk_error;
use super::{SYSTEM, encode_key};
use crate::step::StepFailure;

/// The largest object one CopyObject may copy (5 GB).
pub(super) const MAX_SINGLE_COPY: i64 = 5 * 1024 * 1024 * 1024;
/// S3's smallest part (all but the last).
const MIN_PART: i64 = 5 * 1024 * 1024;
/// S3's most parts in one upload.
const MAX_PARTS: i64 = 10_000;

/// Copies within one bucket.
pub(super) struct Copier<'a> {
    pub(super) s3: &'a Client,
    pub(super) bucket: &'a str,
    /// Whether the bucket has ACLs (not BucketOwnerEnforced): then grants are copied.
    acls: bool,
    /// Objects larger than this are copied in parts of this size.
    threshold: i64,
    parallelism: usize,
}

/// The source's grants, as CopyObject's `x-amz-grant-*` values.
#[derive(Default)]
struct Grants {
    read: Vec<String>,
    read_acp: Vec<String>,
    write_acp: Vec<String>,
    full_control: Vec<String>,
}

impl<'a> Copier<'a> {
    /// Looks at the bucket's object ownership once: with BucketOwnerEnforced
    /// ACLs are off (any grant but the owner's is refused), so none are copied.
    pub(super) async fn new(
        s3: &'a Client,
        bucket: &'a str,
        threshold: i64,
        parallelism: usize,
    ) -> Result<Copier<'a>, StepFailure> {
        let acls = match s3.get_bucket_ownership_controls().bucket(bucket).send().await {
            Ok(out) => !out
                .ownership_controls()
                .is_some_and(|c| c.rules().iter().any(|r| r.object_ownership() == &ObjectOwnership::BucketOwnerEnforced)),
            // No ownership controls at all: a bucket from before they existed, with ACLs.
            Err(e) if e.code() == Some("OwnershipControlsNotFoundError") => true,
            Err(e) => return Err(sdk_error(SYSTEM, &format!("GetBucketOwnershipControls s3://{bucket}"), &e).into()),
        };
        Ok(Copier { s3, bucket, acls, threshold: threshold.clamp(MIN_PART, MAX_SINGLE_COPY), parallelism })
    }

    /// Copies `(from, to)` pairs with at most `parallelism` in flight.
    pub(super) async fn copy_all(&self, pairs: Vec<(String, String)>) -> Result<usize, StepFailure> {
        let n = pairs.len();
        stream::iter(pairs.into_iter().map(|(from, to)| async move { self.copy(&from, &to).await }))
            .buffer_unordered(self.parallelism.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(n)
    }

    fn call(&self, op: &str, from: &str, to: &str) -> String {
        format!("{op} s3://{}/{from} → {to}", self.bucket)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StepFailure> {
        let head = self
            .s3
            .head_object()
            .bucket(self.bucket)
            .key(from)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &format!("HeadObject s3://{}/{from}", self.bucket), &e)))?;
        let grants = if self.acls { self.grants(from).await? } else { Grants::default() };
        let source = format!("{}/{}", self.bucket, encode_key(from));
        let size = head.content_length().unwrap_or_default();
        if size > self.threshold {
            return self.copy_in_parts(from, to, &head, &grants, size).await;
        }
        let storage = head.storage_class().filter(|c| **c != StorageClass::Standard).cloned();
        self.s3
            .copy_object()
            .bucket(self.bucket)
            .key(to)
            .copy_source(source)
            .set_storage_class(storage)
            .set_website_redirect_location(head.website_redirect_location().map(str::to_string))
            .set_server_side_encryption(head.server_side_encryption().cloned())
            .set_ssekms_key_id(head.ssekms_key_id().map(str::to_string))
            .set_grant_read(joined(&grants.read))
            .set_grant_read_acp(joined(&grants.read_acp))
            .set_grant_write_acp(joined(&grants.write_acp))
            .set_grant_full_control(joined(&grants.full_control))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &self.call("CopyObject", from, to), &e)))
    }

    async fn grants(&self, key: &str) -> Result<Grants, StepFailure> {
        let acl = self
            .s3
            .get_object_acl()
            .bucket(self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &format!("GetObjectAcl s3://{}/{key}", self.bucket), &e)))?;
        let mut out = Grants::default();
        for g in acl.grants() {
            let Some(grantee) = g.grantee() else { continue };
            let who = match grantee.r#type() {
                Type::CanonicalUser => grantee.id().map(|id| format!("id=\"{id}\"")),
                Type::Group => grantee.uri().map(|uri| format!("uri=\"{uri}\"")),
                Type::AmazonCustomerByEmail => grantee.email_address().map(|e| format!("emailAddress=\"{e}\"")),
                _ => None,
            };
            let Some(who) = who else { continue };
            match g.permission() {
                Some(Permission::Read) => out.read.push(who),
                Some(Permission::ReadAcp) => out.read_acp.push(who),
                Some(Permission::WriteAcp) => out.write_acp.push(who),
                Some(Permission::FullControl) => out.full_control.push(who),
                // WRITE is meaningless on an object.
                _ => {}
            }
        }
        Ok(out)
    }

    /// CreateMultipartUpload with the source's metadata, tags, grants and
    /// storage class; UploadPartCopy part by part; CompleteMultipartUpload,
    /// or AbortMultipartUpload when a part fails (no orphaned parts billed).
    async fn copy_in_parts(
        &self,
        from: &str,
        to: &str,
        head: &HeadObjectOutput,
        grants: &Grants,
        size: i64,
    ) -> Result<(), StepFailure> {
        let tags =
            self.s3.get_object_tagging().bucket(self.bucket).key(from).send().await.map_err(|e| {
                StepFailure::from(sdk_error(SYSTEM, &format!("GetObjectTagging s3://{}/{from}", self.bucket), &e))
            })?;
        let tagging: Vec<String> =
            tags.tag_set().iter().map(|t| format!("{}={}", form_encode(t.key()), form_encode(t.value()))).collect();
        let created = self
            .s3
            .create_multipart_upload()
            .bucket(self.bucket)
            .key(to)
            .set_content_type(head.content_type().map(str::to_string))
            .set_cache_control(head.cache_control().map(str::to_string))
            .set_content_disposition(head.content_disposition().map(str::to_string))
            .set_content_encoding(head.content_encoding().map(str::to_string))
            .set_content_language(head.content_language().map(str::to_string))
            .set_metadata(head.metadata().cloned())
            .set_storage_class(head.storage_class().cloned())
            .set_website_redirect_location(head.website_redirect_location().map(str::to_string))
            .set_server_side_encryption(head.server_side_encryption().cloned())
            .set_ssekms_key_id(head.ssekms_key_id().map(str::to_string))
            .set_tagging((!tagging.is_empty()).then(|| tagging.join("&")))
            .set_grant_read(joined(&grants.read))
            .set_grant_read_acp(joined(&grants.read_acp))
            .set_grant_write_acp(joined(&grants.write_acp))
            .set_grant_full_control(joined(&grants.full_control))
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &self.call("CreateMultipartUpload", from, to), &e)))?;
        let upload = created.upload_id().unwrap_or_default().to_string();
        let done = match self.copy_parts(from, to, &upload, size, head.e_tag()).await {
            Ok(parts) => self
                .s3
                .complete_multipart_upload()
                .bucket(self.bucket)
                .key(to)
                .upload_id(&upload)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &self.call("CompleteMultipartUpload", from, to), &e))),
            Err(f) => Err(f),
        };
        if done.is_err() {
            // Parts left behind are stored, and billed, until aborted.
            let _ = self.s3.abort_multipart_upload().bucket(self.bucket).key(to).upload_id(&upload).send().await;
        }
        done
    }

    async fn copy_parts(
        &self,
        from: &str,
        to: &str,
        upload: &str,
        size: i64,
        etag: Option<&str>,
    ) -> Result<Vec<CompletedPart>, StepFailure> {
        let source = format!("{}/{}", self.bucket, encode_key(from));
        let part = part_size(self.threshold, size);
        let mut parts = Vec::new();
        let mut start = 0i64;
        let mut number = 1i32;
        while start < size {
            let end = (start + part).min(size) - 1;
            let out = self
                .s3
                .upload_part_copy()
                .bucket(self.bucket)
                .key(to)
                .upload_id(upload)
                .part_number(number)
                .copy_source(&source)
                .copy_source_range(format!("bytes={start}-{end}"))
                // Every part from the same version of the source, or the copy fails.
                .set_copy_source_if_match(etag.map(str::to_string))
                .send()
                .await
                .map_err(|e| {
                    StepFailure::from(sdk_error(SYSTEM, &self.call(&format!("UploadPartCopy #{number}"), from, to), &e))
                })?;
            let etag = out.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default().to_string();
            parts.push(CompletedPart::builder().e_tag(etag).part_number(number).build());
            start = end + 1;
            number += 1;
        }
        Ok(parts)
    }
}

/// The threshold, or bigger parts when that would take more than 10,000.
fn part_size(threshold: i64, size: i64) -> i64 {
    threshold.max((size + MAX_PARTS - 1) / MAX_PARTS).min(MAX_SINGLE_COPY)
}

fn joined(grantees: &[String]) -> Option<String> {
    (!grantees.is_empty()).then(|| grantees.join(", "))
}

/// URL-encoding for `x-amz-tagging` (a query-string-like `k=v&k2=v2`).
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_object_takes_bigger_parts_than_the_threshold_to_stay_within_10000() {
        assert_eq!(part_size(MIN_PART, 11 * 1024 * 1024), MIN_PART);
        let size = 100 * 1024 * 1024 * 1024_i64;
        let part = part_size(MIN_PART, size);
        assert!(part > MIN_PART && (size + part - 1) / part <= MAX_PARTS, "{part}");
    }
}
