//! `s3.promote`, `s3.rollback`, `s3.check`: frontend assets in S3.
//!
//! Promote copies a release prefix over the live one server-side, entry
//! files (`last:`) after everything else so no user loads a new index.html
//! whose assets are not there yet, then deletes what the release does not
//! have. Before changing anything it records what the live prefix held
//! (keys and ETags) in the journal and copies it to a backup prefix for this
//! run; rollback restores exactly that and verifies it by listing. Copies
//! keep each object's ACL grants, storage class, redirect and encryption,
//! and large objects are copied in parts (copy.rs).

use std::collections::BTreeMap;
use std::sync::Arc;

mod copy;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use copy::{Copier, MAX_SINGLE_COPY};
use serde::{Deserialize, Serialize};

use super::aws::{self, sdk_error};
use crate::runbook::expr::Template;
use crate::step::schema;
use crate::step::{
    Action, AdapterError, BoxFuture, Integration, Outcome, ParseContext, RemoteKind, RollbackTarget, Settings, StepEnv,
    StepFailure, StepKind, StepResult, StepRun, StepSpec, TargetDecl, TargetUse,
};

const SYSTEM: &str = "S3";
const DEFAULT_PARALLELISM: usize = 8;

pub struct PromoteKind;
pub struct RollbackKind;
pub struct CheckKind;

/// What a prefix held: key (relative to the prefix) → ETag.
type Listing = BTreeMap<String, Object>;

/// What identifies an object's content. The ETag tells whether it changed;
/// after a copy only the size is comparable (a copy of a multipart or
/// SSE-KMS object gets a new ETag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Object {
    etag: String,
    size: i64,
}

/// Journaled before promote changes anything; what rollback restores.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Backup {
    bucket: String,
    to: String,
    #[serde(rename = "backup_prefix")]
    prefix: String,
    objects: Listing,
}

/// `s3://bucket/prefix/` as a rollback target: what s3.promote records and
/// s3.rollback restores. The prefix is normalized as the steps use it.
fn rollback_target(uses: TargetUse, bucket: &Template, to: &Template) -> TargetDecl {
    TargetDecl {
        uses,
        system: "s3",
        parts: vec![bucket.clone(), to.clone()],
        resource: |p| format!("{}/{}", p[0], prefix_of(&p[1])),
    }
}

/// What the promote recorded before changing `target`. A record that does
/// not read back is a damaged journal: an error, never "nothing to restore"
/// (which would leave a half-promoted site live) or a fresh backup of a
/// half-done copy.
fn saved_backup(env: &dyn StepEnv, target: &RollbackTarget) -> Result<Option<Backup>, StepFailure> {
    env.saved_target(target)
        .map(|b| {
            serde_json::from_str::<Backup>(&b).map_err(|e| {
                StepFailure::from(AdapterError::Journal(format!(
                    "the journal's record of {target} before the promote is damaged ({e})"
                )))
            })
        })
        .transpose()
}

fn client(config: &aws_config::SdkConfig) -> Client {
    let mut b = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        // moto, MinIO and most proxies want bucket names in the path.
        b = b.force_path_style(true);
    }
    Client::from_conf(b.build())
}

/// Percent-encodes a key for `x-amz-copy-source` (the SDK sends it as given).
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every object under `prefix` (all pages), keyed relative to it.
async fn list(s3: &Client, bucket: &str, prefix: &str) -> Result<Listing, StepFailure> {
    let mut out = Listing::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e)))?;
        for o in page.contents() {
            if let Some(key) = o.key() {
                let rel = key.strip_prefix(prefix).unwrap_or(key).to_string();
                out.insert(rel, Object { etag: o.e_tag().unwrap_or_default().to_string(), size: o.size().unwrap_or_default() });
            }
        }
        match (page.is_truncated(), page.next_continuation_token()) {
            (Some(true), Some(t)) => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

async fn delete_all(s3: &Client, bucket: &str, keys: Vec<String>) -> Result<usize, StepFailure> {
    let n = keys.len();
    for chunk in keys.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StepFailure::refused(format!("{SYSTEM}: DeleteObjects: {e}")))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| StepFailure::refused(format!("{SYSTEM}: DeleteObjects: {e}")))?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| StepFailure::from(sdk_error(SYSTEM, &format!("DeleteObjects s3://{bucket}"), &e)))?;
        if let Some(err) = out.errors().first() {
            return Err(StepFailure::from(AdapterError::remote(
                SYSTEM,
                format!("DeleteObjects s3://{bucket}"),
                RemoteKind::Rejected,
                format!(
                    "{}: {} {}",
                    err.key().unwrap_or_default(),
                    err.code().unwrap_or_default(),
                    err.message().unwrap_or_default()
                ),
            )));
        }
    }
    Ok(n)
}

/// `multipart_threshold_mib` (5 to 5120): objects larger are copied in
/// parts of that size; by default only those over CopyObject's 5 GB limit.
fn threshold(v: &Settings<'_>, cx: &mut dyn ParseContext) -> i64 {
    let mib = v.count("multipart_threshold_mib", 5..=5120, MAX_SINGLE_COPY / (1024 * 1024), cx);
    mib * 1024 * 1024
}

fn threshold_schema() -> serde_json::Value {
    schema::count("objects larger than this many MiB are copied in parts (default: over 5 GB only)", 5, 5120, 5120)
}

fn prefix_of(text: &str) -> String {
    let t = text.trim_start_matches('/');
    if t.is_empty() || t.ends_with('/') { t.to_string() } else { format!("{t}/") }
}

#[derive(Debug)]
struct PromoteAction {
    aws: Arc<dyn Integration>,
    bucket: Template,
    from: Template,
    to: Template,
    last: Vec<Template>,
    delete_stale: bool,
    parallelism: usize,
    multipart_threshold: i64,
}

impl StepKind for PromoteKind {
    fn name(&self) -> &'static str {
        "s3.promote"
    }

    fn schema(&self) -> serde_json::Value {
        schema::object(
            "copy a release's assets from one prefix to the live one, keeping a backup for s3.rollback",
            &[
                ("bucket", schema::template("the bucket")),
                ("from", schema::template("the prefix holding the new release's assets")),
                ("to", schema::template("the live prefix")),
                ("last", schema::templates("keys copied after every other (index.html), so no page names assets not there yet")),
                ("delete_stale", schema::flag("whether live objects the release does not have are removed", true)),
                ("parallelism", schema::count("copies at once", 1, 64, DEFAULT_PARALLELISM as i64)),
                ("multipart_threshold_mib", threshold_schema()),
            ],
            &["bucket", "from", "to"],
        )
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let aws = aws::settings(cx, spec.key.span, "s3.promote");
        let keys = ["bucket", "from", "to", "last", "delete_stale", "parallelism", "multipart_threshold_mib"];
        let v = Settings::mapping(spec.value, "s3.promote", &keys, "e.g. `{ bucket: web, from: releases/2.0/, to: live/ }`", cx)?;
        let bucket = v.required("bucket", cx);
        let from = v.required("from", cx);
        let to = v.required("to", cx);
        let last = v.templates("last", cx);
        let delete_stale = v.flag("delete_stale", true, cx);
        let parallelism = v.count("parallelism", 1..=64, DEFAULT_PARALLELISM as i64, cx) as usize;
        let multipart_threshold = threshold(&v, cx);
        Some(Arc::new(PromoteAction {
            aws: aws?,
            bucket: bucket?,
            from: from?,
            to: to?,
            last,
            delete_stale,
            parallelism,
            multipart_threshold,
        }))
    }
}

impl PromoteAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env = run.env;
        let settings = aws::downcast(&self.aws);
        let s3 = client(settings.config(env).await?);
        let bucket = env.render(&self.bucket)?;
        let (from, to) = (prefix_of(&env.render(&self.from)?), prefix_of(&env.render(&self.to)?));
        if from == to || from.starts_with(&to) || to.starts_with(&from) {
            return Err(StepFailure::refused(format!("{SYSTEM}: `from` ({from}) and `to` ({to}) must not overlap")));
        }
        let last: Vec<String> = self.last.iter().map(|t| env.render(t)).collect::<Result<_, _>>()?;
        let server_side = Copier::new(&s3, &bucket, self.multipart_threshold, self.parallelism).await?;
        let release = list(&s3, &bucket, &from).await?;
        if release.is_empty() {
            return Err(StepFailure::refused(format!(
                "{SYSTEM}: s3://{bucket}/{from} is empty: nothing to promote (wrong version?)"
            )));
        }
        for l in &last {
            if !release.contains_key(l) {
                return Err(StepFailure::refused(format!(
                    "{SYSTEM}: `last` names {l}, which s3://{bucket}/{from} does not have"
                )));
            }
        }
        let target = rollback_target(TargetUse::Saves, &self.bucket, &self.to).resolve(|t| env.render(t))?;
        // A resumed promote must not back up its own half-done copy: keep the first backup.
        let backup = match saved_backup(env, &target)? {
            Some(b) => {
                run.log(&format!("live state was recorded before the interruption ({} objects)", b.objects.len()));
                b
            }
            None => {
                let live = list(&s3, &bucket, &to).await?;
                let backup_prefix = format!("relctl-backups/{}/{to}", env.info().run_id);
                let b = Backup { bucket: bucket.clone(), to: to.clone(), prefix: backup_prefix.clone(), objects: live };
                let pairs = b.objects.keys().map(|k| (format!("{to}{k}"), format!("{backup_prefix}{k}"))).collect();
                let n = server_side.copy_all(pairs).await?;
                env.save_target(&target, &serde_json::to_string(&b).expect("backup serializes"))?;
                run.log(&format!("backed up {n} live objects to s3://{bucket}/{backup_prefix}"));
                b
            }
        };
        let (entry, rest): (Vec<_>, Vec<_>) = release.keys().cloned().partition(|k| last.contains(k));
        let pairs = |keys: Vec<String>| keys.into_iter().map(|k| (format!("{from}{k}"), format!("{to}{k}"))).collect::<Vec<_>>();
        let copied = server_side.copy_all(pairs(rest)).await?;
        run.log(&format!("copied {copied} objects to s3://{bucket}/{to}"));
        let entries = server_side.copy_all(pairs(entry)).await?;
        if entries > 0 {
            run.log(&format!("then the entry files: {}", last.join(", ")));
        }
        let stale: Vec<String> = list(&s3, &bucket, &to).await?.into_keys().filter(|k| !release.contains_key(k)).collect();
        let deleted = if self.delete_stale && !stale.is_empty() {
            delete_all(&s3, &bucket, stale.iter().map(|k| format!("{to}{k}")).collect()).await?
        } else {
            0
        };
        let outputs = BTreeMap::from([
            ("copied".to_string(), (copied + entries).to_string()),
            ("deleted".to_string(), deleted.to_string()),
            ("backup_prefix".to_string(), backup.prefix.clone()),
        ]);
        Ok(Outcome { outputs, summary: Some(format!("{} objects live, {deleted} stale removed", copied + entries)) })
    }
}

impl Action for PromoteAction {
    fn describe(&self) -> String {
        format!("promote s3://{}/{} → {}", self.bucket.display(), self.from.display(), self.to.display())
    }

    fn rollback_target(&self) -> Option<TargetDecl> {
        Some(rollback_target(TargetUse::Saves, &self.bucket, &self.to))
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }
}

#[derive(Debug)]
struct RollbackAction {
    aws: Arc<dyn Integration>,
    bucket: Template,
    to: Template,
    multipart_threshold: i64,
}

impl StepKind for RollbackKind {
    fn name(&self) -> &'static str {
        "s3.rollback"
    }

    fn schema(&self) -> serde_json::Value {
        schema::object(
            "restore the live prefix from the backup s3.promote made in this run",
            &[
                ("bucket", schema::template("the bucket")),
                ("to", schema::template("the live prefix")),
                ("multipart_threshold_mib", threshold_schema()),
            ],
            &["bucket", "to"],
        )
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let aws = aws::settings(cx, spec.key.span, "s3.rollback");
        let keys = ["bucket", "to", "multipart_threshold_mib"];
        let v = Settings::mapping(spec.value, "s3.rollback", &keys, "e.g. `{ bucket: web, to: live/ }`", cx)?;
        let bucket = v.required("bucket", cx);
        let to = v.required("to", cx);
        let multipart_threshold = threshold(&v, cx);
        Some(Arc::new(RollbackAction { aws: aws?, bucket: bucket?, to: to?, multipart_threshold }))
    }
}

impl RollbackAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env = run.env;
        let bucket = env.render(&self.bucket)?;
        let to = prefix_of(&env.render(&self.to)?);
        let target = rollback_target(TargetUse::Restores, &self.bucket, &self.to).resolve(|t| env.render(t))?;
        let Some(backup) = saved_backup(env, &target)? else {
            return Ok(Outcome {
                summary: Some(format!("nothing to restore: no promote changed s3://{bucket}/{to} in this run")),
                ..Outcome::default()
            });
        };
        let settings = aws::downcast(&self.aws);
        let s3 = client(settings.config(env).await?);
        let now = list(&s3, &bucket, &to).await?;
        let restore: Vec<(String, String)> = backup
            .objects
            .iter()
            .filter(|(k, o)| now.get(*k).is_none_or(|n| n.etag != o.etag))
            .map(|(k, _)| (format!("{}{k}", backup.prefix), format!("{to}{k}")))
            .collect();
        let copier = Copier::new(&s3, &bucket, self.multipart_threshold, DEFAULT_PARALLELISM).await?;
        let restored = copier.copy_all(restore).await?;
        let added: Vec<String> = now.keys().filter(|k| !backup.objects.contains_key(*k)).map(|k| format!("{to}{k}")).collect();
        let removed = delete_all(&s3, &bucket, added).await?;
        let after = list(&s3, &bucket, &to).await?;
        let differs = |k: &String, o: &Object| after.get(k).is_none_or(|a| a.size != o.size);
        if after.len() != backup.objects.len() || backup.objects.iter().any(|(k, o)| differs(k, o)) {
            let missing = backup.objects.iter().filter(|(k, o)| differs(k, o)).count();
            let extra = after.keys().filter(|k| !backup.objects.contains_key(*k)).count();
            return Err(StepFailure::check(format!(
                "{SYSTEM}: s3://{bucket}/{to} does not match what it held before the promote ({missing} objects differ, {extra} extra)"
            )));
        }
        let outputs =
            BTreeMap::from([("restored".to_string(), restored.to_string()), ("removed".to_string(), removed.to_string())]);
        Ok(Outcome {
            outputs,
            summary: Some(format!(
                "s3://{bucket}/{to} is as before the promote: {} objects ({restored} restored, {removed} removed)",
                after.len()
            )),
        })
    }
}

impl Action for RollbackAction {
    fn describe(&self) -> String {
        format!("restore s3://{}/{} to its state before the promote", self.bucket.display(), self.to.display())
    }

    fn rollback_target(&self) -> Option<TargetDecl> {
        Some(rollback_target(TargetUse::Restores, &self.bucket, &self.to))
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }
}

#[derive(Debug)]
struct CheckAction {
    aws: Arc<dyn Integration>,
    bucket: Template,
    prefix: Template,
    expect: Vec<Template>,
    min_objects: Option<usize>,
}

impl StepKind for CheckKind {
    fn name(&self) -> &'static str {
        "s3.check"
    }

    fn schema(&self) -> serde_json::Value {
        schema::object(
            "check that objects are where they should be",
            &[
                ("bucket", schema::template("the bucket")),
                ("prefix", schema::template("the prefix to look under (default: the whole bucket)")),
                ("expect", schema::templates("keys, relative to the prefix, that must exist")),
                (
                    "min_objects",
                    serde_json::json!({ "type": "integer", "minimum": 0, "description": "the fewest objects under the prefix" }),
                ),
            ],
            &["bucket"],
        )
    }

    fn parse(&self, spec: &StepSpec<'_>, cx: &mut dyn ParseContext) -> Option<Arc<dyn Action>> {
        let aws = aws::settings(cx, spec.key.span, "s3.check");
        let keys = ["bucket", "prefix", "expect", "min_objects"];
        let v =
            Settings::mapping(spec.value, "s3.check", &keys, "e.g. `{ bucket: web, prefix: live/, expect: [index.html] }`", cx)?;
        let bucket = v.required("bucket", cx);
        let prefix = if v.get("prefix").is_some() { v.template("prefix", cx) } else { Some(Template::literal("")) };
        let expect = v.templates("expect", cx);
        let min_objects = v.get("min_objects").map(|_| v.count("min_objects", 0..=i64::MAX, 0, cx) as usize);
        Some(Arc::new(CheckAction { aws: aws?, bucket: bucket?, prefix: prefix?, expect, min_objects }))
    }
}

impl CheckAction {
    async fn run(&self, run: &StepRun<'_>) -> StepResult {
        let env: &dyn StepEnv = run.env;
        let settings = aws::downcast(&self.aws);
        let s3 = client(settings.config(env).await?);
        let bucket = env.render(&self.bucket)?;
        let raw = env.render(&self.prefix)?;
        let prefix = if raw.is_empty() { raw } else { prefix_of(&raw) };
        let objects = list(&s3, &bucket, &prefix).await?;
        let mut missing = Vec::new();
        for t in &self.expect {
            let want = env.render(t)?;
            let found =
                if want.ends_with('/') { objects.keys().any(|k| k.starts_with(&want)) } else { objects.contains_key(&want) };
            if !found {
                missing.push(want);
            }
        }
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("missing under s3://{bucket}/{prefix}: {}", missing.join(", ")));
        }
        if let Some(min) = self.min_objects.filter(|m| objects.len() < *m) {
            problems.push(format!("{} objects under s3://{bucket}/{prefix}, expected at least {min}", objects.len()));
        }
        if !problems.is_empty() {
            return Err(StepFailure::check(format!("{SYSTEM}: {}", problems.join("; "))));
        }
        let outputs = BTreeMap::from([("objects".to_string(), objects.len().to_string())]);
        Ok(Outcome { outputs, summary: Some(format!("{} objects under s3://{bucket}/{prefix}", objects.len())) })
    }
}

impl Action for CheckAction {
    fn describe(&self) -> String {
        let expect: Vec<String> = self.expect.iter().map(Template::display).collect();
        format!("check s3://{}/{} has {}", self.bucket.display(), self.prefix.display(), expect.join(", "))
    }

    fn dry_run_safe(&self) -> bool {
        true
    }

    fn execute<'a>(&'a self, run: &'a StepRun<'a>) -> BoxFuture<'a, StepResult> {
        Box::pin(self.run(run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_percent_encoded_except_slashes() {
        assert_eq!(encode_key("live/a b+c%.js"), "live/a%20b%2Bc%25.js");
        assert_eq!(encode_key("é"), "%C3%A9");
    }

    #[test]
    fn prefixes_end_with_one_slash() {
        assert_eq!(prefix_of("live"), "live/");
        assert_eq!(prefix_of("/releases/1.2/"), "releases/1.2/");
    }
}
