//! A sysroot and its deployments, read the way libostree reads them: the
//! current bootversion from `boot/loader`, the deployments from that
//! bootversion's BLS entries (sorted by `version`, descending), each
//! resolved through its `ostree=` boot link to `ostree/deploy/OS/deploy/
//! CSUM.SERIAL`. The booted deployment is the one whose directory is `/`
//! when `/run/ostree-booted` exists.
//!
//! State that decides a write is only reachable through the sysroot lock:
//! `Sysroot::lock(path)?.load()?` gives a [`LockedSysroot`], and every
//! function that changes the sysroot takes one. Read under the lock, it
//! cannot be stale: another `admin` process that switched in between
//! (new bootversion, new deployments) has released the lock first. A plain
//! [`Sysroot`] from [`Sysroot::load_unlocked`] is a snapshot for display
//! (`status`) and for what needs no lock (resolving an origin, pulling);
//! nothing that writes accepts it.

use std::fs;
use std::ops::Deref;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ostree_repo::keyfile::KeyFile;
use ostree_repo::{Checksum, Repo, RepoMode};
use uptree_sys::lock::{LockKind, OfdLock};

use crate::backend::{self, Backend};
use crate::bls::{strverscmp, BootEntry};
use crate::error::{At, Error, Result};
use crate::layout::{self, BootLink};

/// One deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub osname: String,
    pub csum: Checksum,
    pub deployserial: u32,
    pub bootcsum: String,
    pub bootserial: u32,
    /// Its BLS entry (kernel arguments in `options`).
    pub bootconfig: BootEntry,
    pub origin: Option<KeyFile>,
}

impl Deployment {
    /// `ostree/deploy/OS/deploy/CSUM.SERIAL`, relative to the sysroot.
    pub fn relpath(&self) -> String {
        layout::deployment_relpath(&self.osname, &self.csum.to_hex(), self.deployserial)
    }

    pub fn origin_relpath(&self) -> String {
        format!("{}.origin", self.relpath())
    }

    pub fn same(&self, other: &Deployment) -> bool {
        self.osname == other.osname && self.csum == other.csum && self.deployserial == other.deployserial
    }

    pub fn is_pinned(&self) -> bool {
        self.origin.as_ref().and_then(|o| o.get_bool("libostree-transient", "pinned").ok().flatten()).unwrap_or(false)
    }

    /// `hotfix` when `admin unlock --hotfix` was run on it.
    pub fn unlocked(&self) -> Option<String> {
        self.origin.as_ref().and_then(|o| o.get("origin", "unlocked"))
    }

    pub fn refspec(&self) -> Option<String> {
        self.origin.as_ref().and_then(|o| o.get("origin", "refspec"))
    }

    /// Kernel arguments without `ostree=`.
    pub fn kargs_without_ostree(&self) -> String {
        let mut k = crate::kargs::Kargs::parse(self.bootconfig.get("options").unwrap_or(""));
        k.delete("ostree");
        k.to_string()
    }
}

/// A loaded sysroot: a snapshot. Writes take a [`LockedSysroot`].
#[derive(Debug)]
pub struct Sysroot {
    pub path: PathBuf,
    pub repo: Repo,
    pub bootversion: u32,
    pub subbootversion: u32,
    /// Index 0 is the default (what boots next).
    pub deployments: Vec<Deployment>,
    pub booted: Option<usize>,
    /// How boot files are laid out and switched.
    pub backend: Box<dyn Backend>,
}

fn read_link_version(p: &Path, prefix: &str) -> Result<Option<u32>> {
    match fs::read_link(p) {
        Ok(t) => {
            let t = t.to_string_lossy().into_owned();
            let v = t.strip_prefix(prefix).and_then(|v| v.parse::<u32>().ok()).filter(|v| *v <= 1);
            v.map(Some).ok_or_else(|| Error::Invalid(format!("{}: unexpected link target {t:?}", p.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// `ostree admin init-fs`: the directories of a sysroot and a bare repo.
/// `modern` (`--modern`): only `boot/` and `ostree/`, as ostree makes it
/// (the rest of a root file system lives in the deployments).
pub fn init_fs(path: &Path, modern: bool) -> Result<()> {
    const MODERN: [&str; 4] = ["", "boot", "ostree", "ostree/deploy"];
    for (d, mode) in [
        ("", 0o755),
        ("boot", 0o755),
        ("dev", 0o755),
        ("home", 0o755),
        ("ostree", 0o755),
        ("ostree/deploy", 0o755),
        ("proc", 0o755),
        ("root", 0o700),
        ("run", 0o755),
        ("sys", 0o755),
        ("tmp", 0o1777),
    ] {
        if modern && !MODERN.contains(&d) {
            continue;
        }
        let p = path.join(d);
        match fs::create_dir(&p) {
            Ok(()) => fs::set_permissions(&p, fs::Permissions::from_mode(mode)).at(&p)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) if d.is_empty() && e.kind() == std::io::ErrorKind::NotFound => fs::create_dir_all(&p).at(&p)?,
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Repo::init(&path.join("ostree/repo"), RepoMode::Bare)?;
    Ok(())
}

/// Touch `ostree/deploy`, as libostree does after every change of the
/// deployments or an origin: daemons watch its mtime for changes.
pub(crate) fn bump_mtime(root: &Path) -> Result<()> {
    let p = root.join("ostree/deploy");
    let now = std::time::SystemTime::now();
    fs::File::open(&p).and_then(|f| f.set_times(fs::FileTimes::new().set_accessed(now).set_modified(now))).at(&p)
}

/// `ostree admin os-init OS`: the stateroot and its shared /var.
pub fn os_init(path: &Path, osname: &str) -> Result<()> {
    if !layout::valid_osname(osname) {
        return Err(Error::Invalid(format!("invalid stateroot name {osname:?}")));
    }
    let base = path.join("ostree/deploy").join(osname);
    for (d, mode) in [("", 0o755), ("deploy", 0o755), ("var", 0o755), ("var/lib", 0o755), ("var/log", 0o755), ("var/tmp", 0o1777)] {
        let p = base.join(d);
        match fs::create_dir(&p) {
            Ok(()) => fs::set_permissions(&p, fs::Permissions::from_mode(mode)).at(&p)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    for (link, target) in [("var/lock", "../run/lock"), ("var/run", "../run")] {
        let p = base.join(link);
        if fs::symlink_metadata(&p).is_err() {
            std::os::unix::fs::symlink(target, &p).at(&p)?;
        }
    }
    bump_mtime(path)
}

/// The sysroot lock held: libostree's `ostree/lock`, exclusive, an OFD
/// lock, so uptree and `ostree admin` exclude each other. Released when
/// dropped (or with the [`LockedSysroot`] it was loaded into).
#[derive(Debug)]
pub struct SysrootLock {
    path: PathBuf,
    _lock: OfdLock,
}

/// How often to say that we are still waiting, as `ostree admin` does.
const LOCK_NAG: Duration = Duration::from_secs(3);

impl SysrootLock {
    /// Read the sysroot's state under this lock.
    pub fn load(self) -> Result<LockedSysroot> {
        let state = Sysroot::read(&self.path)?;
        Ok(LockedSysroot { state, lock: self })
    }
}

/// A sysroot read under its lock, which it holds until dropped. Every
/// function that writes the sysroot takes one; it reads as a [`Sysroot`].
#[derive(Debug)]
pub struct LockedSysroot {
    state: Sysroot,
    lock: SysrootLock,
}

impl Deref for LockedSysroot {
    type Target = Sysroot;

    fn deref(&self) -> &Sysroot {
        &self.state
    }
}

impl LockedSysroot {
    /// Read the state again (after a switch), still under the lock.
    pub(crate) fn reload(&mut self) -> Result<()> {
        self.state = Sysroot::read(&self.lock.path)?;
        Ok(())
    }

    /// Treat deployment `index` as the booted one. The booted deployment is
    /// normally found from `/`; this is for tests and image builds that act
    /// as a board would after booting it.
    pub fn set_booted(&mut self, index: Option<usize>) {
        self.state.booted = index.filter(|i| *i < self.state.deployments.len());
    }

    /// The loaded state, for in-memory updates after a write under this lock.
    pub(crate) fn state_mut(&mut self) -> &mut Sysroot {
        &mut self.state
    }
}

fn check_sysroot(path: &Path) -> Result<PathBuf> {
    let repo_path = path.join("ostree/repo");
    if !repo_path.join("config").exists() {
        return Err(Error::Invalid(format!("{} is not an OSTree sysroot (no ostree/repo; run 'admin init-fs')", path.display())));
    }
    Ok(repo_path)
}

impl Sysroot {
    /// Take the sysroot lock, waiting for it as libostree's
    /// `ostree_sysroot_lock` does (no time limit; `ostree admin` says it is
    /// waiting every 3 s). Then [`SysrootLock::load`] the state.
    pub fn lock(path: &Path) -> Result<SysrootLock> {
        check_sysroot(path)?;
        let p = path.join("ostree/lock");
        loop {
            match OfdLock::acquire(&p, LockKind::Exclusive, Some(LOCK_NAG)) {
                // Its owner (ostree) unlinked it as it let go: lock the new one.
                Ok(l) if !l.is_linked().map_err(|e| Error::io(&p, e))? => continue,
                Ok(l) => return Ok(SysrootLock { path: path.to_path_buf(), _lock: l }),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => log::warn!("Waiting for sysroot lock ({})...", p.display()),
                Err(e) => return Err(Error::io(p, e)),
            }
        }
    }

    /// The sysroot lock if nobody holds it now, else `None` (the agent
    /// skips a round rather than queue behind an operator's command).
    pub fn try_lock(path: &Path) -> Result<Option<SysrootLock>> {
        check_sysroot(path)?;
        let p = path.join("ostree/lock");
        match OfdLock::acquire(&p, LockKind::Exclusive, Some(Duration::ZERO)) {
            Ok(l) if !l.is_linked().map_err(|e| Error::io(&p, e))? => Ok(None),
            Ok(l) => Ok(Some(SysrootLock { path: path.to_path_buf(), _lock: l })),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    /// A snapshot without the lock: for display and for what needs no lock
    /// (resolving an origin, pulling). Another process may change the
    /// sysroot at any moment, so nothing that writes accepts it.
    pub fn load_unlocked(path: &Path) -> Result<Sysroot> {
        Sysroot::read(path)
    }

    /// Read the state; callers in this crate hold the lock.
    pub(crate) fn read(path: &Path) -> Result<Sysroot> {
        let repo_path = check_sysroot(path)?;
        let repo = Repo::open(&repo_path)?.in_sysroot(path);
        let backend = backend::detect(path, repo.config())?;
        let bootversion = backend.live(path)?.unwrap_or(0);
        let subbootversion = read_link_version(&path.join(format!("ostree/boot.{bootversion}")), &format!("boot.{bootversion}."))?.unwrap_or(0);
        let mut s = Sysroot { path: path.to_path_buf(), repo, bootversion, subbootversion, deployments: Vec::new(), booted: None, backend };
        s.deployments = s.read_deployments(bootversion)?;
        s.booted = s.find_booted()?;
        Ok(s)
    }

    /// The BLS entries of a bootversion, sorted as ostree sorts them.
    pub fn read_entries(&self, bootversion: u32) -> Result<Vec<BootEntry>> {
        let dir = self.path.join(format!("boot/loader.{bootversion}/entries"));
        let mut entries = Vec::new();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
            Err(e) => return Err(Error::io(dir, e)),
        };
        for e in rd {
            let e = e.at(&dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("ostree-") || !name.ends_with(".conf") || !e.path().is_file() {
                continue;
            }
            entries.push(BootEntry::parse(&fs::read_to_string(e.path()).at(&e.path())?));
        }
        entries.sort_by(|a, b| match (a.get("version"), b.get("version")) {
            (Some(x), Some(y)) => strverscmp(y, x),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        });
        Ok(entries)
    }

    fn read_deployments(&self, bootversion: u32) -> Result<Vec<Deployment>> {
        let mut out = Vec::new();
        for entry in self.read_entries(bootversion)? {
            let arg = layout::ostree_karg(entry.get("options").unwrap_or(""))
                .ok_or_else(|| Error::Invalid("No ostree= kernel argument found in a boot entry".into()))?
                .to_string();
            let link = BootLink::parse(&arg).ok_or_else(|| Error::Invalid(format!("invalid ostree= argument {arg:?}")))?;
            let lpath = self.path.join(arg.trim_start_matches('/'));
            let target = fs::read_link(&lpath).at(&lpath)?;
            let base = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (csum, deployserial) =
                layout::parse_deploy_dir_name(&base).ok_or_else(|| Error::Invalid(format!("{}: bad deployment link {}", lpath.display(), target.display())))?;
            let mut d = Deployment {
                osname: link.osname,
                csum: csum.parse()?,
                deployserial,
                bootcsum: link.bootcsum,
                bootserial: link.bootserial,
                bootconfig: entry,
                origin: None,
            };
            let origin = self.path.join(d.origin_relpath());
            d.origin = match fs::read_to_string(&origin) {
                Ok(t) => Some(KeyFile::parse(&t).map_err(|e| Error::Invalid(format!("{}: {e}", origin.display())))?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io(origin, e)),
            };
            out.push(d);
        }
        Ok(out)
    }

    /// The deployment we are running, if this sysroot is the booted root.
    fn find_booted(&self) -> Result<Option<usize>> {
        if !Path::new("/run/ostree-booted").exists() {
            return Ok(None);
        }
        // Booted systems see the physical root at /sysroot; `/` is the deployment.
        let root = fs::metadata("/").at(Path::new("/"))?;
        for (i, d) in self.deployments.iter().enumerate() {
            if let Ok(m) = fs::metadata(self.path.join(d.relpath())) {
                if m.dev() == root.dev() && m.ino() == root.ino() {
                    return Ok(Some(i));
                }
            }
        }
        Ok(None)
    }

    pub fn booted_deployment(&self) -> Option<&Deployment> {
        self.booted.and_then(|i| self.deployments.get(i))
    }

    /// First deployment of `osname` before the booted one (if booted), or the first.
    pub fn pending(&self, osname: &str) -> Option<usize> {
        let booted = self.booted;
        self.deployments.iter().enumerate().find(|(i, d)| d.osname == osname && booted.is_none_or(|b| *i < b)).map(|(i, _)| i).filter(|i| Some(*i) != booted)
    }

    /// First deployment of `osname` after the booted one (or after the first, if not booted).
    pub fn rollback(&self, osname: &str) -> Option<usize> {
        let pivot = self.booted.or_else(|| self.deployments.iter().position(|d| d.osname == osname))?;
        self.deployments.iter().enumerate().find(|(i, d)| *i > pivot && d.osname == osname).map(|(i, _)| i)
    }

    /// ostree's merge deployment: the booted one if it is of `osname`, else
    /// the first deployment of `osname`.
    pub fn merge_deployment(&self, osname: &str) -> Option<usize> {
        if let Some(b) = self.booted {
            if self.deployments[b].osname == osname {
                return Some(b);
            }
        }
        self.deployments.iter().position(|d| d.osname == osname)
    }

    /// The stateroot to use when none is given: the booted one, or the only one.
    pub fn default_osname(&self) -> Result<String> {
        if let Some(d) = self.booted_deployment() {
            return Ok(d.osname.clone());
        }
        let dir = self.path.join("ostree/deploy");
        let names: Vec<String> =
            fs::read_dir(&dir).at(&dir)?.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        match names.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Error::Invalid("no stateroot: run 'admin os-init OS'".into())),
            _ => Err(Error::Invalid(format!("several stateroots ({}): give --os", names.join(", ")))),
        }
    }
}
