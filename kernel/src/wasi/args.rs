//! `args_*` and `environ_*`: NUL-terminated strings packed into one buffer, plus an array of
//! pointers to them.

use super::Ctx;
use super::errno::{Errno, WasiResult};
use super::guest::GuestMemory;
use alloc::string::String;

/// `(count, buffer bytes)` of a string list as WASI lays it out.
fn sizes(list: &[String]) -> Result<(u32, u32), Errno> {
    let count = u32::try_from(list.len()).map_err(|_| Errno::OVERFLOW)?;
    let bytes = list.iter().map(|s| s.len() as u64 + 1).sum::<u64>();
    Ok((count, u32::try_from(bytes).map_err(|_| Errno::OVERFLOW)?))
}

fn write_sizes(
    mem: &mut GuestMemory<'_>,
    list: &[String],
    count_ptr: u32,
    size_ptr: u32,
) -> WasiResult {
    let (count, bytes) = sizes(list)?;
    mem.check(count_ptr, 4)?;
    mem.check(size_ptr, 4)?;
    mem.write_u32(count_ptr, count)?;
    mem.write_u32(size_ptr, bytes)
}

fn write_list(mem: &mut GuestMemory<'_>, list: &[String], ptrs: u32, buf: u32) -> WasiResult {
    let (count, bytes) = sizes(list)?;
    mem.array_range(ptrs, count, 4)?;
    mem.range(buf, bytes)?;
    let mut at = buf;
    for (i, s) in list.iter().enumerate() {
        mem.write_u32(ptrs + 4 * i as u32, at)?;
        mem.write_bytes(at, s.as_bytes())?;
        mem.write_u8(at + s.len() as u32, 0)?;
        at += s.len() as u32 + 1;
    }
    Ok(())
}

pub fn args_sizes_get(cx: &mut Ctx<'_>, argc: u32, argv_buf_size: u32) -> WasiResult {
    write_sizes(&mut cx.mem, &cx.state.args, argc, argv_buf_size)
}

pub fn args_get(cx: &mut Ctx<'_>, argv: u32, argv_buf: u32) -> WasiResult {
    write_list(&mut cx.mem, &cx.state.args, argv, argv_buf)
}

pub fn environ_sizes_get(cx: &mut Ctx<'_>, count: u32, buf_size: u32) -> WasiResult {
    write_sizes(&mut cx.mem, &cx.state.env, count, buf_size)
}

pub fn environ_get(cx: &mut Ctx<'_>, environ: u32, environ_buf: u32) -> WasiResult {
    write_list(&mut cx.mem, &cx.state.env, environ, environ_buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::WasiState;
    use crate::wasi::testing::Fixture;

    fn fixture() -> Fixture {
        let mut f = Fixture::new(256);
        f.state = WasiState::new(
            &["app".into(), "a b".into(), "".into()],
            &[("GREETING".into(), "hi".into()), ("X".into(), "1=2".into())],
        );
        f
    }

    #[test]
    fn args_layout_is_byte_exact() {
        let mut f = fixture();
        assert_eq!(f.call(|cx| args_sizes_get(cx, 0, 4)), Ok(()));
        assert_eq!((f.u32_at(0), f.u32_at(4)), (3, 9));
        f.memory[100..110].fill(0xee);
        assert_eq!(f.call(|cx| args_get(cx, 16, 100)), Ok(()));
        assert_eq!([f.u32_at(16), f.u32_at(20), f.u32_at(24)], [100, 104, 108]);
        assert_eq!(&f.memory[100..110], b"app\0a b\0\0\xee");
    }

    #[test]
    fn environ_layout_is_byte_exact() {
        let mut f = fixture();
        f.call(|cx| environ_sizes_get(cx, 0, 4)).unwrap();
        assert_eq!((f.u32_at(0), f.u32_at(4)), (2, 18));
        f.memory[200..218].fill(0xee);
        f.memory[218] = 0xee;
        f.call(|cx| environ_get(cx, 8, 200)).unwrap();
        assert_eq!([f.u32_at(8), f.u32_at(12)], [200, 212]);
        assert_eq!(&f.memory[200..219], b"GREETING=hi\0X=1=2\0\xee");
    }

    #[test]
    fn bad_pointers_fault_without_partial_writes() {
        let mut f = fixture();
        assert_eq!(f.call(|cx| args_sizes_get(cx, 0, 253)), Err(Errno::FAULT));
        assert_eq!(
            f.u32_at(0),
            0,
            "count not written when the size pointer is bad"
        );
        assert_eq!(f.call(|cx| args_get(cx, 0, 250)), Err(Errno::FAULT));
        assert_eq!(f.call(|cx| args_get(cx, 250, 0)), Err(Errno::FAULT));
        assert!(f.memory.iter().all(|&b| b == 0));
        assert_eq!(
            f.call(|cx| environ_get(cx, u32::MAX - 3, 0)),
            Err(Errno::FAULT)
        );
        assert_eq!(
            f.call(|cx| args_get(cx, 0, 246)),
            Ok(()),
            "buffer ending exactly at the end"
        );
    }

    #[test]
    fn empty_lists_need_no_memory() {
        let mut f = Fixture::new(8);
        f.call(|cx| environ_sizes_get(cx, 0, 4)).unwrap();
        assert_eq!((f.u32_at(0), f.u32_at(4)), (0, 0));
        assert_eq!(f.call(|cx| environ_get(cx, 8, 8)), Ok(()));
    }
}
