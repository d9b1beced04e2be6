//! WASI preview1 (`wasi_snapshot_preview1`), the app's system interface.
//!
//! Each function is a thin Rust function over a [`Ctx`] (platform, checked guest memory, the
//! app's WASI state) returning `Result<(), Errno>`, so it runs and unit-tests anywhere;
//! [`exports`] wraps them as the C-ABI symbols compiled code links against. The state is the
//! runtime-neutral part of an app (arguments, environment, descriptors): the unikernel and the
//! hosted platform both set it up with [`install`].

pub mod addrinfo;
pub mod args;
pub mod clock;
pub mod errno;
pub mod exports;
pub mod fd;
pub mod fd_ops;
pub mod files;
pub mod guest;
pub mod path;
pub mod poll;
pub mod sock;
pub mod sockopt;
pub mod stdin;
pub mod stdio;
pub mod types;

#[cfg(test)]
pub(crate) mod mock;

use crate::fs::FileSystem;
use crate::platform::Platform;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, Ordering};
pub use errno::{Errno, WasiResult};
use fd::{FdEntry, FdKind, FdTable};
use guest::GuestMemory;
use mewz_abi::memory::MemoryDescriptor;
use spin::Mutex;
use stdin::StdinBuffer;

/// Everything WASI keeps about the running app.
#[derive(Debug, Default)]
pub struct WasiState {
    /// `argv`, with the program name first.
    pub args: Vec<String>,
    /// `KEY=VALUE` strings.
    pub env: Vec<String>,
    pub fds: FdTable,
    pub stdin: StdinBuffer,
    /// What stdin, stdout and stderr are on the host.
    pub stdio: stdio::HostStdio,
    /// The network, from the app's first socket on (see [`WasiState::network`]).
    pub net: Option<crate::net::Network>,
    /// The RAM filesystem the preopened directories belong to.
    pub fs: FileSystem,
}

impl WasiState {
    /// The app's network, set up on first use.
    pub fn network(&mut self) -> &mut crate::net::Network {
        self.net
            .get_or_insert_with(|| crate::net::Network::for_platform(crate::platform::platform()))
    }

    pub fn new(args: &[String], env: &[(String, String)]) -> WasiState {
        WasiState {
            args: args.to_vec(),
            env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            ..WasiState::default()
        }
    }

    /// Gives the app `fs` and opens its preopened directories as descriptors 3, 4, ... in
    /// order (`EMFILE` if there are more than the table holds).
    pub fn with_files(mut self, fs: FileSystem) -> Result<WasiState, Errno> {
        self.fs = fs;
        let roots: Vec<_> = self.fs.roots().iter().map(|&(_, ino)| ino).collect();
        for (i, ino) in roots.into_iter().enumerate() {
            self.fds.insert(FdEntry::new(FdKind::Directory {
                ino,
                preopen: Some(i as u32),
            }))?;
            self.fs.open(ino)?;
        }
        Ok(self)
    }
}

/// What one WASI call works with.
pub struct Ctx<'a> {
    pub platform: &'a dyn Platform,
    pub mem: GuestMemory<'a>,
    pub state: &'a mut WasiState,
}

static STATE: Mutex<Option<WasiState>> = Mutex::new(None);
static MEMORY: AtomicPtr<MemoryDescriptor> = AtomicPtr::new(core::ptr::null_mut());

/// Sets up WASI for an app: its arguments and environment, fresh stdio descriptors, and the
/// linear memory its pointers refer to (null if the module has none).
pub fn install(state: WasiState, memory: *mut MemoryDescriptor) {
    *STATE.lock() = Some(state);
    MEMORY.store(memory, Ordering::Release);
}

/// Gives the network a last look as the app ends, so that what it queued just before (a
/// stream's last data) goes out before the machine stops.
pub fn flush_network() {
    if let Some(net) = STATE
        .try_lock()
        .as_mut()
        .and_then(|s| s.as_mut()?.net.as_mut())
    {
        net.look();
    }
}

/// Runs `f` on the installed state (an empty one if nothing was installed) and the
/// installed platform, and flattens the result into the wasm errno.
pub(crate) fn with_ctx(f: impl FnOnce(&mut Ctx<'_>) -> WasiResult) -> i32 {
    crate::demand::back_stack_below();
    let platform = crate::platform::platform();
    let mut guard = STATE.lock();
    let state = guard.get_or_insert_with(WasiState::default);
    // Stream data the app sent waits for a look at the network only so long, whatever the
    // app calls meanwhile.
    if let Some(net) = state.net.as_mut() {
        net.look_if_held(platform);
    }
    // SAFETY: MEMORY is null or the app's descriptor, set up by the runtime with
    // `base..base + current_bytes` mapped; the app's only thread is inside this call, so no
    // compiled code touches the memory while the view lives.
    let mem = unsafe { GuestMemory::from_descriptor(MEMORY.load(Ordering::Acquire)) };
    errno::to_wasm(f(&mut Ctx {
        platform,
        mem,
        state,
    }))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A context over a test memory and the mock platform.
    use super::*;
    use mock::MockPlatform;

    /// Held by tests that install process-wide state (the WASI state, the platform, the
    /// memory limit), so they do not run into each other.
    pub static GLOBAL_STATE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The platform installed for tests that go through the exported symbols.
    pub fn installed_platform() -> &'static MockPlatform {
        static P: std::sync::OnceLock<&'static MockPlatform> = std::sync::OnceLock::new();
        let p = *P.get_or_init(|| Box::leak(Box::new(MockPlatform::new())));
        crate::platform::install(p);
        p
    }

    pub struct Fixture {
        pub platform: MockPlatform,
        pub memory: Vec<u8>,
        pub state: WasiState,
    }

    impl Fixture {
        pub fn new(memory_bytes: usize) -> Fixture {
            Fixture {
                platform: MockPlatform::new(),
                memory: vec![0; memory_bytes],
                state: WasiState::default(),
            }
        }

        pub fn call<R>(&mut self, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
            f(&mut Ctx {
                platform: &self.platform,
                mem: GuestMemory::new(&mut self.memory),
                state: &mut self.state,
            })
        }

        pub fn u32_at(&self, at: usize) -> u32 {
            u32::from_le_bytes(self.memory[at..at + 4].try_into().unwrap())
        }

        pub fn u64_at(&self, at: usize) -> u64 {
            u64::from_le_bytes(self.memory[at..at + 8].try_into().unwrap())
        }

        pub fn put_u32(&mut self, at: usize, v: u32) {
            self.memory[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }

        pub fn put_u64(&mut self, at: usize, v: u64) {
            self.memory[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }

        /// Writes an iovec array at `at`.
        pub fn put_iovecs(&mut self, at: usize, iovs: &[(u32, u32)]) {
            for (i, &(p, l)) in iovs.iter().enumerate() {
                self.put_u32(at + 8 * i, p);
                self.put_u32(at + 8 * i + 4, l);
            }
        }
    }
}
