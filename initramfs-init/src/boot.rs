//! The boot sequence of PID 1, start to exec. Every step prints one
//! timestamped line; any error goes to [`crate::failure`].

use std::convert::Infallible;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cmdline::{self, Cmdline, RootSpec};
use crate::console::{secs, secs_short, Console};
use crate::device::{self, Found, Refusal};
use crate::error::{Error, Result};
use crate::exec::{self, Outcome};
use crate::failure::{self, ShellCandidate};
use crate::modules::{self, ModuleDb};
use crate::plan::{self, Flags, Step, NEWROOT, SYSROOT};
use crate::resolve::{self, Confine};
use crate::restart;

/// The default init of a deployment (what ostree-prepare-root execs).
/// Deliberately no fallback to `/bin/sh`: a deployment without its init
/// must fail (and reboot into the fallback), not sit at a prompt.
pub const DEFAULT_INIT: &str = "/sbin/init";

/// Written into the new root's `/run` just before exec.
pub const TIMES_FILE: &str = "/run/uptree-init/boot-times";

/// What the failure path needs to know about how far we got.
#[derive(Debug)]
struct State {
    console: Console,
    cmdline: Cmdline,
    argv: Vec<OsString>,
    /// A tree to chroot an emergency shell into.
    shell_root: Option<PathBuf>,
    /// After the switch, `/` is the new root and the initramfs is gone.
    switched: bool,
}

/// Run as PID 1. Never returns: execs the new init, or reboots.
pub fn run() -> ! {
    let console = Console::new(uptree_sys::pid1::monotonic());
    // A panic takes the same way out as any failure. The hook runs before
    // the release build's `panic = "abort"` and does not return, so the
    // abort only comes if the hook itself panics; PID 1 then dies, the
    // kernel panics, and the `kernel.panic` set early in `boot` restarts it.
    std::panic::set_hook(Box::new(|info| {
        let c = Console::new(Duration::ZERO);
        c.line(format_args!("FAILED: internal error: {info}"));
        failure::reboot(&c, cmdline::DEFAULT_REBOOT_DELAY)
    }));
    let mut st = State { console, cmdline: Cmdline::default(), argv: std::env::args_os().collect(), shell_root: None, switched: false };
    let err = match boot(&mut st) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let candidates = if st.switched {
        vec![ShellCandidate { root: None, shell: PathBuf::from("/bin/sh") }]
    } else {
        failure::candidates_before_switch(st.shell_root.as_deref())
    };
    failure::fail(&st.console, &err, st.cmdline.emergency, &candidates, st.cmdline.reboot_delay())
}

fn read(path: &str) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Read { path: PathBuf::from(path), source })
}

fn step(s: &Step) -> Result<Outcome> {
    exec::run(s).map_err(|source| Error::Step { step: s.to_string(), source })
}

fn boot(st: &mut State) -> Result<Infallible> {
    let c = st.console.clone();
    c.line(format_args!("started as PID {}", std::process::id()));
    for s in plan::early_mounts() {
        step(&s)?;
    }
    if !uptree_sys::pid1::stdout_is_open() {
        // The initramfs had no /dev/console: the kernel gave us no fds.
        let _ = uptree_sys::pid1::attach_console(Path::new("/dev/console"));
    }
    // Boards rarely pass panic=: without it a crash of PID 1 hangs the board.
    restart::arm_panic_reboot(&c);
    let kver = read("/proc/sys/kernel/osrelease")?.trim().to_string();
    c.line(format_args!("mounted /proc, /sys, /dev, /run (kernel {kver})"));

    let (cmd, warnings) = cmdline::parse(&read("/proc/cmdline")?);
    st.cmdline = cmd;
    st.console.debug = st.cmdline.debug;
    let c = st.console.clone();
    for w in warnings {
        c.line(format_args!("command line: {w}"));
    }

    let module_failures = load_modules(&c, &st.cmdline, &kver);

    let spec = match (&st.cmdline.root, &st.cmdline.root_raw) {
        (Some(s), _) => s.clone(),
        (None, Some(raw)) => return Err(Error::BadRoot { value: raw.clone() }),
        (None, None) => return Err(Error::NoRoot),
    };
    if !st.cmdline.rootdelay.is_zero() {
        c.line(format_args!("rootdelay: waiting {} s", secs_short(st.cmdline.rootdelay)));
        std::thread::sleep(st.cmdline.rootdelay);
    }
    let found = wait_for_root(&c, &spec, st.cmdline.root_timeout(), &module_failures)?;
    let fstype = mount_root(&found, &st.cmdline)?;
    c.line(format_args!("mounted {SYSROOT} ({fstype} {}, {})", found.node, if st.cmdline.read_only { "ro" } else { "rw" }));

    let mut whose = format!("the root filesystem ({})", found.node);
    let steps = match st.cmdline.ostree.clone() {
        Some(arg) => {
            let dep = plan::resolve_boot_link(Path::new(SYSROOT), &arg).map_err(|reason| Error::BootLink { arg: arg.clone(), reason })?;
            let dir = format!("{SYSROOT}/{}", dep.relpath());
            c.line(format_args!("ostree={arg} is deployment /{}", dep.relpath()));
            whose = format!("deployment /{}", dep.relpath());
            st.shell_root = Some(PathBuf::from(&dir));
            let insp = plan::inspect(Path::new(SYSROOT), Path::new("/"), &dep).map_err(|reason| Error::Deployment { path: dep.relpath(), reason })?;
            c.debug(format_args!("inspection: {insp:?}"));
            plan::deployment_plan(&insp, st.cmdline.read_only).map_err(|reason| Error::Deployment { path: dep.relpath(), reason })?
        }
        None => {
            c.line(format_args!("no ostree= argument: booting {SYSROOT} as it is"));
            st.shell_root = Some(PathBuf::from(SYSROOT));
            plan::plain_plan(Path::new(SYSROOT))
        }
    };
    let new_root = steps
        .iter()
        .find_map(|s| match s {
            Step::SwitchRoot { new_root } => Some(new_root.clone()),
            _ => None,
        })
        .unwrap_or_else(|| PathBuf::from(SYSROOT));

    for s in steps.iter().filter(|s| !matches!(s, Step::SwitchRoot { .. })) {
        step(s)?;
        c.line(s);
        if matches!(s, Step::Bind { target, .. } if target == Path::new(NEWROOT)) {
            st.shell_root = Some(PathBuf::from(NEWROOT));
        }
    }

    let init = st.cmdline.init.clone().unwrap_or_else(|| DEFAULT_INIT.to_string());
    check_init(&new_root, &init, &whose)?;

    let switch = Step::SwitchRoot { new_root: new_root.clone() };
    let outcome = step(&switch)?;
    st.switched = true;
    match outcome {
        Outcome::Switched { removed: Some(r), .. } => c.line(format_args!(
            "switched root to {} (freed the initramfs: {} entries, {} KiB{})",
            new_root.display(),
            r.entries,
            r.bytes / 1024,
            if r.failures > 0 { format!(", {} could not be removed", r.failures) } else { String::new() }
        )),
        Outcome::Switched { note, .. } => c.line(format_args!("switched root to {} ({})", new_root.display(), note.unwrap_or_default())),
        Outcome::Done => {}
    }

    let elapsed = c.elapsed();
    record_times(&c, elapsed);
    c.line(format_args!("handing over to {init} after {} s", secs(elapsed)));
    // argv[0] is the init's path, as the kernel gives it; the rest is
    // what the kernel passed us (words it did not recognise, `--` args).
    let argv: Vec<OsString> = std::iter::once(OsString::from(&init)).chain(st.argv.iter().skip(1).cloned()).collect();
    let source = uptree_sys::pid1::exec(Path::new(&init), &argv);
    Err(Error::Exec { path: init, source })
}

/// Load the modules the initramfs lists (and `uptree.modules=`), with
/// their dependencies. Failures are reported and returned, not fatal: if
/// the root device then does not appear, its error names them.
fn load_modules(c: &Console, cmd: &Cmdline, kver: &str) -> Vec<String> {
    let mut wanted = fs::read_to_string(format!("/{}", modules::WANTED_LIST)).map(|t| modules::parse_wanted(&t)).unwrap_or_default();
    wanted.extend(cmd.modules.iter().cloned());
    if wanted.is_empty() {
        return Vec::new();
    }
    let dir = PathBuf::from(format!("/lib/modules/{kver}"));
    let dep = match fs::read_to_string(dir.join("modules.dep")) {
        Ok(t) => t,
        Err(e) => {
            let have: Vec<String> =
                fs::read_dir("/lib/modules").map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
            let msg = format!("no {}/modules.dep ({e}); the initramfs has modules for [{}] — built for another kernel?", dir.display(), have.join(", "));
            c.line(&msg);
            return vec![msg];
        }
    };
    let db = ModuleDb::parse(&dep).with_builtin(&fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default());
    let (order, missing) = db.load_order(&wanted);
    let mut failures: Vec<String> = missing.iter().map(|m| format!("{m}: not in modules.dep")).collect();
    let start = Instant::now();
    let mut loaded = Vec::new();
    for rel in &order {
        let name = modules::module_name(rel);
        let flags = if modules::is_compressed(rel) { uptree_sys::pid1::MODULE_INIT_COMPRESSED_FILE } else { 0 };
        let t = Instant::now();
        let res = fs::File::open(dir.join(rel)).and_then(|f| uptree_sys::pid1::finit_module(&f, &cmd.params_for(&name), flags));
        match res {
            Ok(()) => loaded.push(name.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                c.line(format_args!("module {name}: {e}"));
                failures.push(format!("{name}: {e}"));
            }
        }
        c.debug(format_args!("module {name} ({} ms)", t.elapsed().as_millis()));
    }
    for f in &missing {
        c.line(format_args!("module {f}: not in modules.dep"));
    }
    c.line(format_args!("loaded {} modules in {} ms ({})", loaded.len(), start.elapsed().as_millis(), loaded.join(" ")));
    failures
}

fn wait_for_root(c: &Console, spec: &RootSpec, timeout: Duration, module_failures: &[String]) -> Result<Found> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    let mut announced = false;
    loop {
        match device::find(Path::new("/"), spec) {
            Ok(Some(f)) => {
                c.line(format_args!("found root device {spec}: {} ({}) after {} s", f.node, f.via, secs(start.elapsed())));
                return Ok(f);
            }
            Ok(None) => {}
            Err(Refusal::Ambiguous(nodes)) => return Err(Error::RootAmbiguous { spec: spec.to_string(), nodes: nodes.join(", ") }),
        }
        if start.elapsed() >= timeout {
            let seen = device::inventory(Path::new("/"));
            return Err(Error::RootNotFound {
                spec: spec.to_string(),
                waited: start.elapsed(),
                seen: if seen.is_empty() { "none".into() } else { seen.join("; ") },
                modules: if module_failures.is_empty() { String::new() } else { format!("; modules that failed: {}", module_failures.join("; ")) },
            });
        }
        if !announced {
            c.line(format_args!("waiting up to {} s for root device {spec}", secs_short(timeout)));
            announced = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Mount the root device on /sysroot: `rootfstype=` types in order, else
/// the type its superblock shows, else every block filesystem the kernel has.
fn mount_root(found: &Found, cmd: &Cmdline) -> Result<String> {
    let types: Vec<String> = if !cmd.rootfstype.is_empty() {
        cmd.rootfstype.clone()
    } else if let Some(fs) = device::probe_node(Path::new("/"), &found.node) {
        vec![fs.fstype.to_string()]
    } else {
        read("/proc/filesystems")?.lines().filter(|l| !l.starts_with("nodev")).map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
    };
    exec::run(&Step::Mkdir { path: PathBuf::from(SYSROOT), mode: 0o755 }).map_err(|source| Error::Step { step: format!("mkdir {SYSROOT}"), source })?;
    let flags = Flags { readonly: cmd.read_only, ..Flags::NONE };
    let mut tried = Vec::new();
    for t in &types {
        match exec::mount(&found.node, Path::new(SYSROOT), t, flags, cmd.rootflags.as_deref()) {
            Ok(()) => return Ok(t.clone()),
            Err(e) => tried.push(format!("{t}: {e}")),
        }
    }
    if tried.is_empty() {
        tried.push("no filesystem type to try".into());
    }
    Err(Error::RootMount { node: found.node.clone(), tried: tried.join("; ") })
}

/// The init must exist in the new root before we give up the initramfs.
/// Checked as the kernel will resolve it after the chroot.
/// `whose` names the tree in messages ("deployment /ostree/deploy/…").
pub fn check_init(new_root: &Path, init: &str, whose: &str) -> Result<PathBuf> {
    let err = |reason: String| Error::Init { path: init.to_string(), whose: whose.to_string(), reason };
    let rel = resolve::resolve(new_root, init, Confine::Clamp).map_err(|e| err(e.to_string()))?;
    let host = new_root.join(&rel);
    let m = fs::metadata(&host).map_err(|e| err(e.to_string()))?;
    if !m.is_file() {
        return Err(err(format!("/{rel} is not a regular file")));
    }
    if m.permissions().mode() & 0o111 == 0 {
        return Err(err(format!("/{rel} is not executable")));
    }
    Ok(host)
}

/// `/run/uptree-init/boot-times` in the new root, for health checks and
/// the test suite: when the kernel started us and how long we took.
fn record_times(c: &Console, elapsed: Duration) {
    let text = format!("init_started_s={}\ninit_to_exec_s={}\n", secs(c.start()), secs(elapsed));
    let dir = Path::new(TIMES_FILE).parent().unwrap_or(Path::new("/run"));
    if let Err(e) = fs::create_dir_all(dir).and_then(|()| fs::write(TIMES_FILE, text)) {
        c.line(format_args!("could not write {TIMES_FILE}: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn init_must_exist_and_be_executable() {
        let t = tempfile::tempdir().expect("tmp");
        let r = t.path();
        assert_eq!(check_init(r, "/sbin/init", "deployment d").expect_err("missing").to_string(), "init /sbin/init of deployment d: /sbin does not exist");
        fs::create_dir_all(r.join("usr/sbin")).expect("mkdir");
        symlink("usr/sbin", r.join("sbin")).expect("ln");
        fs::write(r.join("usr/sbin/init"), b"#!/bin/sh\n").expect("write");
        let e = check_init(r, "/sbin/init", "deployment d").expect_err("not executable").to_string();
        assert_eq!(e, "init /sbin/init of deployment d: /usr/sbin/init is not executable");
        fs::set_permissions(r.join("usr/sbin/init"), fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(check_init(r, "/sbin/init", "d").expect("ok"), r.join("usr/sbin/init"));
        fs::create_dir_all(r.join("lib/systemd")).expect("mkdir");
        assert!(check_init(r, "/lib/systemd", "d").expect_err("dir").to_string().contains("not a regular file"));
    }
}
