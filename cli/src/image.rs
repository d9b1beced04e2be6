//! `mewz build`: compile the app, check its imports, link it with the kernel, write the image.

use crate::targets::{ImageFormat, TargetName, Unikernel};
use anyhow::{Context, Result, bail};
use mewz_kernel::cmdline::quote;
use object::read::archive::ArchiveFile;
use object::{Object, ObjectSymbol};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What the app gets at run time unless the runner's command line overrides it.
#[derive(Clone, Debug, Default)]
pub struct AppConfig {
    pub name: String,
    pub env: Vec<(String, String)>,
    /// Cap on the app's linear memory, in bytes.
    pub memory: Option<u64>,
    pub args: Vec<String>,
    /// Network words: the NIC marker, preopened listeners (see `network::baked_words`).
    pub network: Vec<String>,
}

impl AppConfig {
    /// The configuration in kernel command-line syntax (see `mewz_kernel::cmdline`).
    pub fn command_line(&self) -> String {
        let mut words = Vec::new();
        if !self.name.is_empty() {
            words.push(quote(&format!("mewz.name={}", self.name)));
        }
        for (k, v) in &self.env {
            words.push(quote(&format!("mewz.env={k}={v}")));
        }
        if let Some(m) = self.memory {
            words.push(format!("mewz.memory={m}"));
        }
        words.extend(self.network.iter().map(|w| quote(w)));
        if !self.args.is_empty() {
            words.push("--".into());
            words.extend(self.args.iter().map(|a| quote(a)));
        }
        words.join(" ")
    }
}

/// Prints one line per stage with its time, when not quiet.
pub struct Progress {
    pub quiet: bool,
}

impl Progress {
    pub fn stage<T>(&self, name: &str, f: impl FnOnce() -> Result<(T, String)>) -> Result<T> {
        let start = Instant::now();
        let (value, detail) = f()?;
        if !self.quiet {
            eprintln!(
                "{name:>8}  {:>7.3} s  {detail}",
                start.elapsed().as_secs_f64()
            );
        }
        Ok(value)
    }
}

/// A compiled app object, ready to link.
pub struct AppObject {
    pub path: PathBuf,
    /// Every import the module declares, as `(kind, symbol name)`: used or not, each must be
    /// provided (the compiled object only names the ones it calls).
    pub imports: Vec<(mewz_compiler::ExportKind, String)>,
}

/// Links `app` (if any) with the kernel for `target` into a bootable image at `output`.
/// `files` is an object holding the packed directories (see `crate::files`), if any.
pub fn link_image(
    target: TargetName,
    kernel: &Unikernel,
    app: Option<&AppObject>,
    config: &AppConfig,
    files: Option<&Path>,
    output: &Path,
    progress: &Progress,
) -> Result<()> {
    let profile = kernel.profile()?;
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let archive = work.path().join("kernel.a");
    let script = work.path().join("link.ld");
    let config_obj = work.path().join("config.o");
    std::fs::write(&archive, kernel.kernel_archive)?;
    std::fs::write(&script, kernel.linker_script)?;
    std::fs::write(&config_obj, config_object(target, &config.command_line())?)?;
    if let Some(app) = app {
        check_imports(
            app,
            kernel.kernel_archive,
            &format!("the {target} kernel"),
            progress,
        )?;
    }
    let elf = if profile.image == ImageFormat::Elf {
        output.to_path_buf()
    } else {
        work.path().join("image.elf")
    };
    progress.stage("link", || {
        let mut cmd = Command::new(linker());
        cmd.arg("-T")
            .arg(&script)
            .args(&profile.link_args)
            .arg("-o")
            .arg(&elf);
        if let Some(app) = app {
            cmd.arg(&app.path);
        }
        cmd.args(files).arg(&config_obj).arg(&archive);
        run_tool(&mut cmd)?;
        Ok((
            (),
            format!(
                "{} + kernel ({})",
                app.map_or("no app".into(), |a| a.path.display().to_string()),
                target
            ),
        ))
    })?;
    if profile.image == ImageFormat::Binary {
        progress.stage("pack", || {
            run_tool(
                Command::new(objcopy())
                    .args(["-O", "binary"])
                    .arg(&elf)
                    .arg(output),
            )?;
            Ok(((), "flat arm64 Image".into()))
        })?;
    }
    Ok(())
}

/// What compiled code calls in the runtime.
const RUNTIME_ENTRIES: [&str; 4] = {
    use mewz_abi::symbols::*;
    [TRAP, MEMORY_GROW, TABLE_GROW, STACK_LIMIT]
};

/// Fails, naming every one, if the app imports something `archive` (the kernel or the hosted
/// runtime, described as `provider`) does not define — before the linker would say it worse.
pub fn check_imports(
    app: &AppObject,
    archive: &[u8],
    provider: &str,
    progress: &Progress,
) -> Result<()> {
    progress.stage("check", || {
        let provided = archive_symbols(archive)?;
        // Functions only can be provided. The runtime entries the object calls must be there
        // too (memcpy and friends come from libc or compiler builtins, the linker's business);
        // unused imports are not in the object but count all the same.
        let needed: BTreeSet<String> = undefined_symbols(&std::fs::read(&app.path)?)?
            .into_iter()
            .filter(|s| RUNTIME_ENTRIES.contains(&s.as_str()))
            .collect();
        let missing: Vec<String> = app
            .imports
            .iter()
            .filter(|(kind, name)| {
                *kind != mewz_compiler::ExportKind::Function || !provided.contains(name)
            })
            .map(|(kind, name)| match kind {
                mewz_compiler::ExportKind::Function => name.clone(),
                other => format!("{name} ({other:?})").to_lowercase(),
            })
            .chain(needed.iter().filter(|s| !provided.contains(*s)).cloned())
            .collect();
        if !missing.is_empty() {
            bail!(
                "{provider} does not provide these imports: {}",
                missing.join(", ")
            );
        }
        Ok((
            (),
            format!(
                "{} import(s), all provided by {provider}",
                app.imports.len()
            ),
        ))
    })
}

/// An object holding `command_line` in the configuration section the kernel reads at boot.
fn config_object(target: TargetName, command_line: &str) -> Result<Vec<u8>> {
    use object::write::Object as Writer;
    use object::{Architecture, BinaryFormat, Endianness, SectionKind};
    let arch = match target {
        TargetName::X86_64 => Architecture::X86_64,
        TargetName::Aarch64 => Architecture::Aarch64,
        TargetName::Host => bail!("the hosted target has no image configuration"),
    };
    let mut obj = Writer::new(BinaryFormat::Elf, arch, Endianness::Little);
    let section = obj.add_section(
        Vec::new(),
        mewz_abi::symbols::CONFIG_SECTION.as_bytes().to_vec(),
        SectionKind::ReadOnlyData,
    );
    obj.append_section_data(section, command_line.as_bytes(), 1);
    Ok(obj.write()?)
}

/// Symbols an object file needs from elsewhere.
pub fn undefined_symbols(object_file: &[u8]) -> Result<BTreeSet<String>> {
    let obj = object::File::parse(object_file).context("reading the compiled app object")?;
    Ok(obj
        .symbols()
        .filter(|s| s.is_undefined() && s.is_global())
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .filter(|n| !n.is_empty())
        .collect())
}

/// Global symbols an archive defines (from its symbol index).
fn archive_symbols(archive: &[u8]) -> Result<BTreeSet<String>> {
    let ar = ArchiveFile::parse(archive).context("reading the kernel archive")?;
    let mut out = BTreeSet::new();
    if let Some(symbols) = ar.symbols()? {
        for s in symbols {
            out.insert(String::from_utf8_lossy(s?.name()).into_owned());
        }
    }
    Ok(out)
}

fn linker() -> String {
    std::env::var("MEWZ_LD").unwrap_or_else(|_| "ld.lld-19".into())
}

fn objcopy() -> String {
    std::env::var("MEWZ_OBJCOPY").unwrap_or_else(|_| "llvm-objcopy-19".into())
}

/// Runs a build tool; its own error output becomes one line of ours.
pub fn run_tool(cmd: &mut Command) -> Result<()> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {program} (run ci/setup to install it)"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let msg: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect();
        bail!("{program} failed: {}", msg.join(" / "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mewz_kernel::cmdline::CommandLine;

    #[test]
    fn config_round_trips_through_the_kernel_parser() {
        let c = AppConfig {
            name: "hello app".into(),
            env: vec![
                ("GREETING".into(), "hi there".into()),
                ("EMPTY".into(), String::new()),
            ],
            memory: Some(1 << 20),
            args: vec!["a".into(), "b c".into(), "--".into()],
            network: vec!["mewz.nic".into(), "mewz.tcplisten=0.0.0.0:80".into()],
        };
        let parsed = CommandLine::parse(&c.command_line());
        assert_eq!(parsed.option("name"), Some("hello app"));
        assert!(parsed.flag("nic"));
        assert_eq!(parsed.option("tcplisten"), Some("0.0.0.0:80"));
        assert_eq!(parsed.option("memory"), Some("1048576"));
        let envs: Vec<_> = parsed
            .options
            .iter()
            .filter(|(k, _)| k == "env")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(envs, ["GREETING=hi there", "EMPTY="]);
        assert_eq!(parsed.args, ["a", "b c", "--"]);
    }

    #[test]
    fn config_object_has_the_section() {
        let bytes = config_object(TargetName::Aarch64, "mewz.env=A=B").unwrap();
        let obj = object::File::parse(&*bytes).unwrap();
        let s = obj
            .section_by_name(mewz_abi::symbols::CONFIG_SECTION)
            .unwrap();
        use object::ObjectSection;
        assert_eq!(s.data().unwrap(), b"mewz.env=A=B");
        assert_eq!(obj.architecture(), object::Architecture::Aarch64);
    }
}
