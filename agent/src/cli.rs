//! Command-line options, spelled as `ostree` spells them so existing
//! runbooks work with the binary renamed. Parsed options are plain data.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "uptree", about = "Over-the-air updates for U-Boot boards, on-disk compatible with OSTree")]
#[command(subcommand_help_heading = "Builtin Commands", disable_help_subcommand = true)]
pub struct Cli {
    /// Repository path (default: the current directory if a repository, else $OSTREE_REPO, else /ostree/repo).
    #[arg(long, global = true, value_name = "PATH", overrides_with = "repo")]
    pub repo: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a repository.
    Init(InitOpts),
    /// Commit a tree (directories, tarballs, existing commits) to a branch.
    Commit(Box<CommitOpts>),
    /// List, create or delete refs.
    Refs(RefsOpts),
    /// Print the commit a ref points to.
    RevParse(RevParseOpts),
    /// Point an existing ref at another commit.
    Reset(ResetOpts),
    /// Show a commit.
    Show(ShowOpts),
    /// Show a commit and its ancestors.
    Log(LogOpts),
    /// List a path of a commit.
    Ls(LsOpts),
    /// Compare two trees (revisions, or directories given as /… or ./…).
    Diff(DiffOpts),
    /// Print the contents of a file of a commit.
    Cat(CatOpts),
    /// Checksum a file or directory.
    Checksum(ChecksumOpts),
    /// Write a commit's tree as a tar file (feature `tar`).
    #[cfg(feature = "tar")]
    Export(ExportOpts),
    /// Check out a commit into a directory.
    Checkout(CheckoutOpts),
    /// Verify every object against its checksum.
    Fsck(FsckOpts),
    /// Delete unreachable objects.
    Prune(PruneOpts),
    /// Manage remote repositories.
    Remote(RemoteOpts),
    /// Write or show the repository summary.
    Summary(SummaryOpts),
    /// Download commits from a remote (https://, http://, file://).
    Pull(PullOpts),
    /// Copy commits from a repository on this machine.
    PullLocal(PullLocalOpts),
    /// Find remotes that serve collection–refs, and optionally pull them (feature `p2p`).
    #[cfg(feature = "p2p")]
    FindRemotes(FindRemotesOpts),
    /// Copy collection–refs onto a mounted volume as ostree's USB layout (feature `p2p`).
    #[cfg(feature = "p2p")]
    CreateUsb(CreateUsbOpts),
    /// Sign a commit with an ed25519 key (detached metadata).
    Sign(SignOpts),
    /// Sign a commit with GPG keys, or delete their signatures (feature `gpg`).
    GpgSign(GpgSignOpts),
    /// Read or change the repository configuration.
    Config(ConfigOpts),
    /// Static deltas: generate, list, show, delete, apply offline.
    StaticDelta(StaticDeltaOpts),
    /// Deployments: the device side (deploy, status, rollback, upgrade…).
    Admin(AdminOpts),
    /// Update this device unattended: scheduled rounds (or one with --once).
    Agent(AgentOpts),
    /// Update from a USB stick (a block device, mounted read-only, or a mount point).
    UsbUpdate(UsbUpdateOpts),
}

#[derive(Debug, Args)]
pub struct UsbUpdateOpts {
    /// The stick: a block device (mounted read-only nosuid,nodev,noexec) or a directory.
    pub source: PathBuf,
    /// The physical root to update.
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub sysroot: PathBuf,
    /// The config file (`[agent]` group; default /etc/uptree/agent.conf).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Stateroot (default: the booted one).
    #[arg(long = "os", value_name = "OSNAME")]
    pub os: Option<String>,
    /// The ref to take from the stick: origin (the origin's), stick (the
    /// stick's ref for the same OS name) or a ref; overrides `usb-ref=`.
    #[arg(long = "usb-ref", visible_alias = "ref", value_name = "origin|stick|REF")]
    pub usb_ref: Option<String>,
    /// Take unsigned commits from the stick (by default they are refused).
    #[arg(long)]
    pub allow_unsigned: bool,
}

#[derive(Debug, Args)]
pub struct AgentOpts {
    /// One round, then exit (for a timer); exit status 1 if it failed.
    #[arg(long)]
    pub once: bool,
    /// The physical root to update; only `/` (booted) ever reboots.
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub sysroot: PathBuf,
    /// The config file (`[agent]` group; default /etc/uptree/agent.conf).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Time between rounds (90, 90s, 15m, 6h, 1d).
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Random extra delay, at most this.
    #[arg(long, value_name = "DURATION")]
    pub jitter: Option<String>,
    /// Maintenance window for reboots, local time HH:MM-HH:MM.
    #[arg(long, value_name = "WINDOW")]
    pub window: Option<String>,
    /// After deploying: never, immediate, window.
    #[arg(long, value_name = "POLICY")]
    pub reboot: Option<String>,
    /// Stateroot (default: the booted one).
    #[arg(long = "os", value_name = "OSNAME")]
    pub os: Option<String>,
    /// Pull progress: none, or json (JSON lines on stderr).
    #[arg(long, value_enum, default_value = "none")]
    pub progress: ProgressArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressArg {
    None,
    Json,
}

// No "Builtin Commands" heading: ostree lists config's verbs in its usage line only.
#[derive(Debug, Args)]
#[command(disable_help_subcommand = true)]
pub struct ConfigOpts {
    #[command(subcommand)]
    pub command: Option<ConfigCommand>,
    /// `config -- set KEY -1`: the verb after `--`, parsed by [`ConfigTail`].
    #[arg(last = true, hide = true)]
    pub tail: Vec<String>,
}

// `config`'s verb when it comes after `--` (clap takes all that as values).
#[derive(Debug, Parser)]
#[command(name = "config", about = "Read or change the repository configuration", disable_help_subcommand = true)]
pub struct ConfigTail {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Print SECTION.KEY.
    Get {
        /// SECTION.KEY, e.g. core.mode or uptree.boot-layout.
        key: String,
        /// Look in --group GROUP for KEY instead of SECTION.KEY.
        #[arg(long)]
        group: Option<String>,
        /// Refused with ostree's "Too many arguments given".
        #[arg(hide = true)]
        extra: Vec<String>,
    },
    /// Set SECTION.KEY to VALUE.
    Set {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
        #[arg(long)]
        group: Option<String>,
        #[arg(hide = true)]
        extra: Vec<String>,
    },
    /// Remove SECTION.KEY.
    Unset {
        key: String,
        #[arg(long)]
        group: Option<String>,
        #[arg(hide = true)]
        extra: Vec<String>,
    },
}

#[derive(Debug, Args)]
#[command(subcommand_help_heading = "Builtin Commands", disable_help_subcommand = true)]
pub struct AdminOpts {
    /// The physical root of the system (default: $OSTREE_SYSROOT, else /).
    #[arg(long, global = true, value_name = "PATH", env = "OSTREE_SYSROOT", default_value = "/")]
    pub sysroot: PathBuf,
    /// Print the directory of the first deployment and exit (as ostree's hidden option).
    #[arg(long, global = true, hide = true)]
    pub print_current_dir: bool,
    #[command(subcommand)]
    pub command: Option<AdminCommand>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create the directories of a sysroot and its repository.
    InitFs {
        path: PathBuf,
        /// Only create /boot and /ostree.
        #[arg(long)]
        modern: bool,
    },
    /// Create a stateroot (its /var) for an operating system.
    OsInit { osname: String },
    /// Check out a commit as a new deployment and make it the default.
    Deploy(DeployOpts),
    /// List deployments.
    Status(StatusOpts),
    /// Remove deployment INDEX.
    Undeploy { index: usize },
    /// Make deployment INDEX the one that boots next.
    SetDefault { index: usize },
    /// Boot the previous deployment next (or keep the booted one, if an update is pending).
    Rollback,
    /// Keep deployments whatever later deploys do (--unpin to release).
    Pin {
        #[arg(required = true)]
        index: Vec<usize>,
        #[arg(long, short = 'u')]
        unpin: bool,
    },
    /// Delete what no boot entry references; prune the repository.
    Cleanup,
    /// Pull the booted deployment's origin and deploy it if it changed.
    Upgrade(UpgradeOpts),
    /// Follow another ref (REMOTE:REF, or REF on the current remote): pull and deploy it.
    Switch(SwitchOpts),
    /// Make /usr writable.
    Unlock(UnlockOpts),
    /// Declare this boot good: run the health checks, then stop boot counting.
    MarkGood(MarkGoodOpts),
    /// Installer utilities (set-kargs).
    Instutil(InstutilOpts),
    /// Change the kernel arguments of deployments.
    Kargs(AdminKargsOpts),
    /// Make a deployment follow REMOTENAME (added if missing) and BRANCH.
    SetOrigin(SetOriginOpts),
}

#[derive(Debug, Args)]
pub struct SetOriginOpts {
    pub remote: String,
    pub url: String,
    /// The ref (default: the deployment's current one).
    pub branch: Option<String>,
    /// Option of a remote that is added (KEY=VALUE).
    #[arg(short = 's', long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The deployment (default: the booted one).
    #[arg(long, value_name = "INDEX")]
    pub index: Option<usize>,
}

#[derive(Debug, Args)]
pub struct InstutilOpts {
    #[command(subcommand)]
    pub command: InstutilCommand,
}

#[derive(Debug, Subcommand)]
pub enum InstutilCommand {
    /// Set the kernel arguments of the first deployment.
    SetKargs(SetKargsOpts),
}

#[derive(Debug, Args)]
pub struct SetKargsOpts {
    /// Start from the running kernel's command line (/proc/cmdline).
    #[arg(long)]
    pub import_proc_cmdline: bool,
    /// Start from the deployment's current arguments.
    #[arg(long)]
    pub merge: bool,
    /// Set an argument, replacing every earlier one of that name.
    #[arg(long, value_name = "NAME=VALUE")]
    pub replace: Vec<String>,
    /// Append an argument.
    #[arg(long, value_name = "NAME=VALUE")]
    pub append: Vec<String>,
    /// Arguments appended last.
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AdminKargsOpts {
    #[command(subcommand)]
    pub command: AdminKargsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminKargsCommand {
    /// Change the arguments of every deployment.
    EditInPlace(EditInPlaceOpts),
}

#[derive(Debug, Args)]
pub struct EditInPlaceOpts {
    /// Append an argument unless one of that name is there.
    #[arg(long, value_name = "NAME=VALUE")]
    pub append_if_missing: Vec<String>,
    /// Accepted and ignored, as ostree does.
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// How kernel arguments are chosen.
#[derive(Debug, Args, Clone, Default)]
pub struct KargArgs {
    /// Set a kernel argument (replacing the merge deployment's values of that key).
    #[arg(long = "karg", value_name = "NAME=VALUE")]
    pub replace: Vec<String>,
    /// Append a kernel argument.
    #[arg(long = "karg-append", value_name = "NAME=VALUE")]
    pub append: Vec<String>,
    /// Delete a kernel argument (NAME or NAME=VALUE).
    #[arg(long = "karg-delete", value_name = "NAME[=VALUE]")]
    pub delete: Vec<String>,
    /// Start from no kernel arguments at all.
    #[arg(long = "karg-none")]
    pub none: bool,
    /// Start from the running kernel's command line (/proc/cmdline).
    #[arg(long = "karg-proc-cmdline")]
    pub proc_cmdline: bool,
}

#[derive(Debug, Args)]
pub struct DeployOpts {
    /// REFSPEC or CHECKSUM.
    pub refspec: String,
    /// Stateroot (default: the booted one, or the only one).
    #[arg(long = "os", value_name = "OSNAME")]
    pub os: Option<String>,
    #[command(flatten)]
    pub kargs: KargArgs,
    /// Keep all existing deployments.
    #[arg(long)]
    pub retain: bool,
    /// Keep pending deployments.
    #[arg(long)]
    pub retain_pending: bool,
    /// Keep rollback deployments.
    #[arg(long)]
    pub retain_rollback: bool,
    /// Put the new deployment after the booted one, not first.
    #[arg(long)]
    pub not_as_default: bool,
    /// Do not merge /etc or inherit kernel arguments.
    #[arg(long)]
    pub no_merge: bool,
    /// Finish the deployment at shutdown (ostree's staging; refused by uptree).
    #[arg(long)]
    pub stage: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusOpts {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Also print kernel arguments and /etc merge details.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Check each deployment's commit against its remote's signature policy.
    #[arg(short = 'V', long)]
    pub verify: bool,
}

#[derive(Debug, Args)]
pub struct UpgradeOpts {
    /// Stateroot (default: the booted one). Given twice, the last counts.
    #[arg(long = "os", value_name = "OSNAME", overrides_with = "os")]
    pub os: Option<String>,
    /// Only pull.
    #[arg(long)]
    pub pull_only: bool,
    /// Only deploy what was pulled before.
    #[arg(long)]
    pub deploy_only: bool,
    /// Deploy this commit of the origin's ref instead of the newest.
    #[arg(long, value_name = "CHECKSUM")]
    pub override_commit: Option<String>,
    /// Allow deploying a commit older than the current one.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Finish the deployment at shutdown (ostree's staging; refused by uptree).
    #[arg(long)]
    pub stage: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Debug, Args)]
pub struct SwitchOpts {
    /// The new origin: REMOTE:REF, or REF (keeps the current remote).
    pub refspec: String,
    #[command(flatten)]
    pub upgrade: UpgradeOpts,
}

#[derive(Debug, Args)]
pub struct UnlockOpts {
    /// Keep the overlay across reboots (a copy of the deployment stays as rollback).
    #[arg(long)]
    pub hotfix: bool,
    /// Deployment to unlock (default: the booted one).
    pub index: Option<usize>,
}

#[derive(Debug, Args)]
pub struct MarkGoodOpts {
    /// Directory of health checks: executables run in name order; all must succeed.
    #[arg(long, value_name = "DIR", default_value = "/etc/uptree/health-check.d")]
    pub hooks_dir: PathBuf,
    /// Seconds each health check may take.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(subcommand_help_heading = "Builtin Commands", disable_help_subcommand = true)]
pub struct RemoteOpts {
    /// `remote add`: add to this sysroot's repository (as libostree places
    /// it: the repo config, or the deployment's /etc/ostree/remotes.d).
    #[arg(long, global = true, value_name = "PATH")]
    pub sysroot: Option<PathBuf>,
    #[command(subcommand)]
    pub command: RemoteCommand,
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote.
    Add(RemoteAddOpts),
    /// List remotes.
    List {
        /// Show URLs too.
        #[arg(short = 'u', long = "show-urls")]
        show_urls: bool,
    },
    /// Delete a remote.
    Delete {
        name: String,
        /// Do nothing if it does not exist.
        #[arg(long)]
        if_exists: bool,
    },
    /// Print a remote's URL.
    ShowUrl { name: String },
    /// List the refs a remote's summary offers.
    Refs { name: String },
    /// Add a cookie that pulls from the remote send (DOMAIN and PATH scope it).
    AddCookie { name: String, domain: String, path: String, cookie_name: String, value: String },
    /// Remove a cookie from the remote's jar.
    DeleteCookie {
        name: String,
        domain: String,
        path: String,
        cookie_name: String,
        /// ostree accepts (and ignores) the value too.
        #[arg(hide = true)]
        _value: Option<String>,
    },
    /// Show the remote's cookies.
    ListCookies { name: String },
    /// Import GPG keys into the remote's keyring (NAME.trustedkeys.gpg).
    GpgImport(RemoteGpgImportOpts),
    /// Show the remote's summary (and its GPG signatures, where it checks them).
    Summary {
        name: String,
        /// Show raw variant data.
        #[arg(long)]
        raw: bool,
        /// Use custom cache dir (the summary is cached in DIR/summaries).
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Show the GPG keys trusted for the remote (no NAME: the global keyrings).
    GpgListKeys { name: Option<String> },
}

#[derive(Debug, Args)]
pub struct RemoteGpgImportOpts {
    pub name: String,
    /// Import only these keys (key ID or fingerprint).
    pub key_ids: Vec<String>,
    /// Import keys from a keyring file (repeatable).
    #[arg(short = 'k', long = "keyring", value_name = "FILE")]
    pub keyring: Vec<PathBuf>,
    /// Import keys from standard input.
    #[arg(long)]
    pub stdin: bool,
}

#[derive(Debug, Args)]
pub struct RemoteAddOpts {
    pub name: String,
    /// Not needed with --custom-backend.
    #[arg(required_unless_present = "custom_backend")]
    pub url: Option<String>,
    /// Branches to pull when none are given.
    pub branches: Vec<String>,
    /// Disable GPG verification.
    #[arg(long)]
    pub no_gpg_verify: bool,
    /// Import GPG keys from FILE into the remote's keyring.
    #[arg(long, value_name = "FILE")]
    pub gpg_import: Option<PathBuf>,
    /// Set a remote option KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// ed25519, ed25519=inline:PUBKEY or ed25519=file:PATH.
    #[arg(long, value_name = "TYPE[=inline:KEY|file:PATH]")]
    pub sign_verify: Vec<String>,
    /// Verify no signatures at all: sets gpg-verify and sign-verify to false, as ostree does.
    #[arg(long, conflicts_with = "sign_verify")]
    pub no_sign_verify: bool,
    /// The collection ID the remote's refs belong to (their commits must be bound to it).
    #[arg(long, value_name = "COLLECTION-ID")]
    pub collection_id: Option<String>,
    /// Do nothing if the remote exists.
    #[arg(long, conflicts_with = "force")]
    pub if_not_exists: bool,
    /// Replace the remote if it exists.
    #[arg(long)]
    pub force: bool,
    /// Fetch objects from this URL (summary, config and signatures from URL).
    #[arg(long, value_name = "URL")]
    pub contenturl: Option<String>,
    /// The remote is served by another tool (e.g. ostree-rs-ext); pull refuses it.
    #[arg(long, value_name = "NAME")]
    pub custom_backend: Option<String>,
}

#[derive(Debug, Args)]
pub struct SummaryOpts {
    /// Regenerate the summary.
    #[arg(short = 'u', long)]
    pub update: bool,
    /// Print the refs in the summary.
    #[arg(short = 'v', long)]
    pub view: bool,
    /// Print the summary as raw GVariant text.
    #[arg(long)]
    pub raw: bool,
    /// Sign the summary with this base64 ed25519 secret key (repeatable).
    #[arg(long, value_name = "SECRET")]
    pub sign: Vec<String>,
    /// Signature type.
    #[arg(long, default_value = "ed25519")]
    pub sign_type: String,
    /// GPG key ID to sign the summary with (repeatable; feature `gpg`).
    #[arg(long, value_name = "KEY-ID")]
    pub gpg_sign: Vec<String>,
    /// GPG home directory with the secret keys (its secring.gpg).
    #[arg(long, value_name = "HOMEDIR")]
    pub gpg_homedir: Option<PathBuf>,
    /// Additional metadata field to add to the summary (VALUE in GVariant
    /// text format, e.g. `'text'`, `true`, `@t 123`; repeatable).
    #[arg(short = 'm', long, value_name = "KEY=VALUE")]
    pub add_metadata: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetArgs {
    /// Retries per object after a network failure.
    #[arg(long, default_value_t = 5)]
    pub network_retries: u32,
    /// Abort a transfer after this many seconds without data.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub stall_timeout: u64,
    /// Parallel fetches (default 8; more helps on long-latency links).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Progress as JSON lines on stderr.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PullOpts {
    /// REMOTE or REMOTE:REF.
    pub remote: String,
    /// Never use static deltas, fetch objects.
    #[arg(long, conflicts_with = "require_static_deltas")]
    pub disable_static_deltas: bool,
    /// Fail unless the update comes through a static delta.
    #[arg(long)]
    pub require_static_deltas: bool,
    /// Refs or commit checksums (default: the remote's branches).
    pub refs: Vec<String>,
    /// Fetch commit objects only.
    #[arg(long)]
    pub commit_metadata_only: bool,
    /// Also fetch N parents (-1: all).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub depth: i64,
    /// Write refs/heads (mirror the remote), and its summary if pulling all refs.
    #[arg(long)]
    pub mirror: bool,
    /// Do not check the commit's ref binding.
    #[arg(long)]
    pub disable_verify_bindings: bool,
    /// Cache signed summaries in DIR/summaries instead of the repo's tmp/cache.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Refuse to move a ref to a commit older than the one it names (always
    /// on for remotes whose commits must be signed, unless --allow-downgrade).
    #[arg(short = 'T', long, conflicts_with = "allow_downgrade")]
    pub timestamp_check: bool,
    /// Refuse fetched commits older than REV.
    #[arg(long, value_name = "REV", conflicts_with = "allow_downgrade")]
    pub timestamp_check_from_rev: Option<String>,
    /// Let a ref of a signed remote move to an older commit.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Only pull the given subpath(s) of the tree (the commit stays partial).
    #[arg(long, value_name = "PATH")]
    pub subpath: Vec<String>,
    /// Pull objects from this URL instead of the remote's.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Add NAME=VALUE as an HTTP header to every request.
    #[arg(long, value_name = "NAME=VALUE")]
    pub http_header: Vec<String>,
    /// Append this to the User-Agent ("libostree/VERSION").
    #[arg(long, value_name = "PRODUCT/VERSION")]
    pub append_user_agent: Option<String>,
    /// Take objects from this local repository when it has them.
    #[arg(short = 'L', long, value_name = "REPO")]
    pub localcache_repo: Vec<PathBuf>,
    /// Reject regular files with modes outside 0775 (setuid, world-writable…).
    #[arg(long)]
    pub bareuseronly_files: bool,
    /// Only print what a static delta would download (requires static deltas).
    #[arg(long)]
    pub dry_run: bool,
    /// Do not fsync (tests, scratch repositories).
    #[arg(long)]
    pub disable_fsync: bool,
    /// Accepted for ostree compatibility; uptree's writes never stall others.
    #[arg(long)]
    pub per_object_fsync: bool,
    /// Accepted for ostree compatibility; uptree hashes every object it pulls.
    #[arg(long)]
    pub http_trusted: bool,
    /// Accepted for ostree compatibility (always on for pull).
    #[arg(long)]
    pub untrusted: bool,
    /// Accepted for ostree compatibility (progress redraw interval, ms).
    #[arg(long, value_name = "FREQUENCY", default_value_t = 0)]
    pub update_frequency: u32,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Debug, Args)]
pub struct PullLocalOpts {
    /// Source repository path.
    pub src: PathBuf,
    pub refs: Vec<String>,
    /// Write refs as refs/remotes/NAME/…. Then NAME's signature policy
    /// applies and every object is re-hashed, as for `pull`.
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Re-hash every object from the source (always, with --remote).
    #[arg(long)]
    pub untrusted: bool,
    /// GPG verify commits (needs --remote; feature `gpg`).
    #[arg(long, requires = "remote", num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "IGNORED", value_parser = glib_flag)]
    pub gpg_verify: Option<bool>,
    /// GPG verify the summary (needs --remote; feature `gpg`).
    #[arg(long, requires = "remote", num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "IGNORED", value_parser = glib_flag)]
    pub gpg_verify_summary: Option<bool>,
    /// Let a ref of a signed remote move to an older commit.
    #[arg(long)]
    pub allow_downgrade: bool,
    #[arg(long)]
    pub commit_metadata_only: bool,
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub depth: i64,
    #[arg(long)]
    pub disable_verify_bindings: bool,
    /// Require static deltas (fail where the source has none).
    #[arg(long)]
    pub require_static_deltas: bool,
    /// Refuse regular files with modes outside 0775 (bare-user-only rules).
    #[arg(long)]
    pub bareuseronly_files: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// A GLib boolean option (`G_OPTION_ARG_NONE`): `--flag=VALUE` turns it on
/// whatever VALUE says, as in ostree (scripts write `--gpg-verify=true`).
fn glib_flag(_: &str) -> std::result::Result<bool, std::convert::Infallible> {
    Ok(true)
}

#[derive(Debug, Args)]
pub struct GpgSignOpts {
    /// Commit or ref to sign.
    pub commit: String,
    /// Key IDs (or fingerprints) to sign with.
    #[arg(required = true)]
    pub key_ids: Vec<String>,
    /// Delete signatures having any of the GPG KEY-IDs.
    #[arg(short = 'd', long)]
    pub delete: bool,
    /// GPG home directory with the secret keys (its secring.gpg).
    #[arg(long, value_name = "HOMEDIR")]
    pub gpg_homedir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SignOpts {
    /// Commit or ref to sign.
    pub rev: String,
    /// base64 ed25519 secret keys (seed+public, 64 bytes).
    pub keys: Vec<String>,
    /// Signature type.
    #[arg(short = 's', long, default_value = "ed25519")]
    pub sign_type: String,
    /// Read keys from FILE, one per line.
    #[arg(long, value_name = "FILE")]
    pub keys_file: Option<PathBuf>,
    /// With --verify: also the keys under DIR (trusted.ed25519{,.d}, revoked.ed25519{,.d}).
    #[arg(long, value_name = "DIR")]
    pub keys_dir: Option<PathBuf>,
    /// Verify instead of signing, with base64 public keys.
    #[arg(long)]
    pub verify: bool,
}

#[derive(Debug, Args)]
pub struct InitOpts {
    /// archive (stored as archive-z2), bare, bare-user or bare-user-only.
    #[arg(long, default_value = "bare")]
    pub mode: String,
    /// Set core.collection-id.
    #[arg(long, value_name = "ID")]
    pub collection_id: Option<String>,
    /// Ignored, as ostree ignores extra arguments here (basic-test.sh
    /// runs `init init --mode=archive`).
    #[arg(hide = true)]
    pub ignored: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CommitOpts {
    /// Branch to commit to.
    #[arg(short = 'b', long = "branch", value_name = "BRANCH")]
    pub branch: Option<String>,
    /// One-line subject.
    #[arg(short = 's', long, default_value = "")]
    pub subject: String,
    /// Full description.
    #[arg(short = 'm', long, default_value = "")]
    pub body: String,
    /// Read the body from FILE.
    #[arg(short = 'F', long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Parent commit checksum, or "none".
    #[arg(long, value_name = "COMMIT")]
    pub parent: Option<String>,
    /// Create a commit without writing a ref.
    #[arg(long)]
    pub orphan: bool,
    /// Do not write ref bindings.
    #[arg(long)]
    pub no_bindings: bool,
    /// Add a ref to the ref binding.
    #[arg(long, value_name = "BRANCH")]
    pub bind_ref: Vec<String>,
    /// Add KEY=VALUE string metadata (repeatable, order kept).
    #[arg(long, value_name = "KEY=VALUE")]
    pub add_metadata_string: Vec<String>,
    /// Add KEY=VALUE metadata, VALUE in GVariant text format (e.g. 'uint64 42').
    #[arg(long, value_name = "KEY=VALUE")]
    pub add_metadata: Vec<String>,
    /// Keep metadata KEY and its value from the parent commit.
    #[arg(long, value_name = "KEY")]
    pub keep_metadata: Vec<String>,
    /// Add KEY=VALUE string to the detached metadata.
    #[arg(long, value_name = "KEY=VALUE")]
    pub add_detached_metadata_string: Vec<String>,
    /// Commit timestamp (e.g. "2024-01-31 12:00:00", "@1700000000").
    #[arg(long, value_name = "TIMESTAMP")]
    pub timestamp: Option<String>,
    /// Overlay a tree: dir=PATH, tar=FILE (plain or gzip, - for stdin) or ref=COMMIT; later ones win.
    #[arg(long = "tree", value_name = "dir=PATH|tar=FILE|ref=COMMIT")]
    pub trees: Vec<String>,
    /// Set file ownership user id.
    #[arg(long, value_name = "UID")]
    pub owner_uid: Option<u32>,
    /// Set file ownership group id.
    #[arg(long, value_name = "GID")]
    pub owner_gid: Option<u32>,
    /// Do not import extended attributes.
    #[arg(long)]
    pub no_xattrs: bool,
    /// Canonicalize permissions as bare-user-only does.
    #[arg(long)]
    pub canonical_permissions: bool,
    /// Ensure executable files are not writable.
    #[arg(long)]
    pub mode_ro_executables: bool,
    /// Print a table of what was written instead of the checksum.
    #[arg(long)]
    pub table_output: bool,
    /// File listing paths ("/a/b", one a line) to leave out of the commit.
    #[arg(long, value_name = "PATH")]
    pub skip_list: Option<PathBuf>,
    /// File of mode changes: lines "MODE /path" (added) or "=MODE /path" (set), MODE in decimal.
    #[arg(long, value_name = "PATH")]
    pub statoverride: Option<PathBuf>,
    /// Reuse checksums of files hardlinked from this repository's objects.
    #[arg(long)]
    pub link_checkout_speedup: bool,
    /// Assume files hardlinked from this repository's objects are unmodified
    /// (implies --link-checkout-speedup).
    #[arg(short = 'I', long)]
    pub devino_canonical: bool,
    /// Create missing parent directories of tar entries.
    #[arg(long)]
    pub tar_autocreate_parents: bool,
    /// When loading tar archives, use REGEX,REPLACEMENT to match and replace path names (feature `tar`).
    #[arg(long, value_name = "REGEX,REPLACEMENT")]
    pub tar_pathname_filter: Option<String>,
    /// Do nothing if the tree equals the parent's.
    #[arg(long)]
    pub skip_if_unchanged: bool,
    /// Start from the given commit as a base, apply the tree on top.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Generate size information along with commit metadata.
    #[arg(long)]
    pub generate_sizes: bool,
    /// Record the kernel found in usr/lib/modules (ostree.bootable, ostree.linux).
    #[arg(long)]
    pub bootable: bool,
    /// Delete the committed directories once the commit is written.
    #[arg(long)]
    pub consume: bool,
    /// Whether to sync to disk (default: the repo's core.fsync).
    /// GPG key ID to sign the commit with (repeatable; feature `gpg`).
    #[arg(long, value_name = "KEY-ID")]
    pub gpg_sign: Vec<String>,
    /// GPG home directory with the secret keys (its secring.gpg).
    #[arg(long, value_name = "HOMEDIR")]
    pub gpg_homedir: Option<PathBuf>,
    /// Sign the commit with this secret key (repeatable; see --sign-type).
    #[arg(long, value_name = "KEY-ID")]
    pub sign: Vec<String>,
    /// Signature type for --sign: ed25519 (or ostree's test-only dummy).
    #[arg(long, value_name = "NAME", default_value = "ed25519")]
    pub sign_type: String,
    /// Read secret keys for --sign-type from FILE, one per line.
    #[arg(long, value_name = "FILE")]
    pub keys_file: Option<PathBuf>,
    #[arg(long, value_name = "BOOL")]
    pub fsync: Option<bool>,
    /// Directory to commit (default: .), same as --tree=dir=PATH.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RefsOpts {
    /// Only refs starting with PREFIX (printed without it unless --list).
    pub prefixes: Vec<String>,
    /// With --create: make NEWREF an alias (a symlink) of the ref PREFIX; alone: list aliases.
    #[arg(short = 'A', long)]
    pub alias: bool,
    /// With --create: overwrite an existing ref.
    #[arg(long)]
    pub force: bool,
    /// Refs with their collection IDs, "(COLLECTION, REF)"; PREFIX is a
    /// collection ID and --create takes COLLECTION:REF.
    #[arg(short = 'c', long)]
    pub collections: bool,
    /// Print full ref names.
    #[arg(long)]
    pub list: bool,
    /// Delete the given refs (or all under PREFIX).
    #[arg(long)]
    pub delete: bool,
    /// Create ref NEWREF pointing at the commit given as PREFIX.
    #[arg(long, value_name = "NEWREF")]
    pub create: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[cfg(feature = "p2p")]
#[derive(Debug, Args)]
pub struct CreateUsbOpts {
    /// The mounted volume.
    #[arg(value_name = "MOUNT-PATH")]
    pub mount: PathBuf,
    /// COLLECTION-ID REF [COLLECTION-ID REF...]
    #[arg(value_name = "COLLECTION-ID REF", required = true)]
    pub pairs: Vec<String>,
    /// Use custom repository directory within the mount.
    #[arg(long, value_name = "DEST", default_value = ".ostree/repo")]
    pub destination_repo: String,
    /// Pull a specific commit (only works when a single ref is specified).
    #[arg(long, value_name = "COMMIT")]
    pub commit: Option<String>,
    /// Accepted as ostree's; ignored: a stick is unplugged next, so it is always written durably.
    #[arg(long)]
    pub disable_fsync: bool,
}

#[cfg(feature = "p2p")]
#[derive(Debug, Args)]
pub struct FindRemotesOpts {
    /// COLLECTION-ID REF [COLLECTION-ID REF...]
    #[arg(value_name = "COLLECTION-ID REF")]
    pub pairs: Vec<String>,
    /// Comma separated finders to use (config, mount).
    #[arg(long, value_name = "FINDERS")]
    pub finders: Option<String>,
    /// Pull the updates after finding them.
    #[arg(long)]
    pub pull: bool,
    /// Do a mirror pull (see pull --mirror); needs --pull.
    #[arg(long, requires = "pull")]
    pub mirror: bool,
    /// Use custom cache dir.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not invoke fsync().
    #[arg(long)]
    pub disable_fsync: bool,
}

#[derive(Debug, Args)]
pub struct ResetOpts {
    /// The ref to move.
    pub r#ref: String,
    /// Where to: a checksum, ref or REV^.
    pub commit: String,
}

#[derive(Debug, Args)]
pub struct RevParseOpts {
    /// REF, [REMOTE:]REF, checksum, optionally followed by ^.
    #[arg(required_unless_present = "single", conflicts_with = "single")]
    pub rev: Option<String>,
    /// Print the repository's only commit; an error if it has none or several.
    #[arg(short = 'S', long)]
    pub single: bool,
}

#[derive(Debug, Args)]
pub struct ShowOpts {
    pub rev: String,
    /// Show the commit size metadata (ostree.sizes).
    #[arg(long)]
    pub print_sizes: bool,
    /// Print only the GVariant text of this metadata key.
    #[arg(long, value_name = "KEY")]
    pub print_metadata_key: Option<String>,
    /// Print only the GVariant text of this detached metadata key.
    #[arg(long, value_name = "KEY")]
    pub print_detached_metadata_key: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Also trust the keyrings (*.gpg) in HOMEDIR when showing GPG signatures.
    #[arg(long, value_name = "HOMEDIR")]
    pub gpg_homedir: Option<PathBuf>,
    /// Show GPG signatures as checked with this remote's keys.
    #[arg(long, value_name = "REMOTE")]
    pub gpg_verify_remote: Option<String>,
    /// Show raw variant data.
    #[arg(long)]
    pub raw: bool,
    /// Do not convert printed metadata values from big endian.
    #[arg(short = 'B', long)]
    pub no_byteswap: bool,
}

#[derive(Debug, Args)]
pub struct LogOpts {
    pub rev: String,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LsOpts {
    pub rev: String,
    /// Paths to list (default: /).
    pub paths: Vec<String>,
    /// Recurse into directories.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Show checksums.
    #[arg(short = 'C', long)]
    pub checksum: bool,
    /// List directories themselves, not their contents.
    #[arg(short = 'd', long)]
    pub dironly: bool,
    /// Show extended attributes.
    #[arg(short = 'X', long)]
    pub xattrs: bool,
}

#[derive(Debug, Args)]
pub struct DiffOpts {
    /// The old side (with no second argument: its parent, and it is the new side).
    #[arg(value_name = "REV_OR_DIR")]
    pub from: String,
    /// The new side.
    #[arg(value_name = "REV_OR_DIR")]
    pub to: Option<String>,
    /// Print object counts: each commit's and the ones they share.
    #[arg(long)]
    pub stats: bool,
    /// Print the file system diff (the default without --stats).
    #[arg(long)]
    pub fs_diff: bool,
    /// Leave extended attributes out of the comparison.
    #[arg(long)]
    pub no_xattrs: bool,
    /// Use file ownership user id for local files (the last one given counts, as in ostree).
    #[arg(long, value_name = "UID", overrides_with = "owner_uid")]
    pub owner_uid: Option<u32>,
    /// Use file ownership group id for local files.
    #[arg(long, value_name = "GID", overrides_with = "owner_gid")]
    pub owner_gid: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ChecksumOpts {
    pub path: PathBuf,
    /// Don't include xattrs in checksum.
    #[arg(long)]
    pub ignore_xattrs: bool,
}

#[cfg(feature = "tar")]
#[derive(Debug, Args)]
pub struct ExportOpts {
    pub rev: String,
    /// Skip output of extended attributes
    #[arg(long)]
    pub no_xattrs: bool,
    /// Checkout sub-directory PATH
    #[arg(long, value_name = "PATH")]
    pub subpath: Option<String>,
    /// Add PATH as prefix to archive pathnames
    #[arg(long, value_name = "PATH")]
    pub prefix: Option<String>,
    /// Output to PATH
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CatOpts {
    pub rev: String,
    pub paths: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckoutOpts {
    pub rev: String,
    /// Destination (default: the ref's last path component).
    pub dest: Option<PathBuf>,
    /// User mode: no chown, no xattrs, no setuid/setgid.
    #[arg(short = 'U', long)]
    pub user_mode: bool,
    /// Do not update or use the repository's uncompressed object cache
    /// (user-mode checkouts of archive repositories).
    #[arg(long)]
    pub disable_cache: bool,
    /// Overwrite existing files, merge into existing directories.
    #[arg(long)]
    pub union: bool,
    /// Keep existing files, add missing ones.
    #[arg(long)]
    pub union_add: bool,
    /// Keep existing files identical to the commit's, fail on others (needs -H).
    #[arg(long)]
    pub union_identical: bool,
    /// Accepted for ostree compatibility: empty files are never hardlinked.
    #[arg(short = 'z', long)]
    pub force_copy_zerosized: bool,
    /// Suppress mode bits outside of 0775 for directories (suid, world writable, etc.).
    #[arg(short = 'M', long)]
    pub bareuseronly_dirs: bool,
    /// Do nothing if the --subpath does not exist.
    #[arg(long)]
    pub allow_noent: bool,
    /// Check out only this path of the commit.
    #[arg(long, value_name = "PATH")]
    pub subpath: Option<String>,
    /// Never hardlink.
    #[arg(short = 'C', long)]
    pub force_copy: bool,
    /// Fail instead of copying when a hardlink is impossible.
    #[arg(short = 'H', long)]
    pub require_hardlinks: bool,
    /// Turn `.ostree-wh.NAME` files into overlayfs whiteouts (char devices 0:0).
    #[arg(long)]
    pub process_passthrough_whiteouts: bool,
    /// File listing paths ("/a/b", one a line) not to check out.
    #[arg(long, value_name = "PATH")]
    pub skip_list: Option<PathBuf>,
    /// Sync the destination's filesystem when done.
    #[arg(long, value_name = "BOOL", default_value_t = false)]
    pub fsync: bool,
}

#[derive(Debug, Args)]
pub struct FsckOpts {
    /// Delete corrupt objects and mark their commits partial for re-pull.
    #[arg(long)]
    pub delete: bool,
    /// Machine-readable report.
    #[arg(long)]
    pub json: bool,
    /// Only print problems.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Accepted for ostree compatibility: uptree always checks everything.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Check that each ref's commit is bound to that ref (and collection).
    #[arg(long)]
    pub verify_bindings: bool,
    /// Check that each commit's bound refs exist.
    #[arg(long)]
    pub verify_back_refs: bool,
    /// Replace commits whose parent is missing with tombstones.
    #[arg(long)]
    pub add_tombstones: bool,
}

#[derive(Debug, Args)]
pub struct PruneOpts {
    /// Roots are the refs only (unreferenced commits are deleted too).
    #[arg(long)]
    pub refs_only: bool,
    /// Keep only N parents behind each ref (-1: all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub depth: i64,
    /// Also keep commits newer than DATE ("2024-01-31", "2 weeks ago").
    #[arg(long, value_name = "DATE")]
    pub keep_younger_than: Option<String>,
    /// Only report what would be deleted.
    #[arg(long)]
    pub no_prune: bool,
    /// Accepted for ostree compatibility (its debug output).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Delete this commit first (refused while a ref points at it).
    #[arg(long, value_name = "COMMIT")]
    pub delete_commit: Option<String>,
    /// With --delete-commit: delete only the static deltas to that commit.
    #[arg(long)]
    pub static_deltas_only: bool,
    /// Additionally retain BRANCH=DEPTH commits.
    #[arg(long, value_name = "BRANCH=DEPTH")]
    pub retain_branch_depth: Vec<String>,
    /// Only prune BRANCH (may be given more than once).
    #[arg(long = "only-branch", value_name = "BRANCH")]
    pub only_branch: Vec<String>,
    /// Only traverse and delete commit objects.
    #[arg(long)]
    pub commit_only: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("uptree").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn ostree_global_options() {
        Cli::command().debug_assert();
        // ostree takes the last --repo (test-auto-summary.sh gives two).
        let c = parse(&["refs", "--repo=a", "--repo=b"]);
        assert_eq!(c.repo.as_deref(), Some(std::path::Path::new("b")));
    }

    #[test]
    fn ostree_spellings() {
        let c = parse(&[
            "--repo=r",
            "commit",
            "-b",
            "os/main",
            "-s",
            "S",
            "--add-metadata-string=version=1",
            "--add-metadata-string",
            "k=v",
            "--tree=dir=a",
            "--tree=ref=os/base",
            "--owner-uid=0",
        ]);
        let Command::Commit(o) = c.command else { panic!("commit") };
        assert_eq!(o.branch.as_deref(), Some("os/main"));
        assert_eq!(o.add_metadata_string, vec!["version=1", "k=v"]);
        assert_eq!(o.trees, vec!["dir=a", "ref=os/base"]);
        assert_eq!(o.owner_uid, Some(0));
        let c = parse(&["init", "--repo=x", "--mode=archive"]);
        assert_eq!(c.repo.as_deref(), Some(std::path::Path::new("x")));
        let c = parse(&["prune", "--refs-only", "--depth=-1", "--keep-younger-than=2 weeks ago"]);
        let Command::Prune(p) = c.command else { panic!("prune") };
        assert!(p.refs_only && p.depth == -1);
        assert!(Cli::try_parse_from(["uptree", "frobnicate"]).is_err());
    }

    /// GLib ignores the value of a flag given as `--flag=VALUE`:
    /// test-admin-gpg.sh runs `pull-local --gpg-verify=true`.
    #[test]
    fn glib_flags_take_an_ignored_value() {
        for (arg, on) in [("--gpg-verify", true), ("--gpg-verify=true", true), ("--gpg-verify=false", true), ("--untrusted", false)] {
            let c = parse(&["pull-local", "--remote=r", arg, "src", "main"]);
            let Command::PullLocal(o) = c.command else { panic!("pull-local") };
            assert_eq!(o.gpg_verify.is_some(), on, "{arg}");
            assert_eq!(o.refs, vec!["main"], "{arg}: the ref is not taken as the flag's value");
        }
    }
}

#[derive(Debug, Args)]
#[command(subcommand_help_heading = "Builtin Commands", disable_help_subcommand = true)]
pub struct StaticDeltaOpts {
    #[command(subcommand)]
    pub command: StaticDeltaCommand,
}

#[derive(Debug, Subcommand)]
pub enum StaticDeltaCommand {
    /// List the deltas in the repository.
    List,
    /// Describe a delta (FROM-TO or TO).
    Show { delta: String },
    /// Delete a delta.
    Delete { delta: String },
    /// Apply a delta directory (or superblock file) without a network.
    ApplyOffline(ApplyOfflineOpts),
    /// Build a delta from one commit (or from nothing) to another.
    Generate(GenerateOpts),
    /// List the delta index files.
    Indexes,
    /// Rewrite the delta index files (delta-indexes/).
    Reindex {
        /// Only the index of deltas to this commit.
        #[arg(long, value_name = "REV")]
        to: Option<String>,
    },
    /// Check a delta's parts against their checksums and, given public
    /// keys (base64 ed25519), its signature.
    Verify {
        delta: String,
        keys: Vec<String>,
        /// Signature type: ed25519 (or ostree's test-only dummy).
        #[arg(long, default_value = "ed25519")]
        sign_type: String,
        /// Read public keys from FILE, one per line.
        #[arg(long, value_name = "FILE")]
        keys_file: Option<PathBuf>,
        /// Also the keys under DIR (trusted.ed25519{,.d}, revoked.ed25519{,.d}).
        #[arg(long, value_name = "DIR")]
        keys_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ApplyOfflineOpts {
    /// Delta directory, or its superblock file.
    pub path: PathBuf,
    /// Public keys: with any key (or core.sign-verify-deltas) the
    /// superblock's signature is checked first.
    pub keys: Vec<String>,
    /// Signature type: ed25519 (or ostree's test-only dummy).
    #[arg(long, default_value = "ed25519")]
    pub sign_type: String,
    /// Read public keys from FILE, one per line.
    #[arg(long, value_name = "FILE")]
    pub keys_file: Option<PathBuf>,
    /// Also the keys under DIR (trusted.ed25519{,.d}, revoked.ed25519{,.d}).
    #[arg(long, value_name = "DIR")]
    pub keys_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateOpts {
    /// Source commit (default: the target's parent).
    #[arg(long, value_name = "REV")]
    pub from: Option<String>,
    /// Target commit.
    #[arg(long, value_name = "REV")]
    pub to: Option<String>,
    /// A delta from nothing: every object of the target.
    #[arg(long, conflicts_with = "from")]
    pub empty: bool,
    /// Put the parts in the superblock.
    #[arg(long)]
    pub inline: bool,
    /// Do nothing if the delta exists.
    #[arg(long)]
    pub if_not_exists: bool,
    /// Files at least this many MB are fetched as plain objects (0: never).
    /// Without it, files from 4 MB are carried in a part of their own when
    /// xz makes that smaller than the plain object, else fetched as one.
    #[arg(long, value_name = "MB")]
    pub min_fallback_size: Option<u64>,
    /// Do not bsdiff files larger than this many MB.
    #[arg(long, value_name = "MB")]
    pub max_bsdiff_size: Option<u64>,
    /// Cut parts at about this many MB (uncompressed).
    #[arg(long, value_name = "MB")]
    pub max_chunk_size: Option<u64>,
    /// Never use bsdiff.
    #[arg(long)]
    pub disable_bsdiff: bool,
    /// Choose metadata endianness ('l' or 'B').
    #[arg(long, value_name = "ENDIAN")]
    pub set_endianness: Option<String>,
    /// Swap metadata endianness from host order.
    #[arg(long)]
    pub swap_endianness: bool,
    /// Sign the superblock with this base64 ed25519 secret key (repeatable).
    #[arg(long, value_name = "KEY")]
    pub sign: Vec<String>,
    /// Signature type: ed25519 (or ostree's test-only dummy).
    #[arg(long, default_value = "ed25519")]
    pub sign_type: String,
    /// Read secret keys for --sign-type from FILE, one per line.
    #[arg(long, value_name = "FILE")]
    pub keys_file: Option<PathBuf>,
    /// Write the superblock to PATH and the parts beside it, not into the
    /// repository (as ostree's --filename).
    #[arg(long, value_name = "PATH")]
    pub filename: Option<PathBuf>,
    /// Target REV when given without --to (ostree's positional form).
    pub rev: Option<String>,
}
