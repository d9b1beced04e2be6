//! The preview1 socket calls. No socket descriptors exist yet (a later issue adds the network
//! stack behind the descriptor table): `EBADF` for a descriptor that is not open, `ENOTSOCK`
//! for the console.

use super::Ctx;
use super::errno::{Errno, WasiResult};

fn socket(cx: &Ctx<'_>, fd: u32) -> WasiResult {
    cx.state.fds.get(fd)?;
    Err(Errno::NOTSOCK)
}

pub fn sock_accept(cx: &mut Ctx<'_>, fd: u32, _flags: u32, _new_fd: u32) -> WasiResult {
    socket(cx, fd)
}

pub fn sock_recv(
    cx: &mut Ctx<'_>,
    fd: u32,
    _iovs: u32,
    _len: u32,
    _flags: u32,
    _nread: u32,
    _oflags: u32,
) -> WasiResult {
    socket(cx, fd)
}

pub fn sock_send(
    cx: &mut Ctx<'_>,
    fd: u32,
    _iovs: u32,
    _len: u32,
    _flags: u32,
    _nsent: u32,
) -> WasiResult {
    socket(cx, fd)
}

pub fn sock_shutdown(cx: &mut Ctx<'_>, fd: u32, _how: u32) -> WasiResult {
    socket(cx, fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::testing::Fixture;

    #[test]
    fn no_sockets() {
        let mut f = Fixture::new(0);
        for (fd, want) in [(1, Errno::NOTSOCK), (3, Errno::BADF)] {
            assert_eq!(f.call(|cx| sock_accept(cx, fd, 0, 0)), Err(want));
            assert_eq!(f.call(|cx| sock_recv(cx, fd, 0, 0, 0, 0, 0)), Err(want));
            assert_eq!(f.call(|cx| sock_send(cx, fd, 0, 0, 0, 0)), Err(want));
            assert_eq!(f.call(|cx| sock_shutdown(cx, fd, 3)), Err(want));
        }
    }
}
