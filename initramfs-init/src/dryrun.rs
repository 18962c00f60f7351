//! `uptree-init --plan SYSROOT CMDLINE`: what the init would do with this
//! sysroot directory and kernel command line, without doing it. Runs
//! unprivileged on a host (an image being built, a mounted SD card).

use std::path::Path;

use crate::boot;
use crate::cmdline;
use crate::console::secs_short;
use crate::plan;

pub const USAGE: &str = "usage: uptree-init --plan SYSROOT 'KERNEL COMMAND LINE'\n\
    As PID 1 (the initramfs /init) it takes no arguments: it boots the deployment named by ostree=.";

/// Print the plan; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let (sysroot, line) = match args {
        [_, flag, sysroot, line] if flag == "--plan" => (Path::new(sysroot), line.as_str()),
        _ => {
            eprintln!("{USAGE}");
            return 2;
        }
    };
    let (c, warnings) = cmdline::parse(line);
    for w in warnings {
        println!("warning: {w}");
    }
    match &c.root {
        Some(spec) => println!("root: {spec} (waited for up to {} s, mounted {})", secs_short(c.root_timeout()), if c.read_only { "ro" } else { "rw" }),
        None => println!("root: none or unusable ({:?})", c.root_raw),
    }
    let steps = match &c.ostree {
        Some(arg) => {
            let dep = match plan::resolve_boot_link(sysroot, arg) {
                Ok(d) => d,
                Err(reason) => {
                    println!("FAILED: ostree={arg}: {reason}");
                    return 1;
                }
            };
            println!("deployment: /{}", dep.relpath());
            let steps = plan::inspect(sysroot, Path::new("/nonexistent"), &dep).and_then(|insp| plan::deployment_plan(&insp, c.read_only));
            let init = c.init.clone().unwrap_or_else(|| boot::DEFAULT_INIT.to_string());
            match boot::check_init(&sysroot.join(dep.relpath()), &init, &format!("deployment /{}", dep.relpath())) {
                Ok(p) => println!("init: {init} ({})", p.display()),
                Err(e) => println!("FAILED: {e}"),
            }
            match steps {
                Ok(s) => s,
                Err(reason) => {
                    println!("FAILED: deployment /{}: {reason}", dep.relpath());
                    return 1;
                }
            }
        }
        None => plan::plain_plan(sysroot),
    };
    for s in plan::early_mounts().iter().chain(steps.iter()) {
        println!("  {s}");
    }
    0
}
