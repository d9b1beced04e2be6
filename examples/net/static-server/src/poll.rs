//! Waiting for sockets: `poll_oneoff` under WASI, `poll(2)` natively (the same server source
//! builds for Linux, to compare with).

use std::io;
use std::time::Duration;

#[cfg(unix)]
pub use std::os::unix::io::RawFd;
#[cfg(target_os = "wasi")]
pub use std::os::wasi::io::RawFd;

/// What a descriptor is waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// Reusable buffers for [`Poller::wait`], so that a wait allocates nothing once warm.
#[derive(Default)]
pub struct Poller {
    #[cfg(target_os = "wasi")]
    subscriptions: Vec<wasi::Subscription>,
    #[cfg(target_os = "wasi")]
    events: Vec<wasi::Event>,
    #[cfg(unix)]
    fds: Vec<libc::pollfd>,
}

impl Poller {
    /// Blocks until one of `interests` is ready (or failed: the next read or write says how)
    /// or `timeout` passes; `ready` receives the indices of the ready interests.
    pub fn wait(
        &mut self,
        interests: &[(RawFd, Interest)],
        timeout: Option<Duration>,
        ready: &mut Vec<usize>,
    ) -> io::Result<()> {
        ready.clear();
        self.wait_os(interests, timeout, ready)
    }

    #[cfg(target_os = "wasi")]
    fn wait_os(
        &mut self,
        interests: &[(RawFd, Interest)],
        timeout: Option<Duration>,
        ready: &mut Vec<usize>,
    ) -> io::Result<()> {
        use wasi::{
            Subscription, SubscriptionClock, SubscriptionFdReadwrite, SubscriptionU, SubscriptionUU,
        };
        /// Marks the clock subscription among the descriptors' indices.
        const CLOCK: u64 = u64::MAX;
        self.subscriptions.clear();
        for (i, &(fd, interest)) in interests.iter().enumerate() {
            let rw = SubscriptionFdReadwrite {
                file_descriptor: fd as u32,
            };
            let (tag, u) = match interest {
                Interest::Read => (wasi::EVENTTYPE_FD_READ, SubscriptionUU { fd_read: rw }),
                Interest::Write => (wasi::EVENTTYPE_FD_WRITE, SubscriptionUU { fd_write: rw }),
            };
            self.subscriptions.push(Subscription {
                userdata: i as u64,
                u: SubscriptionU { tag: tag.raw(), u },
            });
        }
        if let Some(t) = timeout {
            self.subscriptions.push(Subscription {
                userdata: CLOCK,
                u: SubscriptionU {
                    tag: wasi::EVENTTYPE_CLOCK.raw(),
                    u: SubscriptionUU {
                        clock: SubscriptionClock {
                            id: wasi::CLOCKID_MONOTONIC,
                            timeout: u64::try_from(t.as_nanos()).unwrap_or(u64::MAX),
                            precision: 0,
                            flags: 0,
                        },
                    },
                },
            });
        }
        if self.subscriptions.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "nothing to wait for",
            ));
        }
        let n = self.subscriptions.len();
        self.events.clear();
        self.events.reserve(n);
        // SAFETY: `subscriptions` holds `n` initialised entries and `events` has room for `n`;
        // poll_oneoff writes at most `n` events and returns how many it wrote.
        let written =
            unsafe { wasi::poll_oneoff(self.subscriptions.as_ptr(), self.events.as_mut_ptr(), n) }
                .map_err(|e| io::Error::from_raw_os_error(e.raw().into()))?;
        // SAFETY: poll_oneoff initialised the first `written` (<= n) events.
        unsafe { self.events.set_len(written.min(n)) };
        ready.extend(
            self.events
                .iter()
                .filter(|e| e.userdata != CLOCK)
                .map(|e| e.userdata as usize),
        );
        Ok(())
    }

    #[cfg(unix)]
    fn wait_os(
        &mut self,
        interests: &[(RawFd, Interest)],
        timeout: Option<Duration>,
        ready: &mut Vec<usize>,
    ) -> io::Result<()> {
        self.fds.clear();
        self.fds
            .extend(interests.iter().map(|&(fd, interest)| libc::pollfd {
                fd,
                events: match interest {
                    Interest::Read => libc::POLLIN,
                    Interest::Write => libc::POLLOUT,
                },
                revents: 0,
            }));
        let millis = match timeout {
            // Round up: a deadline must have passed when the wait ends.
            Some(t) => i32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX),
            None => -1,
        };
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
        let n = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                millis,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        ready.extend(
            self.fds
                .iter()
                .enumerate()
                .filter(|(_, p)| p.revents != 0)
                .map(|(i, _)| i),
        );
        Ok(())
    }
}
