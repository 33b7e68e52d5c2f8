//! `${{ secrets.X }}` values reach the commands and requests that need them
//! and nowhere else: not stdout, stderr, the journal or output.log, whichever
//! way a step lets them slip out, and in every output format.

use crate::support::http_server::{Reply, Server};
use crate::support::*;

const SECRET: &str = "s3cr3t-value-123";

/// A runbook that uses the secret every way a step can, and leaks it every
/// way a careless script can: echoed from a template, from the environment,
/// under another name, as a step output, in a failure message, in a header
/// and in a URL that ends up in an error message.
fn leaky_runbook(server: &Server) -> String {
    format!(
        "version: 1
name: secrets
execute:
  - run: echo token is ${{{{ secrets.DEPLOY_TOKEN }}}}
  - name: Script reading the environment
    run: echo env token is $DEPLOY_TOKEN
  - name: Renamed
    env:
      TOKEN: ${{{{ secrets.DEPLOY_TOKEN }}}}
    run: echo renamed token is $TOKEN; echo $TOKEN > received.txt
  - id: leak
    run: echo token=$DEPLOY_TOKEN >> \"$RELCTL_OUTPUT\"
  - run: echo output is ${{{{ steps.leak.outputs.token }}}}
  - id: call
    http:
      url: {}
      headers:
        Authorization: Bearer ${{{{ secrets.DEPLOY_TOKEN }}}}
      expect: {{ status: 200 }}
finalize:
  - name: Failing with the token in its message
    run: echo \"rejected token $DEPLOY_TOKEN\" >&2; exit 1
  - http: {}?token=${{{{ secrets.DEPLOY_TOKEN }}}}
",
        server.url("/deploy"),
        server.url("/broken"),
    )
}

fn server() -> Server {
    let server = Server::start();
    server.route("/deploy", vec![Reply::text(200, "ok")]);
    server.route("/broken", vec![Reply::text(500, "oops")]);
    server
}

/// Asserts the secret was used, then that it shows up nowhere relctl wrote.
fn assert_redacted(sb: &Sandbox, server: &Server, run: &Run) {
    run.expect_code(0);
    // The secret did its job: the command and the server got the real value.
    assert_eq!(sb.read("received.txt").trim(), SECRET);
    let requests = server.requests.lock().unwrap();
    let deploy = requests.iter().find(|r| r.path == "/deploy").expect("deploy request");
    assert_eq!(deploy.headers["authorization"], format!("Bearer {SECRET}"));
    assert!(requests.iter().any(|r| r.path == format!("/broken?token={SECRET}")));
    drop(requests);

    let recorded = sb.journal_text();
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr), ("journal and output.log", &recorded)] {
        assert!(!text.contains(SECRET), "the secret leaked into {what}:\n{text}");
    }
    assert!(run.stdout.contains("***"), "{}", run.stdout);
    assert!(recorded.contains("token is ***"), "{recorded}");
    assert!(recorded.contains("env token is ***"), "{recorded}");
    assert!(recorded.contains("renamed token is ***"), "{recorded}");
    assert!(recorded.contains("output is ***"), "{recorded}");
    assert!(recorded.contains("rejected token ***"), "{recorded}");
    assert!(recorded.contains("/broken?token=***"), "{recorded}");
    let j = sb.journal();
    let leak = events(&j, "step_finished").into_iter().find(|e| e["id"] == "leak").unwrap();
    assert_eq!(leak["outputs"]["token"], "***");
}

#[test]
fn secret_never_appears_in_plain_output_journal_or_log() {
    let server = server();
    let sb = Sandbox::new();
    sb.write("release.yaml", &leaky_runbook(&server));
    let run = sb.relctl_env(&["run", "release.yaml", "--non-interactive", "-v"], &[("DEPLOY_TOKEN", SECRET)]);
    assert_redacted(&sb, &server, &run);
}

#[test]
fn secret_never_appears_in_json_output() {
    let server = server();
    let sb = Sandbox::new();
    sb.write("release.yaml", &leaky_runbook(&server));
    let run = sb.relctl_env(&["run", "release.yaml", "--non-interactive", "--output", "json"], &[("DEPLOY_TOKEN", SECRET)]);
    assert_redacted(&sb, &server, &run);
    let logs: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "step_log")
        .collect();
    assert!(logs.iter().any(|e| e["line"] == "token is ***"), "{logs:?}");
}

#[test]
fn missing_secret_stops_the_run_before_anything_runs() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1
name: needs-secret
checklist:
  - run: touch started
execute:
  - run: ./deploy.sh
    env:
      TOKEN: ${{ secrets.DEPLOY_TOKEN }}
",
    );
    let mut cmd = sb.cmd(&["run", "release.yaml", "--non-interactive", "--approve", "all"]);
    cmd.env_remove("DEPLOY_TOKEN");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("secret `DEPLOY_TOKEN` is not set: export the environment variable DEPLOY_TOKEN"), "{stderr}");
    assert!(!sb.path().join("started").exists(), "no step may run");
    assert!(!sb.path().join(".relctl/runs").exists(), "no run is recorded");
}

#[test]
fn empty_secret_counts_as_missing() {
    let sb = Sandbox::new();
    sb.write("release.yaml", "version: 1\nname: empty-secret\nexecute:\n  - run: echo ${{ secrets.DEPLOY_TOKEN }}\n");
    let run = sb.relctl_env(&["run", "release.yaml", "--non-interactive"], &[("DEPLOY_TOKEN", "")]);
    run.expect_code(2);
    assert!(run.stderr.contains("secret `DEPLOY_TOKEN` is not set"), "{}", run.stderr);
}

#[test]
fn each_line_of_a_multi_line_secret_is_masked() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: pem\nexecute:\n  - run: printf '%s\\n' \"$KEY_MATERIAL\"\n    env:\n      KEY_MATERIAL: ${{ secrets.SIGNING_KEY }}\n",
    );
    let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----";
    let r = sb.relctl_env(&["run", "release.yaml", "--non-interactive"], &[("SIGNING_KEY", key)]);
    r.expect_code(0);
    let everything = format!("{}{}{}", r.stdout, r.stderr, sb.journal_text());
    for line in key.lines() {
        assert!(!everything.contains(line), "a line of the key leaked: {line}\n{everything}");
    }
}

#[test]
fn a_question_never_shows_a_secret() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: q\nchecklist:\n  - id: rotated\n    confirm: \"Token ${{ secrets.TOK }} rotated?\"\n",
    );
    let r = sb.relctl_env(&["run", "release.yaml", "--non-interactive", "--approve", "rotated"], &[("TOK", "hunter2secret")]);
    r.expect_code(0);
    let everything = format!("{}{}{}", r.stdout, r.stderr, sb.journal_text());
    assert!(!everything.contains("hunter2secret"), "{everything}");
    assert!(everything.contains("Token *** rotated?"), "{everything}");
}

const SECRET_VAR: &str = "version: 1
name: secret-var
vars:
  token: { required: true }
execute:
  - run: echo uses ${{ secrets.API_TOKEN }} > /dev/null
  - id: wait
    idempotent: true
    run: test -f go-on || { echo $$ > wait.pid; sleep 30; }
  - env: { T: \"${{ vars.token }}\" }
    run: echo \"$T\" > seen.txt
";

#[test]
fn a_secret_passed_as_a_var_stays_out_of_the_journal_and_status_yet_resume_restores_it() {
    // Before: the value was masked in output but kept raw in the journal's
    // `vars` and shown by `relctl status -v`.
    let sb = Sandbox::new();
    sb.write("release.yaml", SECRET_VAR);
    let var = format!("token={SECRET}");
    let mut child =
        sb.cmd(&["run", "release.yaml", "--non-interactive", "--var", &var]).env("API_TOKEN", SECRET).spawn().unwrap();
    wait_until("the waiting step", || sb.read("wait.pid").trim().parse::<i32>().is_ok());
    child.kill().unwrap();
    child.wait().unwrap();
    let status = sb.relctl(&["status", "-v"]);
    assert!(!sb.journal_text().contains(SECRET), "the journal holds the secret");
    assert!(!status.all().contains(SECRET), "status shows the secret:\n{}", status.all());
    assert!(status.stdout.contains("token=***"), "{}", status.stdout);

    // Resume reads the secret from the environment again, as the run did.
    sb.write("go-on", "");
    let r = sb.relctl(&["resume", "--non-interactive"]);
    r.expect_code(2);
    assert!(r.stderr.contains("var `token` is the secret API_TOKEN"), "{}", r.stderr);
    sb.relctl_env(&["resume", "--non-interactive"], &[("API_TOKEN", SECRET)]).expect_code(0);
    assert_eq!(sb.read("seen.txt"), format!("{SECRET}\n"));
    assert!(!sb.journal_text().contains(SECRET));
}

#[test]
fn a_secret_printed_encoded_is_masked_too() {
    let sb = Sandbox::new();
    sb.write(
        "release.yaml",
        "version: 1\nname: encoded\nexecute:\n  - env: { T: \"${{ secrets.API_TOKEN }}\" }\n    run: |\n      printf %s \"$T\" | base64\n      printf %s \"$T\" | od -An -tx1 | tr -d ' \\n'; echo\n",
    );
    let run = sb.relctl_env(&["run", "release.yaml", "--non-interactive"], &[("API_TOKEN", SECRET)]);
    run.expect_code(0);
    let everything = format!("{}{}", run.all(), sb.journal_text());
    assert!(!everything.contains("czNjcjN0LXZhbHVlLTEyMw"), "base64 leaked:\n{everything}");
    assert!(!everything.contains("7333637233742d76616c75652d313233"), "hex leaked:\n{everything}");
    assert!(everything.matches("***").count() >= 2, "{everything}");
}
