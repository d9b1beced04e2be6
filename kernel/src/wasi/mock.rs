//! A scriptable [`Platform`] for the host unit tests: recorded console output, queued input,
//! a virtual clock that jumps to the armed timer deadline on every wait, and a fake
//! address-space allocator.

use crate::platform::{MapError, MemoryRegion, Platform, Stream};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::vec::Vec;

/// The wall clock reads `monotonic + WALL_OFFSET_NS` (2026-01-01 at boot).
pub const WALL_OFFSET_NS: u64 = 1_767_225_600_000_000_000;

pub struct MockPlatform {
    pub out: Mutex<Vec<u8>>,
    pub err: Mutex<Vec<u8>>,
    input: Mutex<VecDeque<u8>>,
    /// Input that shows up once the clock passes the given time.
    scheduled_input: Mutex<Vec<(u64, Vec<u8>)>>,
    pub now_ns: AtomicU64,
    armed_deadline: AtomicU64,
    pub waits: AtomicUsize,
    pub has_wall_clock: AtomicBool,
    pub has_random: AtomicBool,
    /// The input source has ended (like the hosted platform's stdin at end of file).
    pub input_ended: AtomicBool,
    /// The input source can end (a process's stdin) rather than being a serial line.
    pub input_can_end: AtomicBool,
    next_reservation: AtomicUsize,
    /// Mapped `(start, len)` ranges, in call order.
    pub mapped: Mutex<Vec<(usize, usize)>>,
    /// Bytes `map_zeroed` may still hand out (also what `backable_bytes` reports).
    pub map_budget: AtomicUsize,
    /// Committed `(start, len)` ranges, in call order.
    pub committed: Mutex<Vec<(usize, usize)>>,
    /// What `ram_bytes` reports.
    pub ram: AtomicUsize,
}

impl MockPlatform {
    pub fn new() -> MockPlatform {
        MockPlatform {
            out: Mutex::default(),
            err: Mutex::default(),
            input: Mutex::default(),
            scheduled_input: Mutex::default(),
            now_ns: AtomicU64::new(1_000_000),
            input_ended: AtomicBool::new(false),
            input_can_end: AtomicBool::new(false),
            armed_deadline: AtomicU64::new(u64::MAX),
            waits: AtomicUsize::new(0),
            has_wall_clock: AtomicBool::new(true),
            has_random: AtomicBool::new(true),
            next_reservation: AtomicUsize::new(mewz_abi::memory::UNIKERNEL_MEMORY_BASE as usize),
            mapped: Mutex::default(),
            map_budget: AtomicUsize::new(usize::MAX),
            committed: Mutex::default(),
            ram: AtomicUsize::new(0),
        }
    }

    pub fn push_input(&self, bytes: &[u8]) {
        self.input.lock().unwrap().extend(bytes);
    }

    pub fn input_at(&self, time_ns: u64, bytes: &[u8]) {
        self.scheduled_input
            .lock()
            .unwrap()
            .push((time_ns, bytes.to_vec()));
    }

    pub fn input_left(&self) -> usize {
        self.input.lock().unwrap().len()
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.out.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<u8> {
        self.err.lock().unwrap().clone()
    }

    pub fn now(&self) -> u64 {
        self.now_ns.load(Ordering::SeqCst)
    }

    fn deliver_scheduled_input(&self) {
        let now = self.now();
        let mut scheduled = self.scheduled_input.lock().unwrap();
        let mut input = self.input.lock().unwrap();
        scheduled.retain(|(at, bytes)| {
            if *at <= now {
                input.extend(bytes);
            }
            *at > now
        });
    }
}

impl Platform for MockPlatform {
    fn name(&self) -> &'static str {
        "mock"
    }
    fn command_line(&self) -> &str {
        ""
    }
    fn console_write(&self, stream: Stream, bytes: &[u8]) {
        match stream {
            Stream::Out => self.out.lock().unwrap().extend_from_slice(bytes),
            Stream::Err => self.err.lock().unwrap().extend_from_slice(bytes),
        }
    }
    fn console_input_ended(&self) -> bool {
        self.input_ended.load(Ordering::Relaxed)
    }

    fn console_input_can_end(&self) -> bool {
        self.input_can_end.load(Ordering::Relaxed)
    }

    fn console_read(&self, buf: &mut [u8]) -> usize {
        self.deliver_scheduled_input();
        let mut input = self.input.lock().unwrap();
        let n = buf.len().min(input.len());
        for (dst, src) in buf.iter_mut().zip(input.drain(..n)) {
            *dst = src;
        }
        n
    }
    fn free_memory(&self) -> &[MemoryRegion] {
        &[]
    }
    fn map_zeroed(&self, virt: usize, len: usize) -> Result<(), MapError> {
        if !virt.is_multiple_of(4096) || !len.is_multiple_of(4096) {
            return Err(MapError::InvalidRange);
        }
        let budget = self.map_budget.load(Ordering::SeqCst);
        if len > budget {
            return Err(MapError::OutOfMemory);
        }
        self.map_budget.store(budget - len, Ordering::SeqCst);
        self.mapped.lock().unwrap().push((virt, len));
        Ok(())
    }
    fn ram_bytes(&self) -> usize {
        self.ram.load(Ordering::SeqCst)
    }
    fn commit(&self, virt: usize, len: usize) -> Result<(), MapError> {
        self.committed.lock().unwrap().push((virt, len));
        Ok(())
    }
    fn backable_bytes(&self) -> Option<usize> {
        Some(self.map_budget.load(Ordering::SeqCst))
    }
    fn unmap(&self, _virt: usize, _len: usize) {}
    fn reserve(&self, len: usize) -> Result<usize, MapError> {
        let len = len.next_multiple_of(1 << 32);
        Ok(self.next_reservation.fetch_add(len, Ordering::SeqCst))
    }
    fn monotonic_ns(&self) -> u64 {
        self.now()
    }
    fn monotonic_resolution_ns(&self) -> u64 {
        100
    }
    fn wall_clock_ns(&self) -> Option<u64> {
        self.has_wall_clock
            .load(Ordering::SeqCst)
            .then(|| self.now() + WALL_OFFSET_NS)
    }
    fn arm_timer(&self, delay_ns: u64) {
        self.armed_deadline
            .store(self.now().saturating_add(delay_ns), Ordering::SeqCst);
    }
    fn timer_interrupts(&self) -> u64 {
        self.waits.load(Ordering::SeqCst) as u64
    }
    fn wait_for_interrupt(&self) {
        // Time passes until the timer fires; an unarmed wait still moves the clock so that a
        // test waiting for nothing ends instead of spinning forever.
        let waits = self.waits.fetch_add(1, Ordering::SeqCst);
        assert!(waits < 100_000, "test platform waited forever");
        let deadline = self.armed_deadline.swap(u64::MAX, Ordering::SeqCst);
        let now = self.now();
        let next = if deadline == u64::MAX {
            now + 1_000_000
        } else {
            deadline.max(now)
        };
        self.now_ns.store(next, Ordering::SeqCst);
    }
    fn init_devices(&self) {}
    fn random_bytes(&self, buf: &mut [u8]) -> bool {
        if !self.has_random.load(Ordering::SeqCst) {
            return false;
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
        true
    }

    /// Test devices (`crate::virtio` fakes) read host memory at its own address.
    fn dma_address(&self, virt: usize, _len: usize) -> Option<u64> {
        Some(virt as u64)
    }
    fn exit(&self, code: u8) -> ! {
        panic!("mock platform exit {code}")
    }
    fn call_on_stack(&self, _stack_top: usize, entry: extern "C" fn(usize), arg: usize) {
        entry(arg)
    }
    fn trigger_cpu_fault(&self) -> ! {
        panic!("mock platform cpu fault")
    }
}
