//! Remotes as ostree stores them: `[remote "NAME"]` groups in the repo
//! `config`, and for the system repository also
//! `<sysroot>/etc/ostree/remotes.d/*.conf` (same group syntax).
//!
//! Pure parsing plus small, atomic file edits; no network code here.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::keyfile::KeyFile;
use crate::object::validate_remote_name;
use crate::repo::Repo;

/// One configured remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub name: String,
    /// The key file group's (key, raw value) pairs, in file order.
    options: Vec<(String, String)>,
    /// Where it is defined: `None` = repo config, else a remotes.d file.
    pub file: Option<PathBuf>,
}

fn group_name(name: &str) -> String {
    format!("remote \"{name}\"")
}

fn parse_group(g: &str) -> Option<&str> {
    g.strip_prefix("remote \"")?.strip_suffix('"')
}

impl Remote {
    fn from_keyfile(kf: &KeyFile, group: &str, name: &str, file: Option<PathBuf>) -> Remote {
        let options = kf.keys(group).into_iter().filter_map(|k| kf.get(group, k).map(|v| (k.to_string(), v))).collect();
        Remote { name: name.to_string(), options, file }
    }

    /// A string option (unescaped).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A boolean option with a default.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key).map(str::trim) {
            None => Ok(default),
            Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(v) => Err(Error::Invalid(format!("remote {}: option {key}={v:?} is not a boolean", self.name))),
        }
    }

    pub fn url(&self) -> Result<&str> {
        self.get("url").ok_or_else(|| Error::Invalid(format!("No \"url\" option in remote \"{}\"", self.name)))
    }

    /// Set `key` for this process only (`pull --url`): later values win.
    pub fn set_override(&mut self, key: &str, value: &str) {
        self.options.push((key.to_string(), value.to_string()));
    }

    /// `branches=a;b;` as a list.
    pub fn branches(&self) -> Vec<String> {
        self.get("branches").map(|b| b.split(';').filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default()
    }

    /// `gpg-verify` defaults to true, as in ostree.
    pub fn gpg_verify(&self) -> Result<bool> {
        self.get_bool("gpg-verify", true)
    }

    /// `sign-verify`: `None` if off, else the list of signature types
    /// (empty for `true`: every type that has keys).
    pub fn sign_verify(&self) -> Result<Option<Vec<String>>> {
        match self.get("sign-verify").map(str::trim) {
            None | Some("false") | Some("0") => Ok(None),
            Some("true") | Some("1") => Ok(Some(Vec::new())),
            Some(list) => Ok(Some(list.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())),
        }
    }

    pub fn options(&self) -> &[(String, String)] {
        &self.options
    }
}

/// The remotes.d directory ostree reads for a repository: only the system
/// repository has one. That is a repository opened through its sysroot
/// (`admin`: `<sysroot>/etc/ostree/remotes.d`), or `/ostree/repo` opened by
/// path. Real ostree 2022.7 does not take `OSTREE_SYSROOT` into account for a
/// repository opened by path: `OSTREE_SYSROOT=S ostree --repo=S/ostree/repo`
/// neither reads nor writes `S/etc/ostree/remotes.d`.
pub fn remotes_dir(repo: &Repo) -> Option<PathBuf> {
    if let Some(sysroot) = repo.sysroot() {
        return Some(sysroot.join("etc/ostree/remotes.d"));
    }
    let is_system = match (fs::canonicalize(repo.path()), fs::canonicalize("/ostree/repo")) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    is_system.then(|| PathBuf::from("/etc/ostree/remotes.d"))
}

/// Where `remote add` writes a new remote: the system repository's remotes.d
/// unless `core.add-remotes-config-dir=false`, else the repo config. That
/// setting decides only where new remotes go; remotes.d is read either way.
fn remotes_add_dir(repo: &Repo) -> Result<Option<PathBuf>> {
    let enabled = repo.config().get_bool("core", "add-remotes-config-dir").map_err(Error::Invalid)?.unwrap_or(true);
    Ok(remotes_dir(repo).filter(|_| enabled))
}

/// All remotes: this repository's (config, then remotes.d files), then
/// those its `core.parent` repositories define and it does not: ostree's
/// remotes are inherited from the parent.
pub fn list(repo: &Repo) -> Result<Vec<Remote>> {
    let mut out = list_own(repo)?;
    let mut parent = parent_of(repo)?;
    // A parent chain that loops would never end.
    for _ in 0..MAX_PARENT_DEPTH {
        let Some(p) = parent else { break };
        for r in list_own(&p)? {
            if !out.iter().any(|o| o.name == r.name) {
                out.push(r);
            }
        }
        parent = parent_of(&p)?;
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

const MAX_PARENT_DEPTH: usize = 16;

/// The repository named by `core.parent`, if any.
fn parent_of(repo: &Repo) -> Result<Option<Repo>> {
    match repo.config().get("core", "parent") {
        Some(p) if !p.is_empty() => Ok(Some(Repo::open(Path::new(&p)).map_err(|e| e.context(format!("parent repository {p}")))?)),
        _ => Ok(None),
    }
}

/// This repository's own remotes (not its parents'): what add and delete change.
fn list_own(repo: &Repo) -> Result<Vec<Remote>> {
    let mut out: Vec<Remote> = Vec::new();
    for g in repo.config().groups() {
        if let Some(name) = parse_group(g) {
            out.push(Remote::from_keyfile(repo.config(), g, name, None));
        }
    }
    if let Some(dir) = remotes_dir(repo) {
        let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "conf")).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        for f in files {
            let text = fs::read_to_string(&f).map_err(|e| Error::io(&f, e))?;
            let kf = KeyFile::parse(&text).map_err(|e| Error::Config { path: f.clone(), what: e.to_string() })?;
            for g in kf.groups() {
                if let Some(name) = parse_group(g) {
                    if out.iter().any(|r| r.name == name) {
                        return Err(Error::Config { path: f.clone(), what: format!("remote {name:?} is defined more than once") });
                    }
                    out.push(Remote::from_keyfile(&kf, g, name, Some(f.clone())));
                }
            }
        }
    }
    // ostree_repo_remote_list: "Remote names are sorted alphabetically."
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub fn get(repo: &Repo, name: &str) -> Result<Remote> {
    list(repo)?.into_iter().find(|r| r.name == name).ok_or_else(|| Error::Invalid(format!("Remote \"{name}\" not found")))
}

fn get_own(repo: &Repo, name: &str) -> Result<Remote> {
    list_own(repo)?.into_iter().find(|r| r.name == name).ok_or_else(|| Error::Invalid(format!("Remote \"{name}\" not found")))
}

/// What `remote add` does when the remote exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfExists {
    Fail,
    /// `--if-not-exists`: keep it.
    Keep,
    /// `--force`: replace it.
    Replace,
}

/// Where `remote add --sysroot=SYSROOT` writes, as libostree decides for a
/// repository reached through its sysroot: the repo config for a physical
/// sysroot, `SYSROOT/etc/ostree/remotes.d` for a deployment (one holding a
/// `sysroot/` directory) unless `core.add-remotes-config-dir=false`.
pub fn sysroot_remotes_dir(repo: &Repo, sysroot: &Path) -> Result<Option<PathBuf>> {
    let physical = fs::symlink_metadata(sysroot.join("sysroot")).is_err();
    let enabled = repo.config().get_bool("core", "add-remotes-config-dir").map_err(Error::Invalid)?.unwrap_or(true);
    Ok((enabled && !physical).then(|| sysroot.join("etc/ostree/remotes.d")))
}

/// `remote add`: options in the order ostree writes them (url, then the
/// `--set`/flag options in order). Written to remotes.d for the system repo.
pub fn add(repo: &mut Repo, name: &str, url: Option<&str>, options: &[(String, String)], if_exists: IfExists) -> Result<()> {
    let dir = remotes_add_dir(repo)?;
    add_to(repo, dir, name, url, options, if_exists)
}

/// [`add`], writing a new remote to `dir` (`None`: the repo config).
pub fn add_to(repo: &mut Repo, dir: Option<PathBuf>, name: &str, url: Option<&str>, options: &[(String, String)], if_exists: IfExists) -> Result<()> {
    validate_remote_name(name)?;
    if let Ok(existing) = get_own(repo, name) {
        match if_exists {
            IfExists::Keep => return Ok(()),
            IfExists::Replace => {
                delete(repo, name, false)?;
                return add_to(repo, dir, name, url, options, IfExists::Fail);
            }
            IfExists::Fail => {}
        }
        let loc = existing.file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| "(in config)".to_string());
        return Err(Error::Conflict(format!("Remote configuration for \"{name}\" already exists: {loc}")));
    }
    let group = group_name(name);
    let fill = |kf: &mut KeyFile| {
        // Without one only for a custom backend (ostree-rs-ext's remotes).
        if let Some(url) = url {
            kf.set(&group, "url", url);
        }
        for (k, v) in options {
            kf.set(&group, k, v);
        }
    };
    match dir {
        Some(dir) => {
            fsutil::create_dir_all_durable(&dir, true)?;
            let mut kf = KeyFile::new();
            fill(&mut kf);
            fsutil::atomic_write(&dir.join(format!("{name}.conf")), kf.to_string().as_bytes(), 0o644, true)
        }
        None => repo.update_config(fill),
    }
}

/// `remote delete`.
pub fn delete(repo: &mut Repo, name: &str, if_exists: bool) -> Result<()> {
    let r = match get_own(repo, name) {
        Ok(r) => r,
        Err(_) if if_exists => return Ok(()),
        Err(e) => return Err(e),
    };
    // Its GPG keyring (`remote gpg-import`) goes with it, as in ostree.
    let keyring = repo.path().join(format!("{name}.trustedkeys.gpg"));
    match fs::remove_file(&keyring) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&keyring, e)),
        _ => {}
    }
    match &r.file {
        None => repo.update_config(|kf| {
            kf.remove_group(&group_name(name));
        }),
        Some(f) => {
            let text = fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            let mut kf = KeyFile::parse(&text).map_err(|e| Error::Config { path: f.clone(), what: e.to_string() })?;
            kf.remove_group(&group_name(name));
            if kf.groups().next().is_none() {
                fs::remove_file(f).map_err(|e| Error::io(f, e))?;
                fsutil::fsync_dir(f.parent().unwrap_or(Path::new(".")))
            } else {
                fsutil::atomic_write(f, kf.to_string().as_bytes(), 0o644, true)
            }
        }
    }
}

/// Parse `--set=KEY=VALUE` and the flag options of `remote add`.
pub fn parse_set(s: &str) -> Result<(String, String)> {
    let (k, v) = s.split_once('=').ok_or_else(|| Error::Invalid(format!("--set expects KEY=VALUE, got {s:?}")))?;
    if k.is_empty() {
        return Err(Error::Invalid(format!("--set expects KEY=VALUE, got {s:?}")));
    }
    Ok((k.to_string(), v.to_string()))
}

/// `--sign-verify=TYPE=inline:KEY` / `TYPE=file:PATH` / `TYPE`, as ostree
/// translates them into options.
pub fn sign_verify_options(spec: &str) -> Result<Vec<(String, String)>> {
    // ostree's wording and order of checks, so scripts that grep it keep working.
    let (ty, key) = spec.split_once('=').ok_or_else(|| Error::Invalid(format!("Failed to parse KEYTYPE=[inline|file]:DATA in {spec}")))?;
    if !["ed25519", "dummy"].contains(&ty) {
        return Err(Error::Invalid(format!("Requested signature type is not implemented: {ty:?}")));
    }
    let (how, data) = key.split_once(':').unwrap_or((key, ""));
    let option = match how {
        "inline" => format!("verification-{ty}-key"),
        "file" => format!("verification-{ty}-file"),
        _ => return Err(Error::Invalid(format!("Invalid key reference {how}, expected inline|file"))),
    };
    Ok(vec![(option, data.to_string()), ("sign-verify".to_string(), ty.to_string())])
}

/// Resolve a file path option relative to nothing (absolute expected).
pub fn option_path(r: &Remote, key: &str) -> Option<PathBuf> {
    r.get(key).filter(|v| !v.is_empty()).map(|v| Path::new(v).to_path_buf())
}
