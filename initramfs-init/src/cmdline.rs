//! The kernel command line, parsed the way the kernel splits it
//! (`lib/cmdline.c` `next_arg`): words separated by spaces, double quotes
//! group (`a="b c"`), everything after a lone `--` belongs to init. For
//! repeated keys the last one wins, as the kernel's `__setup` handlers do.
//!
//! Pure: a `&str` in, a [`Cmdline`] (plus warnings about values we could
//! not use) out.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How the root device is named (`root=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSpec {
    /// `/dev/vda2`, `vda2` (as `/dev/vda2`), `/dev/disk/by-label/x`.
    Path(String),
    Label(String),
    Uuid(String),
    /// `PARTUUID=…[/PARTNROFF=n]`: with an offset, the partition `n`
    /// after the one carrying that UUID (on the same disk).
    PartUuid {
        uuid: String,
        offset: i32,
    },
    PartLabel(String),
    /// `MAJOR:MINOR` in decimal.
    DevNum(u32, u32),
}

impl RootSpec {
    pub fn parse(v: &str) -> Option<RootSpec> {
        if v.is_empty() {
            return None;
        }
        if let Some(l) = v.strip_prefix("LABEL=") {
            return (!l.is_empty()).then(|| RootSpec::Label(l.to_string()));
        }
        if let Some(u) = v.strip_prefix("UUID=") {
            return (!u.is_empty()).then(|| RootSpec::Uuid(u.to_string()));
        }
        if let Some(rest) = v.strip_prefix("PARTUUID=") {
            let (uuid, offset) = match rest.split_once('/') {
                Some((u, off)) => (u, off.strip_prefix("PARTNROFF=")?.parse().ok()?),
                None => (rest, 0),
            };
            return (!uuid.is_empty()).then(|| RootSpec::PartUuid { uuid: uuid.to_string(), offset });
        }
        if let Some(l) = v.strip_prefix("PARTLABEL=") {
            return (!l.is_empty()).then(|| RootSpec::PartLabel(l.to_string()));
        }
        if let Some((maj, min)) = v.split_once(':') {
            if let (Ok(a), Ok(b)) = (maj.parse(), min.parse()) {
                return Some(RootSpec::DevNum(a, b));
            }
            // Other `x:y` forms (ubi0:rootfs, NFS) are not block devices.
            return None;
        }
        if v.starts_with('/') {
            return Some(RootSpec::Path(v.to_string()));
        }
        if v.contains('/') || v.contains('=') {
            return None;
        }
        Some(RootSpec::Path(format!("/dev/{v}")))
    }
}

impl fmt::Display for RootSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootSpec::Path(p) => f.write_str(p),
            RootSpec::Label(l) => write!(f, "LABEL={l}"),
            RootSpec::Uuid(u) => write!(f, "UUID={u}"),
            RootSpec::PartUuid { uuid, offset: 0 } => write!(f, "PARTUUID={uuid}"),
            RootSpec::PartUuid { uuid, offset } => write!(f, "PARTUUID={uuid}/PARTNROFF={offset}"),
            RootSpec::PartLabel(l) => write!(f, "PARTLABEL={l}"),
            RootSpec::DevNum(a, b) => write!(f, "{a}:{b}"),
        }
    }
}

/// How long to wait for the root device when nothing says otherwise.
/// The kernel would not wait at all, but we load the drivers ourselves and
/// some (MMC, USB) probe asynchronously.
pub const DEFAULT_ROOT_TIMEOUT: Duration = Duration::from_secs(10);
/// `rootwait` without a value: the kernel waits forever, which would leave
/// a board hanging on a missing disk; we wait this long, then fail (and
/// reboot, so U-Boot counts the attempt).
pub const ROOTWAIT_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between the failure message and the reboot, so a human on the
/// serial console can read it.
pub const DEFAULT_REBOOT_DELAY: Duration = Duration::from_secs(3);
/// Upper bound of `rootdelay=`, `rootwait=` and `uptree.roottimeout=`: a
/// device that has not appeared after five minutes will not, and a typo
/// (`rootwait=6000000`) must not keep a board from rebooting into its
/// fallback for months. Larger values are clamped, with a warning.
pub const MAX_ROOT_WAIT: Duration = Duration::from_secs(300);
/// Upper bound of `uptree.rebootdelay=`: long enough to read a failure on
/// the console, short enough that the board still gets back to work.
pub const MAX_REBOOT_DELAY: Duration = Duration::from_secs(300);

/// Everything the init uses from the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cmdline {
    pub root: Option<RootSpec>,
    /// Raw `root=` value, for messages (also when it did not parse).
    pub root_raw: Option<String>,
    /// `rootfstype=`: comma-separated list to try, in order.
    pub rootfstype: Vec<String>,
    pub rootflags: Option<String>,
    /// `ro`/`rw`; the kernel's default is read-only.
    pub read_only: bool,
    /// `rootwait` (`Some(None)`) or `rootwait=N` seconds (`Some(Some(N))`),
    /// at most [`MAX_ROOT_WAIT`].
    pub rootwait: Option<Option<Duration>>,
    /// `rootdelay=N`: how long to sleep before looking for the device, at
    /// most [`MAX_ROOT_WAIT`].
    pub rootdelay: Duration,
    pub ostree: Option<String>,
    pub init: Option<String>,
    /// `uptree.debug`: print the plan and every module.
    pub debug: bool,
    /// `uptree.emergency`: on failure, run a shell (if one exists) before rebooting.
    pub emergency: bool,
    /// `uptree.roottimeout=S`: overrides the rootwait rules; at most [`MAX_ROOT_WAIT`].
    pub root_timeout: Option<Duration>,
    /// `uptree.rebootdelay=S`, at most [`MAX_REBOOT_DELAY`].
    pub reboot_delay: Option<Duration>,
    /// `uptree.modules=a,b`: loaded after the list shipped in the initramfs.
    pub modules: Vec<String>,
    /// `module.param=value` (modprobe's reading of the command line):
    /// module name (with `-` as `_`) → `param=value` words.
    pub module_params: BTreeMap<String, Vec<String>>,
}

impl Cmdline {
    /// How long to wait for the root device.
    pub fn root_timeout(&self) -> Duration {
        if let Some(t) = self.root_timeout {
            return t;
        }
        match self.rootwait {
            Some(Some(d)) => d,
            Some(None) => ROOTWAIT_TIMEOUT,
            None => DEFAULT_ROOT_TIMEOUT,
        }
    }

    pub fn reboot_delay(&self) -> Duration {
        self.reboot_delay.unwrap_or(DEFAULT_REBOOT_DELAY)
    }

    /// Parameters to pass to `finit_module` for `module` (space-separated).
    pub fn params_for(&self, module: &str) -> String {
        self.module_params.get(&module.replace('-', "_")).map(|v| v.join(" ")).unwrap_or_default()
    }
}

/// Split like the kernel: spaces separate, `"` toggles quoting (and is
/// removed), a lone `--` ends the kernel's part. Returns the words before `--`.
pub fn split(cmdline: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_ascii_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    if let Some(i) = words.iter().position(|w| w == "--") {
        words.truncate(i);
    }
    words
}

/// A number of seconds from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secs {
    Exact(Duration),
    /// Digits, but more seconds than a `u64` holds.
    Huge,
}

/// Whole seconds (`rootdelay=`, `rootwait=`: the kernel's integers) or,
/// with `decimal`, up to milliseconds (`2`, `0.5`). Digits only: no sign,
/// no unit. Arithmetic is checked: an absurd value is [`Secs::Huge`]
/// (which the caller clamps), never an overflow panic in PID 1.
fn parse_secs(v: &str, decimal: bool) -> Option<Secs> {
    let (whole, frac) = if decimal { v.split_once('.').unwrap_or((v, "")) } else { (v, "") };
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut w: Option<u64> = Some(0);
    for b in whole.bytes() {
        w = w.and_then(|w| w.checked_mul(10)).and_then(|w| w.checked_add(u64::from(b - b'0')));
    }
    let Some(w) = w else { return Some(Secs::Huge) };
    let ms: u64 = frac.bytes().take(3).zip([100, 10, 1]).map(|(b, scale)| u64::from(b - b'0') * scale).sum();
    Some(Duration::from_secs(w).checked_add(Duration::from_millis(ms)).map_or(Secs::Huge, Secs::Exact))
}

/// Seconds at most `max`; `None` for a value that is not a number.
fn bounded_secs(v: Option<&str>, decimal: bool, max: Duration) -> Option<Bounded> {
    Some(match parse_secs(v?, decimal)? {
        Secs::Exact(d) if d <= max => Bounded { value: d, clamped: false },
        Secs::Exact(_) | Secs::Huge => Bounded { value: max, clamped: true },
    })
}

#[derive(Debug, Clone, Copy)]
struct Bounded {
    value: Duration,
    clamped: bool,
}

#[cfg(test)]
fn secs(v: &str) -> Option<Duration> {
    match parse_secs(v, true)? {
        Secs::Exact(d) => Some(d),
        Secs::Huge => None,
    }
}

fn flag_value(v: Option<&str>) -> Option<bool> {
    match v {
        None | Some("1") | Some("y") | Some("yes") | Some("true") | Some("on") => Some(true),
        Some("0") | Some("n") | Some("no") | Some("false") | Some("off") => Some(false),
        Some(_) => None,
    }
}

enum Verdict {
    Used,
    Unusable,
    Unknown,
    /// Used, but limited to `max`.
    Clamped {
        max: Duration,
    },
}

/// Store a bounded number of seconds with `set`, or say why not.
fn seconds(v: Option<&str>, decimal: bool, max: Duration, set: impl FnOnce(Duration)) -> Verdict {
    match bounded_secs(v, decimal, max) {
        None => Verdict::Unusable,
        Some(b) => {
            set(b.value);
            if b.clamped {
                Verdict::Clamped { max }
            } else {
                Verdict::Used
            }
        }
    }
}

fn check(ok: bool) -> Verdict {
    if ok {
        Verdict::Used
    } else {
        Verdict::Unusable
    }
}

/// Apply one `key[=value]` word; words that are not ours are `Used` (ignored).
fn apply(c: &mut Cmdline, key: &str, val: Option<&str>) -> Verdict {
    match (key, val) {
        ("root", Some(v)) => {
            c.root_raw = Some(v.to_string());
            c.root = RootSpec::parse(v);
            check(c.root.is_some())
        }
        ("rootfstype", Some(v)) => {
            c.rootfstype = v.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect();
            Verdict::Used
        }
        ("rootflags", Some(v)) => {
            c.rootflags = (!v.is_empty()).then(|| v.to_string());
            Verdict::Used
        }
        ("ro", None) => {
            c.read_only = true;
            Verdict::Used
        }
        ("rw", None) => {
            c.read_only = false;
            Verdict::Used
        }
        ("rootwait", None) => {
            c.rootwait = Some(None);
            Verdict::Used
        }
        ("rootwait", Some(v)) => seconds(Some(v), false, MAX_ROOT_WAIT, |d| c.rootwait = Some(Some(d))),
        ("rootdelay", Some(v)) => seconds(Some(v), false, MAX_ROOT_WAIT, |d| c.rootdelay = d),
        ("ostree", Some(v)) => {
            c.ostree = Some(v.to_string());
            Verdict::Used
        }
        ("init", Some(v)) => {
            if v.starts_with('/') {
                c.init = Some(v.to_string());
            }
            check(v.starts_with('/'))
        }
        (k, v) if k.starts_with("uptree.") || k.starts_with("uptree_") => apply_own(c, &k[7..].replace('-', "_"), v),
        (k, Some(v)) if k.contains('.') => {
            // module.param=value, as modprobe applies it from /proc/cmdline.
            if let Some((module, param)) = k.split_once('.').filter(|(m, p)| !m.is_empty() && !p.is_empty()) {
                c.module_params.entry(module.replace('-', "_")).or_default().push(format!("{param}={v}"));
            }
            Verdict::Used
        }
        _ => Verdict::Used,
    }
}

/// Our own `uptree.*` switches.
fn apply_own(c: &mut Cmdline, key: &str, v: Option<&str>) -> Verdict {
    match key {
        "debug" => flag_value(v).map_or(Verdict::Unusable, |b| {
            c.debug = b;
            Verdict::Used
        }),
        "emergency" => flag_value(v).map_or(Verdict::Unusable, |b| {
            c.emergency = b;
            Verdict::Used
        }),
        "roottimeout" | "root_timeout" => seconds(v, true, MAX_ROOT_WAIT, |d| c.root_timeout = Some(d)),
        "rebootdelay" | "reboot_delay" => seconds(v, true, MAX_REBOOT_DELAY, |d| c.reboot_delay = Some(d)),
        "modules" => v.map_or(Verdict::Unusable, |list| {
            c.modules.extend(list.split(',').filter(|m| !m.is_empty()).map(str::to_string));
            Verdict::Used
        }),
        _ => Verdict::Unknown,
    }
}

/// Parse a command line. Unusable values of known keys are reported in
/// the second element and otherwise ignored (a typo must not stop a boot
/// that can proceed).
pub fn parse(cmdline: &str) -> (Cmdline, Vec<String>) {
    let mut c = Cmdline { read_only: true, ..Cmdline::default() };
    let mut warnings = Vec::new();
    for word in split(cmdline) {
        let (key, val) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word.as_str(), None),
        };
        match apply(&mut c, key, val) {
            Verdict::Used => {}
            Verdict::Unusable => warnings.push(format!("ignoring {word:?}: unusable value")),
            Verdict::Unknown => warnings.push(format!("ignoring unknown option {word:?}")),
            Verdict::Clamped { max } => warnings.push(format!("{word:?}: more than the maximum; using {} s", max.as_secs())),
        }
    }
    (c, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_kernel() {
        assert_eq!(split("  a b=\"c d\"  \"e=f g\" h -- i j"), vec!["a", "b=c d", "e=f g", "h"]);
        assert_eq!(split("x=\"\" y"), vec!["x=", "y"]);
        assert_eq!(split(""), Vec::<String>::new());
        assert_eq!(split("--"), Vec::<String>::new());
        assert_eq!(split("a\n"), vec!["a"]);
    }

    #[test]
    fn root_specs() {
        assert_eq!(RootSpec::parse("/dev/vda2"), Some(RootSpec::Path("/dev/vda2".into())));
        assert_eq!(RootSpec::parse("mmcblk0p2"), Some(RootSpec::Path("/dev/mmcblk0p2".into())));
        assert_eq!(RootSpec::parse("LABEL=root fs"), Some(RootSpec::Label("root fs".into())));
        assert_eq!(RootSpec::parse("UUID=1234-ABCD"), Some(RootSpec::Uuid("1234-ABCD".into())));
        assert_eq!(RootSpec::parse("PARTUUID=0c1f3e2a-02"), Some(RootSpec::PartUuid { uuid: "0c1f3e2a-02".into(), offset: 0 }));
        assert_eq!(RootSpec::parse("PARTUUID=0c1f3e2a-02/PARTNROFF=-1"), Some(RootSpec::PartUuid { uuid: "0c1f3e2a-02".into(), offset: -1 }));
        assert_eq!(RootSpec::parse("PARTLABEL=rootfs_a"), Some(RootSpec::PartLabel("rootfs_a".into())));
        assert_eq!(RootSpec::parse("179:2"), Some(RootSpec::DevNum(179, 2)));
        for bad in ["", "LABEL=", "UUID=", "PARTUUID=", "PARTUUID=x/PARTNR=1", "ubi0:rootfs", "foo/bar", "a=b"] {
            assert_eq!(RootSpec::parse(bad), None, "{bad}");
        }
        for s in ["/dev/vda", "LABEL=x", "UUID=y", "PARTUUID=z", "PARTUUID=z/PARTNROFF=2", "PARTLABEL=p", "8:1"] {
            assert_eq!(RootSpec::parse(s).expect(s).to_string(), s);
        }
    }

    #[test]
    fn full_command_line() {
        let (c, w) = parse(
            "console=ttyAMA0 root=PARTUUID=abcd-02 rootfstype=ext4,btrfs rootflags=data=journal rw rootwait \
             rootdelay=2 ostree=/ostree/boot.1/os/c/0 init=/lib/systemd/systemd uptree.debug uptree.emergency=1 \
             uptree.roottimeout=2.5 uptree.rebootdelay=0 uptree.modules=a,b ext4.foo=1 usb-storage.delay_use=0 \
             quiet -- single ostree=/evil",
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.root, Some(RootSpec::PartUuid { uuid: "abcd-02".into(), offset: 0 }));
        assert_eq!(c.rootfstype, vec!["ext4", "btrfs"]);
        assert_eq!(c.rootflags.as_deref(), Some("data=journal"));
        assert!(!c.read_only);
        assert_eq!(c.rootwait, Some(None));
        assert_eq!(c.rootdelay, Duration::from_secs(2));
        assert_eq!(c.ostree.as_deref(), Some("/ostree/boot.1/os/c/0"), "args after -- are init's");
        assert_eq!(c.init.as_deref(), Some("/lib/systemd/systemd"));
        assert!(c.debug && c.emergency);
        assert_eq!(c.root_timeout(), Duration::from_millis(2500));
        assert_eq!(c.reboot_delay(), Duration::ZERO);
        assert_eq!(c.modules, vec!["a", "b"]);
        assert_eq!(c.params_for("ext4"), "foo=1");
        assert_eq!(c.params_for("usb_storage"), "delay_use=0");
        assert_eq!(c.params_for("usb-storage"), "delay_use=0");
        assert_eq!(c.params_for("vfat"), "");
    }

    #[test]
    fn defaults_and_last_wins() {
        let (c, w) = parse("root=/dev/vda rw ro");
        assert!(w.is_empty());
        assert!(c.read_only, "last of ro/rw wins");
        assert_eq!(c.root_timeout(), DEFAULT_ROOT_TIMEOUT);
        assert_eq!(c.reboot_delay(), DEFAULT_REBOOT_DELAY);
        let (c, _) = parse("root=/dev/vda");
        assert!(c.read_only, "the kernel mounts read-only unless told rw");
        let (c, _) = parse("root=/dev/vda root=LABEL=b ostree=/a ostree=/b rootwait=7");
        assert_eq!(c.root, Some(RootSpec::Label("b".into())));
        assert_eq!(c.ostree.as_deref(), Some("/b"));
        assert_eq!(c.root_timeout(), Duration::from_secs(7));
        let (c, _) = parse("rootwait");
        assert_eq!(c.root_timeout(), ROOTWAIT_TIMEOUT);
        let (c, _) = parse("rootwait uptree.roottimeout=1");
        assert_eq!(c.root_timeout(), Duration::from_secs(1), "our own timeout wins");
        assert!(!c.debug && !c.emergency);
    }

    #[test]
    fn unusable_values_warn_and_are_ignored() {
        let (c, w) = parse("root=ubi0:rootfs rootdelay=x rootwait=forever init=sbin/init uptree.roottimeout=1s uptree.debug=maybe uptree.bogus");
        assert_eq!(c.root, None);
        assert_eq!(c.root_raw.as_deref(), Some("ubi0:rootfs"));
        assert_eq!(c.rootdelay, Duration::ZERO);
        assert_eq!(c.rootwait, None);
        assert_eq!(c.init, None);
        assert_eq!(c.root_timeout, None);
        assert!(!c.debug);
        assert_eq!(w.len(), 7, "{w:?}");
        assert!(w.iter().any(|m| m.contains("uptree.bogus")));
    }

    #[test]
    fn seconds() {
        assert_eq!(secs("3"), Some(Duration::from_secs(3)));
        assert_eq!(secs("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(secs(".5"), Some(Duration::from_millis(500)));
        assert_eq!(secs("1.2345"), Some(Duration::from_millis(1234)));
        for bad in ["", ".", "x", "1.x", "-1", "1s", "+1", "1.-5", " 1"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
        assert_eq!(parse_secs("18446744073709551615.999", true), Some(Secs::Exact(Duration::new(u64::MAX, 999_000_000))));
        assert_eq!(parse_secs("18446744073709551616", true), Some(Secs::Huge));
        assert_eq!(parse_secs("1.5", false), None, "rootdelay= and rootwait= take whole seconds, as the kernel's");
    }

    /// Every wait has an upper bound, whatever the number: a typo must not
    /// keep a board from rebooting (before, `rootwait=N`, `rootdelay=N` and
    /// `uptree.roottimeout=N` waited N seconds, however many).
    #[test]
    fn waits_are_bounded() {
        let huge = "99999999999999999999999999";
        let (c, w) = parse(&format!("rootdelay={huge} rootwait=18446744073709551615 uptree.roottimeout={huge}.5 uptree.rebootdelay=301"));
        assert_eq!(c.rootdelay, MAX_ROOT_WAIT);
        assert_eq!(c.rootwait, Some(Some(MAX_ROOT_WAIT)));
        assert_eq!(c.root_timeout(), MAX_ROOT_WAIT);
        assert_eq!(c.reboot_delay(), MAX_REBOOT_DELAY);
        assert_eq!(
            w,
            vec![
                format!("\"rootdelay={huge}\": more than the maximum; using 300 s"),
                "\"rootwait=18446744073709551615\": more than the maximum; using 300 s".to_string(),
                format!("\"uptree.roottimeout={huge}.5\": more than the maximum; using 300 s"),
                "\"uptree.rebootdelay=301\": more than the maximum; using 300 s".to_string(),
            ]
        );
        let (c, _) = parse("rootwait=5000");
        assert_eq!(c.root_timeout(), MAX_ROOT_WAIT, "rootwait=N alone decides the timeout");
        // Exactly the maximum is not a warning; negative and garbage values are ignored.
        let (c, w) = parse("rootdelay=300 uptree.roottimeout=300.000 rootwait=-1 uptree.rebootdelay=-2 rootdelay=1e9");
        assert_eq!((c.rootdelay, c.root_timeout, c.rootwait, c.reboot_delay), (MAX_ROOT_WAIT, Some(MAX_ROOT_WAIT), None, None));
        assert_eq!(
            w,
            vec![
                "ignoring \"rootwait=-1\": unusable value",
                "ignoring \"uptree.rebootdelay=-2\": unusable value",
                "ignoring \"rootdelay=1e9\": unusable value"
            ]
        );
    }
}
