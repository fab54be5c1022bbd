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
        let fds: Vec<RawFd> = fd.map(|f| f.as_raw_fd()).into_iter().collect();
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

    /// Receive one message; None at end of stream (the peer closed or exec'd).
    pub fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        // Messages are small; a stack buffer saves zeroing 64 KiB per call on the start-up path.
        let mut buf = [0u8; MAX_MSG];
        let mut cmsg_buf = nix::cmsg_space!([RawFd; 1]);
        // A peer that exits with a message of ours unread leaves ECONNRESET pending here, and
        // the kernel reports it before the messages the peer queued first (its failure report):
        // the error is consumed by that read, so read once more for them.
        let mut reset = false;
        let (n, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_buf),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(r) => {
                    let mut fd = None;
                    if let Ok(cmsgs) = r.cmsgs() {
                        for c in cmsgs {
                            if let ControlMessageOwned::ScmRights(fds) = c {
                                for raw in fds {
                                    let owned = crate::sys::own_received_fd(raw);
                                    fd.get_or_insert(owned);
                                }
                            }
                        }
                    }
                    break (r.bytes, fd);
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
        Ok(Some((m, fd)))
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
