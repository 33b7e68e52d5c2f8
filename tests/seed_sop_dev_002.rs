//! runbooks/sop-dev-002-release.yaml (seed 004, SOP-DEV-002) end to end
//! against local stand-ins: moto's ELBv2 and CloudWatch, the fake ECS for
//! the green service, a real Prometheus scraping an exporter, the fake
//! Slack where the change board, security, business and the release
//! manager answer as themselves, and recording pg_dump / psql / pg_restore
//! on PATH. Durations are shortened; nothing else is changed.

use crate::alb::{Alb, actions, alb, canary_weight};
use crate::support::ecs::{FakeEcs, Rollout};
use crate::support::http_server::{Reply, Server};
use crate::support::moto;
use crate::support::prometheus::{Exporter, Prometheus};
use crate::support::slack::{Member, Slack, TOKEN};
use crate::support::*;

/// Who answers which question in Slack, by a word of its text.
const ANSWERS: [(&str, &str); 4] = [
    ("Change approval board", "U0CORA0001"),
    ("Security:", "U0SANA0003"),
    ("Business:", "U0BEA00004"),
    ("Go / no-go", "U0OTTO0005"),
];

struct Stand {
    alb: Alb,
    ecs: FakeEcs,
    _exporter: Exporter,
    prometheus: Prometheus,
    slack: Slack,
    app: Server,
}

fn stand() -> Stand {
    let exporter = Exporter::start(100, 0);
    let prometheus = Prometheus::start(&exporter);
    let slack = Slack::start();
    for (_, id) in ANSWERS {
        slack.add_member(id, Member::default());
    }
    let app = Server::start();
    app.route("/health", vec![Reply::json(200, r#"{"status":"ok"}"#)]);
    Stand { alb: alb(), ecs: FakeEcs::start(&[Rollout::Completes(1)]), _exporter: exporter, prometheus, slack, app }
}

/// The shipped runbook with test durations and the fake Slack's address.
fn runbook() -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/sop-dev-002-release.yaml")).unwrap();
    // The fake Slack's channel is #releases.
    text.replace("#deployments", "#releases")
        .replace("bake: 10m", "bake: 2s")
        .replace("wait: 10m", "wait: 2s")
        .replace("every: 30s", "every: 300ms")
}

fn release(sb: &Sandbox, s: &Stand, strategy: &str, db_restore: &str, go: &str) -> Run {
    let text =
        runbook().replace("    notify: true", &format!("    notify: true\n    api_url: {}\n    poll: 200ms", s.slack.api_url()));
    sb.write("release.yaml", &text);
    sb.write("migrations/1.2.3.sql", "CREATE TABLE user_preferences (id SERIAL PRIMARY KEY);\n");
    pg_tools(sb);
    std::fs::create_dir_all(sb.path().join("scripts")).unwrap();
    std::process::Command::new("cp")
        .args(["-r", concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/scripts/sop-dev-002")])
        .arg(sb.path().join("scripts"))
        .status()
        .unwrap();
    let dim = format!("targetgroup/{}", s.alb.green.split(":targetgroup/").nth(1).unwrap());
    let vars = [
        ("version", "1.2.3".to_string()),
        ("strategy", strategy.into()),
        ("db_restore", db_restore.into()),
        ("cluster", "prod".into()),
        ("green_service", "checkout".into()),
        ("image_repo", "registry/checkout".into()),
        ("listener_arn", s.alb.listener.clone()),
        ("blue_tg", s.alb.blue.clone()),
        ("green_tg", s.alb.green.clone()),
        ("green_tg_dim", dim),
        ("app_url", s.app.url("")),
        ("prometheus_url", s.prometheus.url.clone()),
    ];
    let mut args: Vec<String> =
        ["run", "release.yaml", "--non-interactive", "--approve", "code-ready", "--as", "dev"].map(String::from).to_vec();
    for (k, v) in vars {
        args.extend(["--var".to_string(), format!("{k}={v}")]);
    }
    let path = format!("{}:{}", sb.path().join("bin").display(), std::env::var("PATH").unwrap());
    let (log, ecs_url, moto_url) = (sb.path().join("pg.log"), s.ecs.url(), moto::url());
    let mut env: Vec<(&str, String)> = moto::env();
    env.extend([
        ("PATH", path),
        ("PG_LOG", log.display().to_string()),
        ("DATABASE_URL", "postgres://release@db.internal/app".into()),
        ("SLACK_BOT_TOKEN", TOKEN.into()),
        ("AWS_ENDPOINT_URL", moto_url),
        ("AWS_ENDPOINT_URL_ECS", ecs_url),
    ]);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rules: Vec<(&str, &str, &str)> = ANSWERS
        .iter()
        .map(|(w, who)| (*w, *who, if *w == "Go / no-go" && go != "go" { go } else { ":white_check_mark:" }))
        .collect();
    let _answering = s.slack.answering(&rules);
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    sb.relctl_bounded(&words, &pairs)
}

fn decisions(sb: &Sandbox) -> Vec<(String, String, String)> {
    events(&sb.journal(), "decision")
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap_or("").to_string(),
                d["actor"].as_str().unwrap_or("").to_string(),
                d["identity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_canary_release_approved_in_slack_by_each_role_reaches_all_traffic() {
    let (s, sb) = (stand(), Sandbox::new());
    let r = release(&sb, &s, "canary", "no", "go");
    r.expect_code(0);
    assert_eq!(canary_weight(&s.alb), Some(100));
    let d = decisions(&sb);
    for (id, who) in [("cab", "cora"), ("security", "sana"), ("business", "bea"), ("go", "otto")] {
        assert!(d.contains(&(id.into(), who.into(), "slack".into())), "{id} by {who} in Slack: {d:?}");
    }
    let pg = sb.read("pg.log");
    let (dump, migrate) = (pg.find("pg_dump").unwrap(), pg.find("psql").unwrap());
    assert!(dump < migrate, "the database is backed up before the migration:\n{pg}");
    assert!(!pg.contains("pg_restore"));
    assert!(s.ecs.task_definition(&s.ecs.primary().0)["containerDefinitions"][0]["image"] == "registry/checkout:1.2.3");
    for step in ["canary 5%: bake", "canary 50%: shift traffic", "canary 100%: shift traffic"] {
        assert!(r.stdout.contains(step), "{step}:\n{}", r.stdout);
    }
}

#[test]
fn a_blue_green_release_the_release_manager_stops_goes_back_to_blue_and_the_backup() {
    let (s, sb) = (stand(), Sandbox::new());
    let before = actions(&s.alb);
    let r = release(&sb, &s, "blue-green", "yes", "no-go: checkout errors in the support queue");
    r.expect_code(3);
    assert_eq!(actions(&s.alb), before, "traffic is back on blue exactly as before");
    let pg = sb.read("pg.log");
    assert!(
        pg.contains(
            "pg_restore --clean --if-exists --single-transaction --dbname postgres://release@db.internal/app ./backups/app-"
        ),
        "{pg}"
    );
    let go = events(&sb.journal(), "decision").into_iter().find(|d| d["id"] == "go").unwrap().clone();
    assert_eq!((go["approved"].as_bool(), go["actor"].as_str()), (Some(false), Some("otto")));
    assert_eq!(go["comment"], "checkout errors in the support queue");
}
