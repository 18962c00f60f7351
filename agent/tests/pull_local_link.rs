//! `pull-local` links objects instead of copying them, as ostree does
//! (basic-test.sh): metadata from a trusted repository in any mode,
//! content from one in the same mode. From an untrusted one, content is
//! re-hashed and linked only if nobody else can change it afterwards.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

fn same_inode(a: &Path, b: &Path) -> bool {
    let (a, b) = (fs::symlink_metadata(a).expect("stat a"), fs::symlink_metadata(b).expect("stat b"));
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[test]
fn pull_local_hardlinks() {
    let t = scratch();
    let src = t.path().join("src");
    ostree(os_args![repo_arg(&src), "init", "--mode=bare-user"]);
    let tree = t.path().join("tree");
    build_tree(&tree, "f saucer 644 alien\nf x 755 exec");
    let c = ostree(os_args![repo_arg(&src), "commit", "-b", "test2", tree.display().to_string()]);
    let f = ostree(os_args![repo_arg(&src), "ls", "-C", "test2", "/saucer"]).split_whitespace().nth(4).expect("checksum").to_string();
    let rel_commit = format!("objects/{}/{}.commit", &c[..2], &c[2..]);
    let rel_file = format!("objects/{}/{}.file", &f[..2], &f[2..]);

    // Trusted, another mode: the metadata is linked, content converted.
    let archive = t.path().join("archive");
    up(os_args![repo_arg(&archive), "init", "--mode=archive"]);
    up(os_args![repo_arg(&archive), "pull-local", src.display().to_string()]);
    assert!(same_inode(&src.join(&rel_commit), &archive.join(&rel_commit)));
    ostree(os_args![repo_arg(&archive), "fsck"]);

    // Same mode, trusted and untrusted: content is linked too.
    for (name, extra) in [("trusted", None), ("untrusted", Some("--untrusted"))] {
        let dst = t.path().join(name);
        up(os_args![repo_arg(&dst), "init", "--mode=bare-user"]);
        let mut args = vec![repo_arg(&dst), "pull-local".into()];
        args.extend(extra.map(String::from));
        args.extend([src.display().to_string(), "test2".into()]);
        up(&args.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>());
        assert!(same_inode(&src.join(&rel_file), &dst.join(&rel_file)), "{name}");
        ostree(os_args![repo_arg(&dst), "fsck"]);
    }

    // A source object others could change later is copied, not linked.
    let obj = src.join(&rel_file);
    let mode = fs::metadata(&obj).expect("stat").permissions().mode();
    fs::set_permissions(&obj, fs::Permissions::from_mode(mode | 0o020)).expect("chmod");
    let dst = t.path().join("shared");
    up(os_args![repo_arg(&dst), "init", "--mode=bare-user"]);
    up(os_args![repo_arg(&dst), "pull-local", "--untrusted", src.display().to_string(), "test2"]);
    assert!(!same_inode(&obj, &dst.join(&rel_file)), "group-writable source must be copied");
    ostree(os_args![repo_arg(&dst), "fsck"]);
    fs::set_permissions(&obj, fs::Permissions::from_mode(mode)).expect("chmod");

    // A corrupt object is refused in ostree's words, and nothing is kept.
    let tmp = obj.with_extension("tmp");
    // cp -a keeps user.ostreemeta (as the suite's test does).
    ok("cp", os_args!["-a", obj.as_os_str(), tmp.as_os_str()], &[]);
    fs::rename(&tmp, &obj).expect("rename");
    let mut data = fs::read(&obj).expect("read");
    data.extend_from_slice(b"blah\n");
    fs::write(&obj, data).expect("corrupt");
    let dst = t.path().join("corrupt");
    up(os_args![repo_arg(&dst), "init", "--mode=bare-user"]);
    let err = up_fails(os_args![repo_arg(&dst), "pull-local", "--untrusted", src.display().to_string(), "test2"]);
    assert!(err.contains(&format!("Corrupted file object; checksum expected='{f}'")), "{err}");
    assert!(!dst.join(&rel_file).exists());
}
