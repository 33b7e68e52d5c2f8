//! runbooks/company-release.yaml (seed 001) and runbooks/deployment-
//! template.yaml (seed 002) end to end against local stand-ins: an
//! Artifactory answering its storage API and serving artifacts (files
//! under python3's http.server, as Artifactory lays them out), a host
//! directory whose `current` symlink the app is served from, a Git
//! repository with a bare `origin`, recording psql / pg_dump / pg_restore,
//! and the fake Slack where the product owner, the QA lead and a release
//! manager answer.

use crate::support::slack::{Member, Slack, TOKEN};
use crate::support::*;

fn sh(dir: &std::path::Path, script: &str) {
    let ok = std::process::Command::new("bash").arg("-c").arg(script).current_dir(dir).status().unwrap().success();
    assert!(ok, "{script}");
}

/// The host (releases 1.2.2 live), Artifactory with 1.2.3 (its health as
/// `health`), a Git repository with a bare origin, and the tools on PATH.
fn stand(sb: &Sandbox, health: &str) -> (Served, Served) {
    let p = sb.path();
    sb.write("host/releases/1.2.2/health", r#"{"status": "ok", "version": "1.2.2"}"#);
    sb.write("host/releases/1.2.2/api/status", "{}");
    sb.write("etc-app/app.conf", "pool=10\n");
    sb.write("build/health", health);
    sb.write("build/api/status", "{}");
    // Artifactory's layout: REPO/PATH for the file, api/storage/REPO/PATH for its info.
    let stored = "artifactory/libs-release-local/payments/1.2.3";
    let info = "artifactory/api/storage/libs-release-local/payments/1.2.3";
    std::fs::create_dir_all(p.join(stored)).unwrap();
    std::fs::create_dir_all(p.join(info)).unwrap();
    sh(
        p,
        &format!(
            "ln -s releases/1.2.2 host/current && tar -czf {stored}/payments-1.2.3.tar.gz -C build . \
             && sum=$(sha256sum {stored}/payments-1.2.3.tar.gz | cut -d' ' -f1) \
             && printf '{{\"repo\": \"libs-release-local\", \"path\": \"/payments/1.2.3/payments-1.2.3.tar.gz\", \"checksums\": {{\"sha256\": \"%s\"}}}}' $sum > {info}/payments-1.2.3.tar.gz \
             && git init -q -b main && git -c user.email=ci@example.com -c user.name=ci commit -q --allow-empty -m release \
             && git init -q --bare origin.git && git remote add origin origin.git"
        ),
    );
    pg_tools(sb);
    sh(
        p,
        "mkdir -p scripts && cp -r $SCRIPTS scripts/"
            .replace("$SCRIPTS", concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/scripts/company"))
            .as_str(),
    );
    (serve_dir(&p.join("artifactory")), serve_dir(&p.join("host")))
}

/// The vars both runbooks take, for this stand.
fn vars(sb: &Sandbox, artifactory: &Served, host: &Served) -> Vec<String> {
    vec![
        "app=payments".to_string(),
        "version=1.2.3".into(),
        format!("app_url={}/current", host.url),
        format!("artifactory_url={}", artifactory.url),
        format!("deploy_dir={}", sb.path().join("host").display()),
    ]
}

fn env(sb: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        ("PATH", format!("{}:{}", sb.path().join("bin").display(), std::env::var("PATH").unwrap())),
        ("PG_LOG", sb.path().join("pg.log").display().to_string()),
        ("DATABASE_URL", "postgres://release@db.internal/payments".into()),
        ("RESTART_COMMAND", "true".into()),
        ("SLACK_BOT_TOKEN", TOKEN.into()),
        ("GIT_AUTHOR_NAME", "ci".into()),
        ("GIT_AUTHOR_EMAIL", "ci@example.com".into()),
        ("GIT_COMMITTER_NAME", "ci".into()),
        ("GIT_COMMITTER_EMAIL", "ci@example.com".into()),
    ]
}

fn run(sb: &Sandbox, flags: &[&str], vars: &[String], env: &[(&'static str, String)]) -> Run {
    let mut args: Vec<String> =
        ["run", "release.yaml", "--non-interactive"].iter().chain(flags).map(|s| (*s).to_string()).collect();
    for v in vars {
        args.extend(["--var".to_string(), v.clone()]);
    }
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sb.relctl_bounded(&words, &pairs)
}

fn company(sb: &Sandbox, health: &str, db_restore: &str, go: &str) -> Run {
    let (artifactory, host) = stand(sb, health);
    let slack = Slack::start();
    for id in ["U0FAY00003", "U0GUS00004", "U0DANA0001"] {
        slack.add_member(id, Member::default());
    }
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/company-release.yaml"))
        .unwrap()
        .replace("    notify: true", &format!("    notify: true\n    api_url: {}\n    poll: 200ms", slack.api_url()))
        // The test machine's load is not a production host's.
        .replace("check-host.sh ${{ vars.deploy_dir }} 80 70 512", "check-host.sh ${{ vars.deploy_dir }} 10000 100 1")
        .replace("delay: 10s", "delay: 1s");
    sb.write("release.yaml", &text);
    let _answering = slack.answering(&[
        ("Product Owner", "U0FAY00003", ":white_check_mark:"),
        ("QA Lead", "U0GUS00004", "yes: coverage 93%"),
        ("Go / no-go", "U0DANA0001", go),
    ]);
    let mut vars = vars(sb, &artifactory, &host);
    vars.extend([format!("config_dir={}", sb.path().join("etc-app").display()), format!("db_restore={db_restore}")]);
    let mut env = env(sb);
    env.push(("RELCTL_ACTOR", "kim".into()));
    run(sb, &[], &vars, &env)
}

#[test]
fn the_company_release_is_approved_backed_up_tagged_and_deployed() {
    let sb = Sandbox::new();
    let r = company(&sb, r#"{"status": "ok", "version": "1.2.3"}"#, "no", "go");
    r.expect_code(0);
    assert_eq!(std::fs::read_link(sb.path().join("host/current")).unwrap(), std::path::Path::new("releases/1.2.3"));
    let tags =
        std::process::Command::new("git").args(["--git-dir", "origin.git", "tag"]).current_dir(sb.path()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&tags.stdout), "v1.2.3\n", "the release is tagged in the remote");
    let pg = sb.read("pg.log");
    assert!(
        pg.contains("psql postgres://release@db.internal/payments -v ON_ERROR_STOP=1 -c select 1")
            && pg.contains("pg_dump --format=custom"),
        "{pg}"
    );
    assert!(sb.path().join(format!("backups/payments-config-{}.tar.gz", sb.latest_run_id())).exists());
    let decisions: Vec<(String, String)> = events(&sb.journal(), "decision")
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap_or("").to_string(),
                format!("{} {}", d["actor"].as_str().unwrap(), d["identity"].as_str().unwrap_or("")),
            )
        })
        .collect();
    for (id, who) in [("po-approval", "fay slack"), ("qa-signoff", "gus slack"), ("go", "dana slack")] {
        assert!(decisions.contains(&(id.into(), who.into())), "{id} by {who}: {decisions:?}");
    }
}

#[test]
fn a_company_release_that_fails_its_smoke_test_goes_back_to_the_previous_artifact_and_backup() {
    let sb = Sandbox::new();
    // The smoke test failed: the release manager says no-go in the thread.
    let r = company(&sb, r#"{"status": "degraded", "version": "1.2.3"}"#, "yes", "no-go: smoke test failed");
    r.expect_code(3);
    assert_eq!(std::fs::read_link(sb.path().join("host/current")).unwrap(), std::path::Path::new("releases/1.2.2"));
    let pg = sb.read("pg.log");
    assert!(pg.contains(&format!("pg_restore --clean --if-exists --single-transaction --dbname postgres://release@db.internal/payments ./backups/payments-db-{}.dump", sb.latest_run_id())), "{pg}");
    assert!(r.stdout.contains("ROLLED BACK"), "{}", r.stdout);
    let go = events(&sb.journal(), "decision").into_iter().find(|d| d["id"] == "go").unwrap().clone();
    assert_eq!((go["approved"].as_bool(), go["actor"].as_str()), (Some(false), Some("dana")));
}

fn template(sb: &Sandbox, health: &str) -> Run {
    let (artifactory, host) = stand(sb, health);
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/deployment-template.yaml"))
        .unwrap()
        .replace("wait: 1m", "wait: 1s");
    sb.write("release.yaml", &text);
    let vars = vars(sb, &artifactory, &host);
    let mut env = env(sb);
    env.push(("RELCTL_ACTOR", "owner".into()));
    run(sb, &["--approve", "all"], &vars, &env)
}

#[test]
fn the_deployment_template_deploys_and_records_the_sign_off() {
    let sb = Sandbox::new();
    let r = template(&sb, r#"{"status": "ok"}"#);
    r.expect_code(0);
    assert_eq!(std::fs::read_link(sb.path().join("host/current")).unwrap(), std::path::Path::new("releases/1.2.3"));
    let signoff = events(&sb.journal(), "decision").into_iter().find(|d| d["id"] == "sign-off").unwrap().clone();
    assert_eq!((signoff["approved"].as_bool(), signoff["actor"].as_str()), (Some(true), Some("owner")));
}

#[test]
fn the_deployment_template_rolls_back_past_its_criteria() {
    let sb = Sandbox::new();
    let r = template(&sb, r#"{"status": "failing"}"#);
    r.expect_code(3);
    assert_eq!(std::fs::read_link(sb.path().join("host/current")).unwrap(), std::path::Path::new("releases/1.2.2"));
}
