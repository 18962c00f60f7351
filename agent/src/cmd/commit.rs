//! `commit`.

use ostree_repo::commit::{self, CommitSpec, Layer, Modifier, StatOverride, TreeOptions};
use ostree_repo::object::ObjectType;
use ostree_repo::{datetime, Checksum, Error, Repo};

use super::{key_value, out};
use crate::cli::CommitOpts;
use crate::Result;

pub fn run(mut repo: Repo, o: &CommitOpts) -> Result<i32> {
    if let Some(f) = o.fsync {
        repo.set_fsync(f);
    }
    let body = match &o.body_file {
        Some(p) => std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
        None => o.body.clone(),
    };
    let (parent, parent_none) = match o.parent.as_deref() {
        None => (None, false),
        Some("none") => (None, true),
        Some(p) => (Some(p.parse::<Checksum>()?), false),
    };
    let timestamp = match &o.timestamp {
        Some(t) => Some(datetime::parse(t, commit::default_timestamp()?).ok_or_else(|| Error::Invalid(format!("Could not parse '{t}'")))?),
        None => None,
    };
    let spec = CommitSpec {
        branch: o.branch.clone(),
        subject: o.subject.clone(),
        body,
        metadata_strings: o.add_metadata_string.iter().map(|s| key_value(s)).collect::<Result<_>>()?,
        metadata_values: o.add_metadata.iter().map(|a| super::metadata_arg(a)).collect::<Result<_>>()?,
        keep_metadata: o.keep_metadata.clone(),
        parent,
        parent_none,
        orphan: o.orphan,
        no_bindings: o.no_bindings,
        bind_refs: o.bind_ref.clone(),
        timestamp,
        skip_if_unchanged: o.skip_if_unchanged,
        bootable: o.bootable,
        generate_sizes: o.generate_sizes,
        base: o.base.clone(),
    };
    let mut layers: Vec<Layer> = o.trees.iter().map(|t| Layer::parse(t)).collect::<ostree_repo::Result<_>>()?;
    if let Some(p) = &o.path {
        if !layers.is_empty() {
            return Err(Error::Invalid("give either PATH or --tree, not both".into()).into());
        }
        layers.push(Layer::Dir(p.clone()));
    }
    let statoverride = match &o.statoverride {
        Some(p) => Some(std::sync::Arc::new(StatOverride::parse(&std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?)?)),
        None => None,
    };
    // One path per line, as ostree reads --skip-list.
    let skip_list = match &o.skip_list {
        Some(p) => {
            Some(std::sync::Arc::new(std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()))
        }
        None => None,
    };
    let opts = TreeOptions {
        modifier: Modifier {
            owner_uid: o.owner_uid,
            owner_gid: o.owner_gid,
            no_xattrs: o.no_xattrs,
            canonical_permissions: o.canonical_permissions,
            statoverride,
            ro_executables: o.mode_ro_executables,
            skip_list,
            consume: o.consume,
            devino_canonical: o.devino_canonical,
        },
        link_checkout_speedup: o.link_checkout_speedup || o.devino_canonical,
        tar_autocreate_parents: o.tar_autocreate_parents,
        tar_pathname_filter: o.tar_pathname_filter.as_deref().map(ostree_repo::commit::PathnameFilter::parse).transpose()?,
        threads: 0,
    };
    if !o.gpg_sign.is_empty() {
        // The library moves the branch with the commit: a key that cannot
        // sign is found out first, so no unsigned commit gets published.
        super::gpg_sign::sign_into(None, b"", &o.gpg_sign, o.gpg_homedir.as_deref())?;
    }
    let sign_keys = super::sign::keys_with_file(&o.sign, o.keys_file.as_deref())?;
    let sign_type = uptree_pull::sign::SignType::from_name(&o.sign_type)?;
    for k in &sign_keys {
        // As for GPG: a key that cannot sign fails before the commit.
        sign_type.sign(b"", k)?;
    }
    let detached: Vec<(String, String)> = o.add_detached_metadata_string.iter().map(|s| key_value(s)).collect::<Result<_>>()?;
    let r = commit::commit(&repo, &spec, &layers, opts).map_err(|e| e.context(format!("committing to {}", o.branch.as_deref().unwrap_or("(orphan)"))))?;
    log::info!(
        "{} content objects written ({} bytes), {} metadata objects, {} reused via hardlinks",
        r.content_written,
        r.content_bytes_written,
        r.metadata_written,
        r.devino_hits
    );
    if !detached.is_empty() {
        add_detached_strings(&repo, &r.checksum, &detached)?;
    }
    if !o.gpg_sign.is_empty() {
        let bytes = repo.read_metadata_verified(ObjectType::Commit, &r.checksum)?;
        let path = repo.object_path(&r.checksum, ObjectType::CommitMeta);
        let meta = super::gpg_sign::sign_into(std::fs::read(&path).ok(), &bytes, &o.gpg_sign, o.gpg_homedir.as_deref())?;
        ostree_repo::fsutil::atomic_write(&path, &meta, 0o644, repo.fsync_enabled())?;
    }
    super::sign::sign_commit(&repo, &r.checksum, sign_type, &sign_keys)?;
    if o.consume {
        // Only once every object is durable: the source is the only other copy.
        for l in &layers {
            if let Layer::Dir(p) = l {
                std::fs::remove_dir_all(p).map_err(|e| Error::io(p, e).context("--consume"))?;
            }
        }
    }
    if o.table_output {
        out(&format!(
            "Commit: {}\nMetadata Total: {}\nMetadata Written: {}\nContent Total: {}\nContent Written: {}\nContent Cache Hits: {}\nContent Bytes Written: {}\n",
            r.checksum, r.metadata_total, r.metadata_written, r.content_total, r.content_written, r.devino_hits, r.content_bytes_written
        ))?;
        return Ok(0);
    }
    out(&format!("{}\n", r.checksum))?;
    Ok(0)
}

/// `--add-detached-metadata-string`: the pairs go into the commit's
/// detached metadata (kept entries first, a repeated key replaced), written
/// whole to a temp file and renamed in.
fn add_detached_strings(repo: &Repo, csum: &Checksum, pairs: &[(String, String)]) -> Result<()> {
    use ostree_repo::gvariant::{self, build, Value};
    let path = repo.object_path(csum, ObjectType::CommitMeta);
    let mut entries: Vec<(String, Value)> = match std::fs::read(&path) {
        Ok(bytes) => {
            let meta = Value::from_bytes(&bytes, ostree_repo::object::vardict_type())?;
            gvariant::vardict_entries(&meta).into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&path, e).into()),
    };
    for (k, v) in pairs {
        entries.retain(|(e, _)| e != k);
        entries.push((k.clone(), build::s(v.as_str())));
    }
    ostree_repo::fsutil::atomic_write(&path, &build::vardict(entries).to_bytes(), 0o644, repo.fsync_enabled())?;
    Ok(())
}
