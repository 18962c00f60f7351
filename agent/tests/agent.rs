//! `uptree agent` on loop-mounted sysroots against servers on 127.0.0.1:
//! it takes an update from nginx over HTTPS (and pulls nothing when
//! nothing changed), backs off while the server fails and recovers without
//! a restart, and after being killed mid-pull fetches only what is
//! missing. `admin status --json` is validated against the shipped JSON
//! Schema with Python's `jsonschema` (Debian: python3-jsonschema).
//! Every agent here runs with `--sysroot=` a test sysroot: it never reboots.

mod common;

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::device::*;
use common::http::{Fault, TestServer};
use common::nginx::{make_pki, Nginx};
use common::*;
use serde_json::Value;

fn access_log_lines(nginx: &Nginx) -> Vec<String> {
    fs::read_to_string(nginx.dir.join("access.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn agent_once_takes_an_update_from_nginx_and_pulls_nothing_when_nothing_changed() {
    let t = scratch();
    let d = Device::new(t.path());
    d.config("[agent]\nreboot=immediate\n");
    let v1 = d.commit("v1", "2024-01-01 00:00:00 +0000", false);
    let pki = make_pki(&t.path().join("pki"));
    let nginx = Nginx::start(&d.server, &pki, &t.path().join("nginx"), false);
    d.first_deploy(&nginx.https_url(), &[format!("--set=tls-ca-path={}", pki.ca.display())]);
    let st = d.status();
    assert_eq!(st["agent"], Value::Null, "{st:#}");
    validate(&st, t.path()).expect("status before any agent round");

    // While another process holds the sysroot lock the round is skipped,
    // without a request to the server.
    let before = access_log_lines(&nginx).len();
    let lock = uptree_deploy::sysroot::Sysroot::lock(&d.root).expect("lock");
    let out = d.agent_cmd(&["--once"]).output().expect("agent");
    drop(lock);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("uptree-agent round result=skipped") && err.contains("another process holds the sysroot lock"), "{err}");
    assert_eq!(access_log_lines(&nginx).len(), before, "a skipped round asks the server nothing");
    assert_eq!(d.status()["agent"]["result"], "skipped");

    // Nothing new: the round reads the summary and nothing else (its
    // summary.sig first, as ostree: with one, an unchanged summary comes
    // from the cache, see pull.rs remote_summary_uses_ostrees_summary_cache).
    let before = access_log_lines(&nginx).len();
    let out = d.agent_cmd(&["--once"]).output().expect("agent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("uptree-agent round result=up-to-date"), "{err}");
    let requests: Vec<String> = access_log_lines(&nginx).split_off(before);
    assert!(requests.len() == 2 && requests[0].contains("GET /summary.sig ") && requests[1].contains("GET /summary "), "only the summary: {requests:#?}");
    let st = d.status();
    assert_eq!(st["agent"]["result"], "up-to-date", "{st:#}");
    assert_eq!(st["agent"]["available"], Value::from(v1.clone()), "{st:#}");
    validate(&st, t.path()).expect("status after an up-to-date round");

    // v2 appears on the server: the next round deploys it as pending, and
    // with reboot=immediate still does not reboot (not the booted sysroot).
    let v2 = d.commit("v2", "2024-02-01 00:00:00 +0000", false);
    let out = d.agent_cmd(&["--once", "--progress=json"]).output().expect("agent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("uptree-agent round result=deployed refspec=origin:{REF} available={v2} deployed={v2}.0")), "{err}");
    assert!(err.lines().any(|l| l.starts_with("{\"event\":\"done\"")), "JSON progress lines: {err}");
    assert!(!err.contains("rebooting"), "{err}");
    let st = d.status();
    assert_eq!(st["deployments"][0]["checksum"], Value::from(v2.clone()), "{st:#}");
    assert_eq!(st["deployments"][1]["checksum"], Value::from(v1), "{st:#}");
    assert_eq!(st["agent"]["result"], "deployed", "{st:#}");
    assert_eq!(st["agent"]["pending"]["checksum"], Value::from(v2), "{st:#}");
    assert_eq!(st["agent"]["pending"]["version"], "v2", "{st:#}");
    assert_eq!(st["agent"]["next-check"], Value::Null, "--once sets no next check: {st:#}");
    validate(&st, t.path()).expect("status after a deploying round");

    // The validator is not a rubber stamp.
    let mut bad = st.clone();
    bad["agent"]["result"] = Value::from("maybe");
    assert!(validate(&bad, t.path()).is_err(), "an unknown result must not validate");
    let mut bad = st;
    bad["schema-version"] = Value::from(2);
    assert!(validate(&bad, t.path()).is_err(), "another schema version must not validate");
}

#[test]
fn daemon_backs_off_while_the_server_fails_and_recovers_without_restart() {
    let t = scratch();
    let d = Device::new(t.path());
    d.commit("v1", "2024-01-01 00:00:00 +0000", false);
    let origin = TestServer::origin(d.server.clone());
    d.first_deploy(&origin.url(), &[]);
    let v2 = d.commit("v2", "2024-02-01 00:00:00 +0000", false);
    // The server answers 503 to the next four summary requests.
    origin.add_rule("/summary", Fault::Status(503), 4);
    d.config("[agent]\ninterval=1h\njitter=0\nbackoff-min=1s\nbackoff-max=2s\n");
    let log = t.path().join("agent.log");
    let mut child = d.agent_cmd(&[]).stderr(Stdio::from(fs::File::create(&log).expect("log"))).spawn().expect("agent");
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains("result=deployed") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let rounds: Vec<&str> = text.lines().filter(|l| l.contains("uptree-agent round")).collect();
    let nexts: Vec<&str> = rounds.iter().map(|l| l.split(" next-in=").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or("?")).collect();
    assert_eq!(nexts, ["1s", "2s", "2s", "2s", "3600s"], "backoff 1 s, doubling, capped at 2 s, then the interval: {text}");
    assert!(rounds[..4].iter().all(|l| l.contains("result=failed") && l.contains("503")), "{text}");
    assert!(rounds[4].contains(&format!("deployed={v2}.0")), "{text}");
    let st = d.status();
    assert_eq!(st["agent"]["consecutive-failures"], 0, "{st:#}");
    assert!(st["agent"]["next-check"].as_u64().is_some(), "{st:#}");
    validate(&st, t.path()).expect("daemon status");

    // SIGTERM between rounds: a clean exit.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}: {}", fs::read_to_string(&log).unwrap_or_default());
    assert!(fs::read_to_string(&log).unwrap_or_default().contains("uptree-agent stopped"));
}

#[test]
fn agent_killed_mid_pull_fetches_only_what_is_missing_next_round() {
    let (_scratch, d, origin, v2, ls) = v1_deployed_v2_served("[agent]\n");
    let big = object_in(&ls, "/usr/share/big.bin");
    origin.add_rule(&format!("{}.filez", &big[2..]), Fault::StallAfter(50_000, Duration::from_secs(60)), 1);
    let mut child = d.agent_cmd(&["--once"]).stderr(Stdio::null()).spawn().expect("agent");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !origin.seen().iter().any(|p| p.contains(&big[2..])) {
        assert!(Instant::now() < deadline, "the agent never reached the big object");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Past a checkpoint (objects durable in objects/), kill -9.
    let partial = d.repo().join(format!("state/{v2}.commitpartial"));
    let blob_csum = object_in(&ls, "/usr/share/blob0");
    let blob_obj = d.repo().join(format!("objects/{}/{}.file", &blob_csum[..2], &blob_csum[2..]));
    while !blob_obj.exists() {
        assert!(Instant::now() < deadline + Duration::from_secs(30), "no checkpoint happened");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(partial.exists(), "the interrupted pull is marked partial");
    let fetched_first: std::collections::BTreeSet<String> =
        origin.log().into_iter().filter(|e| e.complete && e.status == 200 && e.path.ends_with(".filez")).map(|e| e.path).collect();
    assert!(fetched_first.len() >= 20, "the first round got most objects: {}", fetched_first.len());
    let st = d.status();
    assert_eq!(st["deployments"].as_array().map(Vec::len), Some(1), "nothing deployed by the killed round: {st:#}");
    up(os_args![repo_arg(&d.repo()), "fsck"]);

    origin.clear_log();
    origin.clear_rules();
    let out = d.agent_cmd(&["--once"]).output().expect("agent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains(&format!("deployed={v2}.0")), "{err}");
    let again: Vec<String> = origin.log().into_iter().filter(|e| e.path.ends_with(".filez") && fetched_first.contains(&e.path)).map(|e| e.path).collect();
    assert!(again.is_empty(), "objects fetched twice: {again:?}");
    let big_again = origin.log().into_iter().find(|e| e.path.ends_with(&format!("{}.filez", &big[2..]))).expect("big fetched in round 2");
    assert_eq!(big_again.range_start, 50_000, "the big object resumed where the killed round left it");
    assert!(!partial.exists());
    assert_eq!(d.status()["deployments"][0]["checksum"], Value::from(v2));
    up(os_args![repo_arg(&d.repo()), "fsck"]);
}

#[test]
fn sigterm_mid_pull_stops_at_an_object_boundary_and_deploys_nothing() {
    let (t, d, origin, v2, ls) = v1_deployed_v2_served("[agent]\ninterval=1h\n");
    let big = object_in(&ls, "/usr/share/big.bin");
    // The big object pauses for 3 s part-way: SIGTERM arrives meanwhile.
    origin.add_rule(&format!("{}.filez", &big[2..]), Fault::StallAfter(50_000, Duration::from_secs(3)), 1);
    let log = t.path().join("agent.log");
    let mut child = d.agent_cmd(&[]).stderr(Stdio::from(fs::File::create(&log).expect("log"))).spawn().expect("agent");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !origin.seen().iter().any(|p| p.contains(&big[2..])) {
        assert!(Instant::now() < deadline, "the agent never reached the big object");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Meanwhile status --json shows how far the pull got.
    let content = |st: &Value| st["agent"]["progress"]["content"].as_u64().unwrap_or(0);
    let mut st = d.status();
    while content(&st) == 0 {
        assert!(Instant::now() < deadline, "no progress in the state: {st:#}");
        std::thread::sleep(Duration::from_millis(200));
        st = d.status();
    }
    validate(&st, t.path()).expect("status during a pull");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill");
    let status = child.wait().expect("wait");
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(content(&d.status()) > 0, "the interrupted round's progress is kept");
    assert!(status.success(), "{status:?}: {text}");
    assert!(Instant::now() < deadline + Duration::from_secs(30), "stopped in time");
    assert!(text.contains("result=failed") && text.contains("pull interrupted on request") && text.contains("uptree-agent stopped"), "{text}");
    let st = d.status();
    assert_eq!(st["deployments"].as_array().map(Vec::len), Some(1), "nothing deployed: {st:#}");
    assert!(d.repo().join(format!("state/{v2}.commitpartial")).exists());
    up(os_args![repo_arg(&d.repo()), "fsck"]);
    let out = d.agent_cmd(&["--once"]).output().expect("agent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains(&format!("deployed={v2}.0")), "{err}");
}

#[test]
fn a_round_without_enough_free_space_pulls_nothing() {
    let t = scratch();
    let d = Device::new(t.path());
    d.commit("v1", "2024-01-01 00:00:00 +0000", false);
    let origin = TestServer::origin(d.server.clone());
    d.first_deploy(&origin.url(), &[]);
    d.commit("v2", "2024-02-01 00:00:00 +0000", false);
    // The sysroot's filesystem is 192 MiB: 100 GiB free is never there.
    d.config("[agent]\nmin-free-space=100G\n");
    origin.clear_log();
    let out = d.agent_cmd(&["--once"]).output().expect("agent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("result=failed") && err.contains("the agent needs 107374182400"), "{err}");
    let objects: Vec<String> = origin.log().into_iter().map(|e| e.path).filter(|p| p.contains("/objects/")).collect();
    assert!(objects.is_empty(), "nothing pulled: {objects:?}");
    let st = d.status();
    assert_eq!(st["agent"]["result"], "failed", "{st:#}");
    assert_eq!(st["agent"]["consecutive-failures"], 1, "{st:#}");
    assert_eq!(st["deployments"].as_array().map(Vec::len), Some(1), "{st:#}");
    validate(&st, t.path()).expect("status after a failed round");
}

/// The content checksum of `path` in `ostree ls -R -C` output.
fn object_in(ls: &str, path: &str) -> String {
    ls.lines().find(|l| l.ends_with(path)).and_then(|l| l.split_whitespace().nth(4)).unwrap_or_else(|| panic!("{path} not in the commit")).to_string()
}

/// v1 deployed from a fault-injecting origin that now serves v2 (with a
/// big object); the agent configured with `config`. Returns v2 and the
/// origin's `ls -R -C` listing of it.
fn v1_deployed_v2_served(config: &str) -> (tempfile::TempDir, Device, TestServer, String, String) {
    let t = scratch();
    let d = Device::new(t.path());
    d.commit("v1", "2024-01-01 00:00:00 +0000", false);
    let origin = TestServer::origin(d.server.clone());
    d.first_deploy(&origin.url(), &[]);
    let v2 = d.commit("v2", "2024-02-01 00:00:00 +0000", true);
    d.config(config);
    let ls = ostree(os_args![repo_arg(&d.server), "ls", "-R", "-C", REF]);
    (t, d, origin, v2, ls)
}

/// A device a stick took past what its server offers: the server's commit
/// is older than the deployed one. The round refuses it, as a downgrade,
/// but that is not a failure to back off from: "up-to-date", the refusal
/// kept in the state's error, nothing deployed.
#[test]
fn an_older_commit_on_the_server_is_refused_without_failing_the_round() {
    let t = scratch();
    let d = Device::new(t.path());
    d.commit("v2", "2024-02-01 00:00:00 +0000", false);
    let origin = TestServer::origin(d.server.clone());
    d.first_deploy(&origin.url(), &[]);
    let older = d.commit("v1", "2024-01-01 00:00:00 +0000", false);
    d.config("[agent]\n");
    let out = d.agent_cmd(&["--once"]).output().expect("agent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("result=up-to-date refspec=origin:{REF} available={older}")), "{err}");
    assert!(err.contains("chronologically older"), "{err}");
    let st = d.status();
    assert_eq!(st["agent"]["result"], "up-to-date", "{st:#}");
    assert_eq!(st["agent"]["consecutive-failures"], 0, "{st:#}");
    assert!(st["agent"]["error"].as_str().is_some_and(|e| e.contains("chronologically older")), "{st:#}");
    assert_eq!(st["deployments"].as_array().map(Vec::len), Some(1), "{st:#}");
    validate(&st, t.path()).expect("status after a refused older commit");
}
