//! The initramfs `/init`. As PID 1 it boots (and never returns); run by
//! hand it only offers the dry run (`--plan`).

fn main() {
    if std::process::id() == 1 {
        uptree_init::boot::run();
    }
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(uptree_init::dryrun::main(&args));
}
