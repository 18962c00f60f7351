//! `uptree`: thin entry point. All behaviour lives in the library so tests
//! can call it; here we set up logging, run, print the error chain and pick
//! the exit code.

fn main() {
    // rpgp warns of every GnuPG trust packet it skips in a keyring: noise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,pgp=error")).format_timestamp(None).init();
    match uptree::run(std::env::args_os()) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
