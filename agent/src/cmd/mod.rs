//! One function per verb; `dispatch` is the only `match` over commands.

mod admin;
mod agent;
mod cat;
mod checkout;
mod checksum;
mod commit;
mod config;
#[cfg(feature = "p2p")]
mod create_usb;
mod diff;
#[cfg(feature = "tar")]
mod export;
#[cfg(feature = "p2p")]
mod find_remotes;
mod fsck;
mod gpg_sign;
mod init;
mod log;
mod ls;
mod prune;
mod pull;
mod pull_local;
mod refs;
mod remote;
mod reset;
mod rev_parse;
mod show;
mod sign;
mod static_delta;
mod summary;
mod usb_update;

use std::io::IsTerminal;
use std::path::PathBuf;

use ostree_repo::{Error, Repo};

use crate::cli::{Cli, Command};
use crate::Result;

pub fn dispatch(cli: Cli) -> Result<i32> {
    let repo_path = cli.repo.clone();
    let repo = || open_repo(repo_path.clone());
    match cli.command {
        Command::Init(o) => init::run(&repo_path_or_default(repo_path.clone()), &o),
        Command::Commit(o) => commit::run(repo()?, &o),
        Command::Refs(o) => refs::run(&repo()?, &o),
        Command::RevParse(o) => rev_parse::run(&repo()?, &o),
        Command::Reset(o) => reset::run(&repo()?, &o),
        Command::Show(o) => show::run(&repo()?, &o),
        Command::Log(o) => log::run(&repo()?, &o),
        Command::Ls(o) => ls::run(&repo()?, &o),
        Command::Diff(o) => diff::run(&repo()?, &o),
        Command::Cat(o) => cat::run(&repo()?, &o),
        Command::Checksum(o) => checksum::run(&o),
        #[cfg(feature = "tar")]
        Command::Export(o) => export::run(&repo()?, &o),
        Command::Checkout(o) => checkout::run(&repo()?, &o),
        Command::Fsck(o) => fsck::run(repo()?, &o),
        Command::Prune(o) => prune::run(repo()?, &o),
        // As ostree: a remote verb's --sysroot overrides --repo.
        Command::Remote(o) => remote::run(if let Some(r) = &o.sysroot { open_repo(Some(r.join("ostree/repo")))? } else { repo()? }, &o),
        Command::Summary(o) => summary::run(repo()?, &o),
        Command::Pull(o) => pull::run(repo()?, &o),
        Command::PullLocal(o) => pull_local::run(&repo()?, &o),
        #[cfg(feature = "p2p")]
        Command::FindRemotes(o) => find_remotes::run(repo()?, &o),
        #[cfg(feature = "p2p")]
        Command::CreateUsb(o) => create_usb::run(&repo()?, &o),
        Command::Sign(o) => sign::run(&repo()?, &o),
        Command::GpgSign(o) => gpg_sign::run(&repo()?, &o),
        Command::Config(o) => config::run(repo()?, &o),
        Command::StaticDelta(o) => static_delta::run(repo()?, &o),
        Command::Admin(o) => admin::run(&o),
        Command::Agent(o) => agent::run(&o),
        Command::UsbUpdate(o) => usb_update::run(&o),
    }
}

/// `--repo`, else the current directory if it is a repository, else
/// `$OSTREE_REPO`, else the system repository of `$OSTREE_SYSROOT` (or /)
/// (ostree_repo_new_default).
fn repo_path_or_default(p: Option<PathBuf>) -> PathBuf {
    let cwd_is_repo = || std::path::Path::new("objects").is_dir() && std::path::Path::new("config").is_file();
    let set = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    p.or_else(|| cwd_is_repo().then(|| PathBuf::from(".")))
        .or_else(|| set("OSTREE_REPO"))
        .unwrap_or_else(|| set("OSTREE_SYSROOT").unwrap_or_else(|| PathBuf::from("/")).join("ostree/repo"))
}

fn open_repo(p: Option<PathBuf>) -> Result<Repo> {
    let path = repo_path_or_default(p);
    Ok(Repo::open(&path)?)
}

/// True when progress output should be drawn (stderr is a terminal).
pub(crate) fn progress_enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// Write to stdout, treating a closed pipe (`| head`) as success.
pub(crate) fn out(s: &str) -> Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match o.write_all(s.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r.map_err(|e| Error::io("<stdout>", e))?),
    }
}

/// Parse "K=V".
/// `--add-metadata=KEY=VALUE` (`summary`, `commit`): VALUE in GVariant text format.
pub(crate) fn metadata_arg(arg: &str) -> Result<(String, ostree_repo::gvariant::Value)> {
    let (key, text) = arg.split_once('=').ok_or_else(|| format!("Missing '=' in KEY=VALUE metadata '{arg}'"))?;
    let value = ostree_repo::gvariant_text::parse(text).map_err(|e| format!("Error parsing variant \u{2018}{text}\u{2019}: {e}"))?;
    Ok((key.to_string(), value))
}

pub(crate) fn key_value(s: &str) -> Result<(String, String)> {
    let (k, v) = s.split_once('=').ok_or_else(|| Error::Invalid(format!("Missing '=' in KEY=VALUE metadata '{s}'")))?;
    if k.is_empty() {
        return Err(Error::Invalid("Empty metadata key".into()).into());
    }
    Ok((k.to_string(), v.to_string()))
}
