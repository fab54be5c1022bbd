//! Typed messages between cooperating processes (monitor ↔ container init, host ↔ joining
//! child) over a SOCK_SEQPACKET socketpair, with an optional fd passed by SCM_RIGHTS.

use crate::error::{Context, Error, Result};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Msg {
    /// Parent → child: cgroups joined and id maps written; go on.
    Go,
    /// Child → parent: the PTY master follows as an fd.
    Pty,
    /// Child → parent: the command is running with this PID (in the parent's PID namespace
    /// when known, else the child's own view).
    Ready { pid: i32 },
    /// Child → parent: setup failed; `code` is the exit code nsk should return.
    Fail { msg: String, code: i32 },
    /// Child → parent: the command ended with this raw wait status.
    Exit { status: i32 },
}

/// The largest message: SOCK_SEQPACKET delivers each whole, and the receiver's buffer is this size.
const MAX_MSG: usize = 8192;

/// The most fds one message carries: a network namespace and one `tasks` file per v1 hierarchy.
pub const MAX_FDS: usize = 16;

pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// A connected pair; both ends close on exec.
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ctx(|| "cannot create a socketpair")?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn send(&self, m: &Msg, fd: Option<BorrowedFd<'_>>) -> Result<()> {
        self.send_fds(m, fd.as_slice())
    }

    /// Send `m` with `fds` (at most MAX_FDS).
    pub fn send_fds(&self, m: &Msg, fds: &[BorrowedFd<'_>]) -> Result<()> {
        if fds.len() > MAX_FDS {
            return Err(Error::failed("too many fds for one message"));
        }
        let encode = |m: &Msg| {
            serde_json::to_vec(m).map_err(|e| Error::failed(format!("cannot encode message: {e}")))
        };
        let mut buf = encode(m)?;
        if buf.len() > MAX_MSG {
            // Only a failure can be long (a message naming long paths): keep its beginning.
            match m {
                Msg::Fail { msg, code } => {
                    buf = encode(&Msg::Fail {
                        msg: msg.chars().take(MAX_MSG / 8).collect(),
                        code: *code,
                    })?
                }
                _ => return Err(Error::failed("message too long")),
            }
        }
        let iov = [IoSlice::new(&buf)];
        let fds: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .ctx(|| "cannot send to the container process")?;
        Ok(())
    }

    /// Receive one message and the first fd sent with it (any other is closed); None at end of
    /// stream (the peer closed or exec'd).
    pub fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        Ok(self.recv_fds()?.map(|(m, fds)| (m, fds.into_iter().next())))
    }

    /// Receive one message and the fds sent with it, in order (at most MAX_FDS: a message
    /// with more arrives with none of them). None at end of stream.
    pub fn recv_fds(&self) -> Result<Option<(Msg, Vec<OwnedFd>)>> {
        // Messages are small; a stack buffer saves zeroing 64 KiB per call on the start-up path.
        let mut buf = [0u8; MAX_MSG];
        let mut cmsg_buf = nix::cmsg_space!([RawFd; MAX_FDS]);
        // A peer that exits with a message of ours unread leaves ECONNRESET pending here, and
        // the kernel reports it before the messages the peer queued first (its failure report):
        // the error is consumed by that read, so read once more for them.
        let mut reset = false;
        let (n, fds) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_buf),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(r) => {
                    let mut fds = vec![];
                    if let Ok(cmsgs) = r.cmsgs() {
                        for c in cmsgs {
                            if let ControlMessageOwned::ScmRights(raw) = c {
                                fds.extend(raw.into_iter().map(crate::sys::own_received_fd));
                            }
                        }
                    }
                    if r.flags.contains(MsgFlags::MSG_CTRUNC) {
                        // Some did not fit: the message is not what was sent.
                        fds.clear();
                    }
                    break (r.bytes, fds);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::ECONNRESET) if !reset => reset = true,
                Err(e) => return Err(e).ctx(|| "cannot receive from the container process"),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let m = serde_json::from_slice(&buf[..n])
            .map_err(|e| Error::failed(format!("bad message from the container process: {e}")))?;
        Ok(Some((m, fds)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child that fails while a Go of ours is still unread in its queue: its report arrives,
    /// not the connection reset the kernel reports first (then the end of the channel).
    #[test]
    fn a_report_queued_before_a_reset_still_arrives() {
        let (parent, child) = Channel::pair().unwrap();
        parent.send(&Msg::Go, None).unwrap();
        let fail = Msg::Fail {
            msg: "invalid volume".into(),
            code: 125,
        };
        child.send(&fail, None).unwrap();
        drop(child);
        assert_eq!(parent.recv().unwrap().unwrap().0, fail);
        assert!(parent.recv().unwrap().is_none());
    }

    /// Several fds arrive in the order sent; `recv` keeps the first and closes the others.
    #[test]
    fn fds_arrive_in_order() {
        let (a, b) = Channel::pair().unwrap();
        let files = ["/dev/null", "/dev/zero", "/"].map(|p| std::fs::File::open(p).unwrap());
        let target = |fd: &OwnedFd| std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let sent: Vec<_> = files.iter().map(|f| f.as_fd()).collect();
        a.send_fds(&Msg::Go, &sent).unwrap();
        let (m, fds) = b.recv_fds().unwrap().unwrap();
        assert_eq!(m, Msg::Go);
        let got: Vec<_> = fds.iter().map(|f| target(f).unwrap()).collect();
        assert_eq!(
            got,
            ["/dev/null", "/dev/zero", "/"].map(std::path::PathBuf::from)
        );
        a.send_fds(&Msg::Go, &sent).unwrap();
        let (_, first) = b.recv().unwrap().unwrap();
        assert_eq!(
            target(&first.unwrap()).unwrap(),
            std::path::Path::new("/dev/null")
        );
        let too_many: Vec<_> = (0..=MAX_FDS).map(|_| files[0].as_fd()).collect();
        assert!(a.send_fds(&Msg::Go, &too_many).is_err());
    }

    #[test]
    fn roundtrip_with_fd() {
        let (a, b) = Channel::pair().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        a.send(&Msg::Ready { pid: 7 }, Some(f.as_fd())).unwrap();
        let (m, fd) = b.recv().unwrap().unwrap();
        assert_eq!(m, Msg::Ready { pid: 7 });
        assert!(fd.is_some());
        a.send(
            &Msg::Fail {
                msg: "x".into(),
                code: 127,
            },
            None,
        )
        .unwrap();
        assert_eq!(
            b.recv().unwrap().unwrap().0,
            Msg::Fail {
                msg: "x".into(),
                code: 127
            }
        );
        // A failure message too long for one packet arrives shortened, still whole.
        a.send(
            &Msg::Fail {
                msg: "x".repeat(100_000),
                code: 125,
            },
            None,
        )
        .unwrap();
        match b.recv().unwrap().unwrap().0 {
            Msg::Fail { msg, code } => assert_eq!((msg.len(), code), (MAX_MSG / 8, 125)),
            m => panic!("{m:?}"),
        }
        drop(a);
        assert!(b.recv().unwrap().is_none());
    }
}
