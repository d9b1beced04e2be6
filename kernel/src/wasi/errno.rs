//! WASI preview1 error numbers (`$errno`, a `u16`), in the order the witx defines them.

/// A WASI error number. Functions return `Result<(), Errno>`; the exported symbols turn it into
/// the wasm `i32` result (0 on success).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub u16);

macro_rules! errnos {
    ($($name:ident = $value:expr),* $(,)?) => {
        impl Errno {
            $(pub const $name: Errno = Errno($value);)*
        }
    };
}

errnos! {
    SUCCESS = 0, TOOBIG = 1, ACCES = 2, ADDRINUSE = 3, ADDRNOTAVAIL = 4, AFNOSUPPORT = 5,
    AGAIN = 6, ALREADY = 7, BADF = 8, BADMSG = 9, BUSY = 10, CANCELED = 11, CHILD = 12,
    CONNABORTED = 13, CONNREFUSED = 14, CONNRESET = 15, DEADLK = 16, DESTADDRREQ = 17, DOM = 18,
    DQUOT = 19, EXIST = 20, FAULT = 21, FBIG = 22, HOSTUNREACH = 23, IDRM = 24, ILSEQ = 25,
    INPROGRESS = 26, INTR = 27, INVAL = 28, IO = 29, ISCONN = 30, ISDIR = 31, LOOP = 32,
    MFILE = 33, MLINK = 34, MSGSIZE = 35, MULTIHOP = 36, NAMETOOLONG = 37, NETDOWN = 38,
    NETRESET = 39, NETUNREACH = 40, NFILE = 41, NOBUFS = 42, NODEV = 43, NOENT = 44,
    NOEXEC = 45, NOLCK = 46, NOLINK = 47, NOMEM = 48, NOMSG = 49, NOPROTOOPT = 50, NOSPC = 51,
    NOSYS = 52, NOTCONN = 53, NOTDIR = 54, NOTEMPTY = 55, NOTRECOVERABLE = 56, NOTSOCK = 57,
    NOTSUP = 58, NOTTY = 59, NXIO = 60, OVERFLOW = 61, OWNERDEAD = 62, PERM = 63, PIPE = 64,
    PROTO = 65, PROTONOSUPPORT = 66, PROTOTYPE = 67, RANGE = 68, ROFS = 69, SPIPE = 70,
    SRCH = 71, STALE = 72, TIMEDOUT = 73, TXTBSY = 74, XDEV = 75, NOTCAPABLE = 76,
}

impl Errno {
    /// A few words for a message (the common errors by name, others by number).
    pub fn describe(self) -> alloc::string::String {
        let name = match self {
            Errno::ACCES => "permission denied",
            Errno::ADDRINUSE => "address in use",
            Errno::ADDRNOTAVAIL => "address not available",
            Errno::AFNOSUPPORT => "address family not supported",
            Errno::INVAL => "invalid argument",
            Errno::MFILE => "too many open files",
            Errno::NOBUFS => "no buffer space",
            Errno::NOMEM => "out of memory",
            Errno::NETUNREACH => "network unreachable",
            _ => return format!("errno {}", self.0),
        };
        name.into()
    }
}

/// What a WASI function returns before it is flattened into the wasm `i32`.
pub type WasiResult = Result<(), Errno>;

/// The wasm result of a WASI call: 0 or the error number.
pub fn to_wasm(result: WasiResult) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => i32::from(e.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_witx_numbering() {
        assert_eq!(Errno::TOOBIG.0, 1);
        assert_eq!(Errno::BADF.0, 8);
        assert_eq!(Errno::FAULT.0, 21);
        assert_eq!(Errno::INVAL.0, 28);
        assert_eq!(Errno::NOSYS.0, 52);
        assert_eq!(Errno::NOTSUP.0, 58);
        assert_eq!(Errno::SPIPE.0, 70);
        assert_eq!(Errno::NOTCAPABLE.0, 76);
        assert_eq!(to_wasm(Ok(())), 0);
        assert_eq!(to_wasm(Err(Errno::SPIPE)), 70);
    }
}
