//! Compiles a `.wasm` to a hosted object: `wasm2obj IN.wasm OUT.o [x86_64|aarch64]`
//! (symbol-linked imports, as a hosted executable links them). A debugging aid for the
//! hosted platform; `mewz compile` is the user-facing tool.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, rest @ ..] = args.as_slice() else {
        eprintln!("usage: wasm2obj IN.wasm OUT.o [x86_64|aarch64]");
        std::process::exit(2);
    };
    let target = match rest.first().map(String::as_str) {
        None | Some("x86_64") => mewz_compiler::Target::HostX86_64,
        Some("aarch64") => mewz_compiler::Target::HostAarch64,
        Some(other) => {
            eprintln!("wasm2obj: unknown target {other}");
            std::process::exit(2);
        }
    };
    let wasm = std::fs::read(input).unwrap_or_else(|e| {
        eprintln!("wasm2obj: {input}: {e}");
        std::process::exit(1);
    });
    let options = mewz_compiler::CompileOptions {
        target,
        ..Default::default()
    };
    match mewz_compiler::compile(&wasm, &options) {
        Ok(module) => std::fs::write(output, module.object).unwrap_or_else(|e| {
            eprintln!("wasm2obj: {output}: {e}");
            std::process::exit(1);
        }),
        Err(e) => {
            eprintln!("wasm2obj: {e}");
            std::process::exit(1);
        }
    }
}
