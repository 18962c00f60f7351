//! `commit --consume` (basic-test.sh "adopt"): in a bare-user-only
//! repository the source file becomes the object, as with ostree, and the
//! source tree is gone once the commit is made.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::*;

#[test]
fn consume_adopts_into_bare_user_only() {
    let t = scratch();
    let (orepo, urepo) = init_both(t.path(), "bare-user-only");
    let mut commits = Vec::new();
    for (tool, repo) in [("ostree", &orepo), ("uptree", &urepo)] {
        let src = t.path().join(format!("{tool}-src"));
        build_tree(&src, "f eatme.txt 644 a file to consume\nf sub/x 755 exec\nl sub/ln x");
        let saved = t.path().join(format!("{tool}-saved"));
        fs::hard_link(src.join("eatme.txt"), &saved).expect("link");
        let (ra, tree) = (repo_arg(repo), format!("--tree=dir={}", src.display()));
        let args = os_args![ra, "commit", "--consume", "-b", "t", "--timestamp=2020-01-01", tree];
        commits.push(if tool == "ostree" { ostree(args) } else { up(args) });
        assert!(!src.exists(), "{tool}: the source tree is consumed");
        let csum = ostree(os_args![repo_arg(repo), "ls", "-C", "t", "/eatme.txt"]).split_whitespace().nth(4).expect("checksum").to_string();
        let obj = find_object(repo, &csum, "file");
        let (a, b) = (fs::metadata(&saved).expect("saved"), fs::metadata(&obj).expect("object"));
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "{tool}: the object is the source file");
        ostree(os_args![repo_arg(repo), "fsck"]);
    }
    assert_eq!(commits[0], commits[1]);
}
