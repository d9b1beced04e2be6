//! Socket buffer sizes and the socket capacity, from the memory the machine has.

/// Smallest buffer a socket option can ask for.
pub const MIN_BUFFER: usize = 4 * 1024;
/// Heap assumed where the kernel heap is not the allocator (the hosted platform, tests).
const ASSUMED_HEAP: usize = 256 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Default receive and send buffer of a stream, each.
    pub tcp_buffer: usize,
    /// Largest buffer `SO_RCVBUF` / `SO_SNDBUF` may ask for.
    pub max_buffer: usize,
    /// Payload buffer of a datagram socket, each direction (fits the largest datagram).
    pub udp_buffer: usize,
    /// Stream and datagram sockets the stack holds at most (the app's and its own).
    pub max_sockets: usize,
}

impl Sizes {
    /// A stream buffer of about 1/4096 of the heap (a power of two, 4-256 KiB: 64 KiB for a
    /// 512 MiB machine), and as many sockets as fill half the heap with default buffers.
    pub fn for_heap(heap_bytes: usize) -> Sizes {
        let heap = if heap_bytes == 0 {
            ASSUMED_HEAP
        } else {
            heap_bytes
        };
        let target = (heap / 4096).clamp(MIN_BUFFER, 256 * 1024);
        let tcp_buffer = 1usize << (usize::BITS - 1 - target.leading_zeros());
        Sizes {
            tcp_buffer,
            max_buffer: (heap / 64).clamp(tcp_buffer, 4 << 20),
            udp_buffer: 128 * 1024,
            max_sockets: (heap / 2 / (2 * tcp_buffer)).max(16),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_grow_with_memory_and_leave_room_for_1024_connections() {
        let small = Sizes::for_heap(100 << 20);
        let vm = Sizes::for_heap(480 << 20);
        let big = Sizes::for_heap(8 << 30);
        assert_eq!(vm.tcp_buffer, 64 * 1024);
        assert!(small.tcp_buffer < vm.tcp_buffer && vm.tcp_buffer < big.tcp_buffer);
        assert_eq!(big.tcp_buffer, 256 * 1024);
        for s in [small, vm, big] {
            assert!(s.tcp_buffer.is_power_of_two());
            assert!(s.max_sockets >= 1100, "{s:?}");
            assert!(s.max_sockets * 2 * s.tcp_buffer <= 8usize << 30);
        }
        assert_eq!(Sizes::for_heap(1 << 20).tcp_buffer, MIN_BUFFER);
        assert_eq!(Sizes::for_heap(0), Sizes::for_heap(256 << 20));
    }
}
