//! `mewz-spec-exec`: the spec harness's executor, serving the driver's commands on
//! stdin/stdout (see `mewz_spec::protocol`).

fn main() {
    let stdin = std::io::BufReader::new(std::io::stdin());
    if let Err(e) = mewz_spec::exec::serve(stdin, std::io::stdout()) {
        eprintln!("mewz-spec-exec: {e}");
        std::process::exit(2);
    }
}
