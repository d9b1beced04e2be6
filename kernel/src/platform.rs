//! The platform interface: everything the kernel needs from the machine it runs on.
//!
//! Seven groups, kept deliberately small: console, memory, time, interrupts, devices, virtio
//! devices, power.
//! Each architecture implements it once, as a `static`, and passes it to [`crate::boot::main`].

use alloc::vec::Vec;
use core::fmt;
use spin::Once;

/// The console's output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The app's stdout.
    Out,
    /// The app's stderr, and the kernel's own messages.
    Err,
}

/// A range of RAM the kernel may use, as kernel virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start: usize,
    pub len: usize,
}

/// Why a mapping request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No physical memory left to back the pages.
    OutOfMemory,
    /// The range is not page aligned or not inside a region the platform can map.
    InvalidRange,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapError::OutOfMemory => "out of memory",
            MapError::InvalidRange => "invalid range",
        })
    }
}

pub trait Platform: Sync {
    // --- identity -------------------------------------------------------------------------
    /// Short architecture name: `x86_64`, `aarch64`, `host`.
    fn name(&self) -> &'static str;
    /// The command line the boot loader passed (PVH cmdline, `/chosen/bootargs`, argv).
    fn command_line(&self) -> &str;
    /// The bytes the boot loader passed beside the kernel, if any: QEMU's `-initrd` (a PVH
    /// module on x86_64, `/chosen/linux,initrd-*` on aarch64), a mapped file on the hosted
    /// platform. Their memory is never given to the heap and lives as long as the kernel.
    fn boot_module(&self) -> Option<&'static [u8]> {
        None
    }

    // --- console --------------------------------------------------------------------------
    /// Writes bytes to one of the console's two streams, blocking until they are sent.
    /// The unikernels put [`Stream::Out`] on the first UART and [`Stream::Err`] on the second
    /// (the runner maps them to its stdout and stderr); a machine with one UART uses it for both.
    fn console_write(&self, stream: Stream, bytes: &[u8]);
    /// Reads whatever console input is available, without blocking; returns the count read.
    fn console_read(&self, buf: &mut [u8]) -> usize;
    /// Whether console input has ended for good (the hosted platform's stdin at end of file).
    fn console_input_ended(&self) -> bool {
        false
    }
    /// Whether console input can end at all. A serial line cannot: there, end of file is an
    /// in-band EOT byte (see `wasi::stdin`).
    fn console_input_can_end(&self) -> bool {
        false
    }

    // --- memory ---------------------------------------------------------------------------
    /// RAM left for the kernel heap after the platform took what it needs (image, page tables,
    /// boot structures). Called once, by [`crate::heap::init`].
    fn free_memory(&self) -> &[MemoryRegion];
    /// Page size used by [`Platform::map_zeroed`] and [`Platform::unmap`].
    fn page_size(&self) -> usize {
        4096
    }
    /// Total RAM of the machine, as its memory map reports it (0: unknown, a hosted process).
    fn ram_bytes(&self) -> usize {
        0
    }
    /// Maps fresh zeroed read-write, non-executable pages at `[virt, virt + len)`.
    /// `virt` and `len` are page aligned; the range is inside a region reserved with
    /// [`Platform::reserve`]. Pages come from [`crate::frames`], never from its reserve.
    fn map_zeroed(&self, virt: usize, len: usize) -> Result<(), MapError>;
    /// Commits `[virt, virt + len)` of a reservation (page aligned) to the app. The unikernels
    /// do nothing here: the kernel backs its pages when touched ([`crate::demand`]). A hosted
    /// process makes the range accessible, and its own kernel backs pages on touch.
    fn commit(&self, virt: usize, len: usize) -> Result<(), MapError> {
        let _ = (virt, len);
        Ok(())
    }
    /// Bytes of new pages the machine could back now ([`crate::frames`]), which bounds
    /// `memory.grow` (see [`crate::footprint`]); `None` when the platform cannot tell and
    /// [`Platform::commit`] fails instead.
    fn backable_bytes(&self) -> Option<usize> {
        Some(crate::frames::available_bytes())
    }
    /// Unmaps pages mapped by [`Platform::map_zeroed`] and frees their memory.
    fn unmap(&self, virt: usize, len: usize);
    /// Reserves `len` bytes of virtual address space (nothing mapped, every access faults) and
    /// returns its start. The unikernels return a fixed address per call order.
    fn reserve(&self, len: usize) -> Result<usize, MapError>;

    // --- time -----------------------------------------------------------------------------
    /// Nanoseconds since an arbitrary point at boot; never goes backwards.
    fn monotonic_ns(&self) -> u64;
    /// Resolution of [`Platform::monotonic_ns`] in nanoseconds.
    fn monotonic_resolution_ns(&self) -> u64;
    /// Nanoseconds since the Unix epoch, or `None` if the machine has no wall clock.
    fn wall_clock_ns(&self) -> Option<u64>;
    /// Arms the one-shot timer to interrupt `delay_ns` from now (replacing any armed one).
    fn arm_timer(&self, delay_ns: u64);
    /// How many timer interrupts have been handled since boot.
    fn timer_interrupts(&self) -> u64;

    // --- interrupts -----------------------------------------------------------------------
    /// Enables interrupts and waits for the next one, atomically (no lost wake-up).
    fn wait_for_interrupt(&self);
    /// Drops every cached address translation (the whole TLB). Only [`crate::tlb`] calls it:
    /// an emulator sizes its software TLB when the guest flushes (see there).
    fn flush_tlb(&self) {}

    // --- devices --------------------------------------------------------------------------
    /// Late initialisation once the heap exists: interrupt controller, timer, device
    /// discovery (PCI or FDT), logging what it finds.
    fn init_devices(&self);
    /// Fills `buf` with random bytes from a hardware source; `false` if there is none.
    fn random_bytes(&self, buf: &mut [u8]) -> bool;

    // --- network --------------------------------------------------------------------------
    /// The platform's own sockets, for a platform that has them (the hosted platform: the
    /// host's). `None` (the unikernels): the kernel runs its own stack over the NIC it finds.
    fn host_sockets(&self) -> Option<crate::net::BoxedStack> {
        None
    }

    // --- virtio devices (see `crate::virtio`) -----------------------------------------------
    /// Hands over the virtio devices [`Platform::init_devices`] found (x86_64: virtio-pci on
    /// the PCI bus; aarch64: the device tree's virtio-mmio nodes), each with its interrupt
    /// routed so that it wakes [`Platform::wait_for_interrupt`]. The first call takes them all.
    fn take_virtio_devices(&self) -> Vec<crate::virtio::FoundDevice> {
        Vec::new()
    }
    /// The address a device uses for `[virt, virt + len)` of kernel memory, if that range is
    /// mapped and physically contiguous (the heap and the kernel image are).
    fn dma_address(&self, _virt: usize, _len: usize) -> Option<u64> {
        None
    }
    /// Maps `len` bytes of device registers at physical address `phys` (uncached) and returns
    /// their virtual address.
    fn map_device_memory(&self, _phys: u64, _len: usize) -> Result<usize, MapError> {
        Err(MapError::InvalidRange)
    }
    /// Lets a device's interrupt through again once its driver has looked at the device. A
    /// platform may mask a line from when it fires until then, so that a level-triggered
    /// device nobody services cannot keep waking the CPU.
    fn unmask_device_interrupt(&self, _line: u32) {}

    // --- power ----------------------------------------------------------------------------
    /// Stops the machine; the runner sees `code` as the exit status.
    fn exit(&self, code: u8) -> !;
    /// Leaves the runner a note for the exit that follows (`KEY=VALUE`, see
    /// `mewz_abi::exit::NOTE_PREFIX`) on the channel that carries the exit status, if the
    /// machine has one besides the console.
    fn exit_note(&self, note: fmt::Arguments<'_>) {
        let _ = note;
    }

    // --- the app ----------------------------------------------------------------------------
    /// Calls `entry(arg)` with the stack pointer at `stack_top` (16-byte aligned), returning
    /// when `entry` returns. The kernel reserves the stack with a guard page below it.
    fn call_on_stack(&self, stack_top: usize, entry: extern "C" fn(usize), arg: usize);
    /// Ends the app with a wasm trap. The default prints `wasm trap: <name>` on stderr and exits
    /// 134; the hosted spec harness overrides it to unwind back into the harness.
    fn wasm_trap(&self, code: mewz_abi::TrapCode) -> ! {
        crate::console::_print_to(
            Stream::Err,
            format_args!("wasm trap: {}\n", code.spec_name()),
        );
        crate::console::flush(crate::platform::platform());
        self.exit(mewz_abi::ExitCode::WASM_TRAP.0)
    }

    // --- diagnostics ----------------------------------------------------------------------
    /// Makes the CPU take an exception (a write to an unmapped kernel address), to test the
    /// fault path. Does not return.
    fn trigger_cpu_fault(&self) -> !;
}

static PLATFORM: Once<&'static dyn Platform> = Once::new();

/// Installs the platform. Called once, by [`crate::boot::main`] (or a test harness).
pub fn install(platform: &'static dyn Platform) {
    PLATFORM.call_once(|| platform);
}

/// The platform the kernel runs on.
///
/// # Panics
/// If called before [`install`].
pub fn platform() -> &'static dyn Platform {
    *PLATFORM.get().expect("platform not installed")
}

/// The platform, if installed: for paths (panic, logging) that must work at any time.
pub fn try_platform() -> Option<&'static dyn Platform> {
    PLATFORM.get().copied()
}
