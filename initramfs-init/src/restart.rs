//! How PID 1 gets the machine restarted, whatever stands in the way.
//!
//! Boards' kernel arguments rarely carry `panic=`, and without it a
//! kernel panic (which is what PID 1 exiting or aborting causes) hangs the
//! board for good. So PID 1 never exits; it:
//!
//! 1. sets `kernel.panic` itself when it is 0 ([`arm_panic_reboot`], also
//!    done early in the boot), so that even a crash of PID 1 (an abort:
//!    the release build has `panic = "abort"`) ends in a restart;
//! 2. syncs, giving up after [`SYNC_TIMEOUT`] (wedged storage blocks
//!    sync(2) for ever);
//! 3. follows [`schedule`]: `reboot(RB_AUTOBOOT)`, once more, then the
//!    SysRq trigger (`b`: an emergency restart by the kernel itself), then
//!    both again every [`RETRY_EVERY`], for ever.
//!
//! The steps go through the [`Machine`] trait so tests see the order
//! without restarting anything; [`System`] is the real one.
//!
//! `kernel.panic` and `/proc/sysrq-trigger` belong to the whole machine,
//! not to a PID namespace: PID 1 of a container (or of the tests, which
//! run the real init in a new PID namespace) touches neither. There a
//! reboot(2) ends the namespace, which is the container's restart.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::console::{secs_short, Console};
use crate::plan::Flags;

/// How long the sync before the reboot may take.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// The `kernel.panic` we set when it is 0: seconds from a panic to the restart.
pub const PANIC_REBOOT_SECS: u32 = 10;
/// Pause between rounds once the first attempts failed.
pub const RETRY_EVERY: Duration = Duration::from_secs(10);

const PANIC_SYSCTL: &str = "/proc/sys/kernel/panic";
const SYSRQ_TRIGGER: &str = "/proc/sysrq-trigger";
/// `/proc/self/ns/pid` of the initial PID namespace: `PROC_PID_INIT_INO`
/// (0xEFFFFFFC), fixed in the kernel since Linux 3.8.
const INITIAL_PID_NS: &str = "pid:[4026531836]";

/// One thing to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// `reboot(RB_AUTOBOOT)`.
    Restart,
    /// `b` into `/proc/sysrq-trigger`: the kernel restarts at once, without
    /// the reboot(2) path.
    Sysrq,
    Wait(Duration),
}

/// The attempts in order; endless.
pub fn schedule() -> impl Iterator<Item = Attempt> {
    use Attempt::*;
    [Restart, Wait(Duration::from_secs(1)), Restart, Sysrq].into_iter().chain(std::iter::repeat([Wait(RETRY_EVERY), Restart, Sysrq]).flatten())
}

/// What the restart path does to the machine.
pub trait Machine {
    fn say(&mut self, msg: &str);
    /// Set `kernel.panic` if it is 0 (see [`arm_panic_reboot`]).
    fn arm_panic_reboot(&mut self);
    /// Flush within `timeout`: `Ok(true)` if it finished.
    fn sync(&mut self, timeout: Duration) -> io::Result<bool>;
    fn sleep(&mut self, d: Duration);
    /// Returns only if the restart did not happen.
    fn restart(&mut self) -> io::Error;
    /// Returns only if the restart did not happen.
    fn sysrq_restart(&mut self) -> io::Error;
}

/// Restart the machine after `delay`. Never returns.
pub fn reboot(m: &mut impl Machine, delay: Duration) -> ! {
    m.say(&format!("rebooting in {} s so the bootloader counts this failed attempt", secs_short(delay)));
    m.arm_panic_reboot();
    match m.sync(SYNC_TIMEOUT) {
        Ok(true) => {}
        Ok(false) => m.say(&format!("sync did not finish within {} s (storage not answering?); rebooting without it", secs_short(SYNC_TIMEOUT))),
        Err(e) => m.say(&format!("could not start the sync ({e}); rebooting without it")),
    }
    m.sleep(delay);
    let mut attempts = schedule();
    loop {
        match attempts.next() {
            Some(Attempt::Restart) => {
                let e = m.restart();
                m.say(&format!("reboot refused: {e}"));
            }
            Some(Attempt::Sysrq) => {
                let e = m.sysrq_restart();
                m.say(&format!("SysRq restart failed: {e}; trying again in {} s", secs_short(RETRY_EVERY)));
            }
            Some(Attempt::Wait(d)) => m.sleep(d),
            None => m.sleep(RETRY_EVERY),
        }
    }
}

/// Whether `/proc/self/ns/pid` (as read) shows the machine's own PID
/// namespace, where PID 1 is the machine's init. Unknown counts as no:
/// the answer guards writes that would restart or reconfigure a host.
pub fn machine_init(ns_link: io::Result<String>, proc_has_ns: bool) -> Result<(), String> {
    match ns_link {
        Ok(l) if l == INITIAL_PID_NS => Ok(()),
        Ok(l) => Err(format!("in PID namespace {l}, not the machine's init")),
        // A kernel without CONFIG_PID_NS has /proc/self/ns but no pid
        // entry, and only the initial namespace.
        Err(e) if e.kind() == io::ErrorKind::NotFound && proc_has_ns => Ok(()),
        Err(e) => Err(format!("cannot tell which PID namespace this is ({e})")),
    }
}

/// What to write into `kernel.panic`, given what it holds: only when it
/// is 0 (wait for ever). A negative value restarts at once, a positive one
/// after that many seconds: both already end in a restart.
pub fn panic_setting(current: &str) -> Option<u32> {
    (current.trim().parse::<i64>().ok()? == 0).then_some(PANIC_REBOOT_SECS)
}

/// Mount `/proc` if it is not there (a failure before the early mounts,
/// or after something unmounted it).
fn ensure_proc() -> io::Result<()> {
    if Path::new("/proc/self").exists() {
        return Ok(());
    }
    match fs::create_dir("/proc") {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    crate::exec::mount("proc", Path::new("/proc"), "proc", Flags::API, None)
}

fn check_machine_init() -> Result<(), String> {
    ensure_proc().map_err(|e| format!("cannot mount /proc ({e})"))?;
    machine_init(fs::read_link("/proc/self/ns/pid").map(|l| l.to_string_lossy().into_owned()), Path::new("/proc/self/ns").is_dir())
}

/// Set `kernel.panic` to [`PANIC_REBOOT_SECS`] if it is 0, so that a
/// crash of PID 1 restarts the board instead of hanging it. Says what it
/// did; failures are reported, not fatal.
pub fn arm_panic_reboot(console: &Console) {
    if let Err(why) = check_machine_init() {
        console.line(format_args!("leaving kernel.panic and the SysRq trigger alone: {why}"));
        return;
    }
    let current = match fs::read_to_string(PANIC_SYSCTL) {
        Ok(v) => v,
        Err(e) => return console.line(format_args!("reading {PANIC_SYSCTL}: {e}")),
    };
    if let Some(secs) = panic_setting(&current) {
        match fs::write(PANIC_SYSCTL, secs.to_string()) {
            Ok(()) => console.line(format_args!("kernel.panic was 0 (a kernel panic would hang the board): set to {secs} s")),
            Err(e) => console.line(format_args!("setting {PANIC_SYSCTL} to {secs}: {e}")),
        }
    }
}

/// The real machine.
#[derive(Debug)]
pub struct System<'a> {
    pub console: &'a Console,
}

impl Machine for System<'_> {
    fn say(&mut self, msg: &str) {
        self.console.line(msg);
    }

    fn arm_panic_reboot(&mut self) {
        arm_panic_reboot(self.console);
    }

    fn sync(&mut self, timeout: Duration) -> io::Result<bool> {
        uptree_sys::pid1::sync_within(timeout)
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }

    fn restart(&mut self) -> io::Error {
        uptree_sys::pid1::restart()
    }

    fn sysrq_restart(&mut self) -> io::Error {
        if let Err(why) = check_machine_init() {
            return io::Error::other(format!("not used: {why}"));
        }
        match fs::write(SYSRQ_TRIGGER, b"b") {
            Ok(()) => io::Error::other(format!("{SYSRQ_TRIGGER} accepted 'b' but the machine is still running")),
            Err(e) => io::Error::new(e.kind(), format!("{SYSRQ_TRIGGER}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the restart path does; its `sleep` ends the test (by
    /// unwinding) once enough happened.
    #[derive(Default)]
    struct Fake {
        log: Vec<String>,
        sync: Option<bool>,
        sleeps_left: usize,
    }

    impl Machine for Fake {
        fn say(&mut self, msg: &str) {
            self.log.push(format!("say {msg}"));
        }
        fn arm_panic_reboot(&mut self) {
            self.log.push("arm".into());
        }
        fn sync(&mut self, timeout: Duration) -> io::Result<bool> {
            self.log.push(format!("sync {}", secs_short(timeout)));
            self.sync.ok_or_else(|| io::Error::other("fork: out of memory"))
        }
        fn sleep(&mut self, d: Duration) {
            self.log.push(format!("sleep {}", secs_short(d)));
            if self.sleeps_left == 0 {
                std::panic::resume_unwind(Box::new("enough"));
            }
            self.sleeps_left -= 1;
        }
        fn restart(&mut self) -> io::Error {
            self.log.push("restart".into());
            io::Error::from(io::ErrorKind::PermissionDenied)
        }
        fn sysrq_restart(&mut self) -> io::Error {
            self.log.push("sysrq".into());
            io::Error::from(io::ErrorKind::NotFound)
        }
    }

    fn run(mut m: Fake, delay: Duration) -> Vec<String> {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reboot(&mut m, delay)));
        assert!(r.is_err(), "reboot() returned");
        m.log
    }

    #[test]
    fn refused_reboot_retries_then_sysrq_then_loops() {
        let log = run(Fake { sync: Some(true), sleeps_left: 4, ..Fake::default() }, Duration::from_secs(3));
        let steps: Vec<&str> = log.iter().filter(|l| !l.starts_with("say ")).map(String::as_str).collect();
        assert_eq!(
            steps,
            ["arm", "sync 10", "sleep 3", "restart", "sleep 1", "restart", "sysrq", "sleep 10", "restart", "sysrq", "sleep 10", "restart", "sysrq", "sleep 10"]
        );
        assert_eq!(log[0], "say rebooting in 3 s so the bootloader counts this failed attempt");
        assert!(log.contains(&"say reboot refused: permission denied".to_string()), "{log:?}");
        assert!(log.iter().any(|l| l.starts_with("say SysRq restart failed: entity not found; trying again in 10 s")), "{log:?}");
    }

    #[test]
    fn a_wedged_or_failed_sync_does_not_stop_the_reboot() {
        for (sync, said) in [
            (Some(false), "say sync did not finish within 10 s (storage not answering?); rebooting without it"),
            (None, "say could not start the sync (fork: out of memory); rebooting without it"),
        ] {
            let log = run(Fake { sync, sleeps_left: 1, ..Fake::default() }, Duration::ZERO);
            let at = log.iter().position(|l| l == said).unwrap_or_else(|| panic!("{log:?}"));
            assert_eq!(log[at + 1..].iter().filter(|l| !l.starts_with("say ")).collect::<Vec<_>>(), ["sleep 0", "restart", "sleep 1"]);
        }
    }

    #[test]
    fn schedule_is_endless() {
        assert_eq!(schedule().take(1000).count(), 1000);
        assert_eq!(
            schedule().skip(4).take(6).collect::<Vec<_>>(),
            [Attempt::Wait(RETRY_EVERY), Attempt::Restart, Attempt::Sysrq, Attempt::Wait(RETRY_EVERY), Attempt::Restart, Attempt::Sysrq]
        );
    }

    #[test]
    fn host_wide_knobs_only_as_the_machines_init() {
        assert_eq!(machine_init(Ok("pid:[4026531836]".into()), true), Ok(()));
        assert_eq!(machine_init(Err(io::Error::from(io::ErrorKind::NotFound)), true), Ok(()), "kernel without PID namespaces");
        assert_eq!(machine_init(Ok("pid:[4026532201]".into()), true), Err("in PID namespace pid:[4026532201], not the machine's init".into()));
        assert!(machine_init(Err(io::Error::from(io::ErrorKind::NotFound)), false).is_err(), "no /proc: unknown is no");
        assert!(machine_init(Err(io::Error::from(io::ErrorKind::PermissionDenied)), true).is_err());
    }

    #[test]
    fn panic_timeout_only_replaces_zero() {
        assert_eq!(panic_setting("0\n"), Some(PANIC_REBOOT_SECS));
        assert_eq!(panic_setting("1\n"), None);
        assert_eq!(panic_setting("-1\n"), None, "negative: restart at once");
        assert_eq!(panic_setting("garbage"), None);
    }
}
