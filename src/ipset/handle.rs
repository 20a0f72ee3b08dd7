//! A thin blocking ipset client over a `NETLINK_NETFILTER` [`Connection`]: one request,
//! then its ACK, error or dump. The only code in this module that touches the kernel.

use std::collections::HashMap;

use netlink_sys::protocols::NETLINK_NETFILTER;

use super::consts::{IPSET_ERR_PROTOCOL, IPSET_MAXNAMELEN, IPSET_PROTOCOL, IPSET_PROTOCOL_MIN};
use super::entry::Entry;
use super::error::{IpsetError, KernelError, Operation};
use super::message::{IpsetCommand, IpsetMessage};
use super::reply::{SetListing, failed_line, listings, protocol_range, revision_range, set_names};
use super::request::{IfPresent, Request};
use super::set_type::{CreateOptions, SetType};
use crate::netlink::{Connection, NetlinkError};

/// Entries per add/del message: about 13 KiB at most, well under the socket buffers,
/// and the kernel echoes a failed batch whole.
const BATCH_ENTRIES: usize = 256;

/// A failed exchange, before it is given an operation and a set name.
type Failure = NetlinkError;

/// The ipset client. Not `Sync`: one request at a time.
pub struct IpsetHandle {
    connection: Connection,
    protocol: u8,
    /// Revision to create, per type name, learnt from the kernel once.
    revisions: HashMap<&'static str, u8>,
}

impl IpsetHandle {
    /// Opens a socket in the calling thread's network namespace and agrees on the
    /// protocol version with the kernel.
    pub fn new() -> Result<Self, IpsetError> {
        let connection = Connection::open(NETLINK_NETFILTER).map_err(IpsetError::Open)?;
        let mut handle = Self {
            connection,
            protocol: IPSET_PROTOCOL,
            revisions: HashMap::new(),
        };
        handle.negotiate()?;
        Ok(handle)
    }

    /// The protocol version in use (6 or 7).
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// Kernels before protocol 7 refuse a request for 7; they are asked again for 6.
    fn negotiate(&mut self) -> Result<(), IpsetError> {
        let op = Operation::Protocol;
        let mut reply = self.exchange(Request::protocol(IPSET_PROTOCOL));
        if let Err(Failure::Kernel {
            code: IPSET_ERR_PROTOCOL,
            ..
        }) = reply
        {
            reply = self.exchange(Request::protocol(IPSET_PROTOCOL_MIN));
        }
        let messages = reply.map_err(|f| failure_error(op, "", None, false, f))?;
        let range = messages
            .first()
            .ok_or_else(|| decode_error(op, "", "no reply".into()))
            .and_then(|m| protocol_range(m).map_err(|e| decode_error(op, "", e.to_string())))?;
        if range.max < IPSET_PROTOCOL_MIN || range.min > IPSET_PROTOCOL {
            return Err(IpsetError::UnsupportedProtocol {
                min: range.min,
                max: range.max,
            });
        }
        self.protocol = range.max.min(IPSET_PROTOCOL);
        Ok(())
    }

    /// Creates a set; fails with [`KernelError::SetExists`] if the name is taken.
    pub fn create(&mut self, name: &str, set_type: &SetType) -> Result<(), IpsetError> {
        self.create_with(name, set_type, &CreateOptions::default(), IfPresent::Fail)
    }

    /// Creates a set with sizing options. With `IfPresent::Ignore` an existing set of
    /// the same type is fine (one of another type still fails).
    pub fn create_with(
        &mut self,
        name: &str,
        set_type: &SetType,
        options: &CreateOptions,
        if_present: IfPresent,
    ) -> Result<(), IpsetError> {
        check_name(name)?;
        let revision = self.revision(set_type)?;
        let request = Request::create(self.protocol, name, set_type, revision, options, if_present);
        self.run(Operation::Create, name, request)
    }

    /// The revision to create: the kernel's newest that ipset userspace still reads.
    fn revision(&mut self, set_type: &SetType) -> Result<u8, IpsetError> {
        if let Some(revision) = self.revisions.get(set_type.type_name()) {
            return Ok(*revision);
        }
        let op = Operation::Type;
        let name = set_type.type_name();
        let messages = self
            .exchange(Request::type_revisions(self.protocol, set_type))
            .map_err(|f| failure_error(op, name, None, false, f))?;
        let range = messages
            .first()
            .ok_or_else(|| decode_error(op, name, "no reply".into()))
            .and_then(|m| revision_range(m).map_err(|e| decode_error(op, name, e.to_string())))?;
        let known = set_type.newest_known_revision().min(range.max);
        let revision = if known < range.min { range.max } else { known };
        self.revisions.insert(name, revision);
        Ok(revision)
    }

    /// Destroys a set; fails with [`KernelError::SetInUse`] while rules reference it.
    pub fn destroy(&mut self, name: &str) -> Result<(), IpsetError> {
        check_name(name)?;
        self.run(
            Operation::Destroy,
            name,
            Request::destroy(self.protocol, name),
        )
    }

    /// Removes every entry of a set.
    pub fn flush(&mut self, name: &str) -> Result<(), IpsetError> {
        check_name(name)?;
        self.run(Operation::Flush, name, Request::flush(self.protocol, name))
    }

    /// Atomically exchanges the contents of two sets of compatible types; rules that
    /// reference either name see the other set's entries from then on.
    pub fn swap(&mut self, from: &str, to: &str) -> Result<(), IpsetError> {
        check_name(from)?;
        check_name(to)?;
        self.run(
            Operation::Swap,
            from,
            Request::swap(self.protocol, from, to),
        )
    }

    /// Renames a set.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), IpsetError> {
        check_name(from)?;
        check_name(to)?;
        self.run(
            Operation::Rename,
            from,
            Request::rename(self.protocol, from, to),
        )
    }

    /// Adds one entry; fails with [`KernelError::EntryExists`] if it is a member.
    pub fn add(&mut self, name: &str, entry: &Entry) -> Result<(), IpsetError> {
        check_name(name)?;
        let request = Request::add(self.protocol, name, entry, IfPresent::Fail);
        self.run_entry(Operation::Add, name, entry, request)
    }

    /// Deletes one entry; fails with [`KernelError::EntryMissing`] if it is not a member.
    pub fn del(&mut self, name: &str, entry: &Entry) -> Result<(), IpsetError> {
        check_name(name)?;
        let request = Request::del(self.protocol, name, entry, IfPresent::Fail);
        self.run_entry(Operation::Del, name, entry, request)
    }

    /// Whether `entry` is a member of the set.
    pub fn test(&mut self, name: &str, entry: &Entry) -> Result<bool, IpsetError> {
        check_name(name)?;
        let request = Request::test(self.protocol, name, entry);
        match self.run_entry(Operation::Test, name, entry, request) {
            Ok(()) => Ok(true),
            Err(e) if e.kernel_error() == Some(KernelError::EntryMissing) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds entries in batches; returns the number of messages sent. On a refusal the
    /// error names the entry, and the entries before it stay added.
    pub fn add_all(
        &mut self,
        name: &str,
        entries: &[Entry],
        if_present: IfPresent,
    ) -> Result<usize, IpsetError> {
        self.batch(Operation::Add, name, entries, if_present)
    }

    /// Deletes entries in batches; returns the number of messages sent.
    pub fn del_all(
        &mut self,
        name: &str,
        entries: &[Entry],
        if_absent: IfPresent,
    ) -> Result<usize, IpsetError> {
        self.batch(Operation::Del, name, entries, if_absent)
    }

    fn batch(
        &mut self,
        op: Operation,
        name: &str,
        entries: &[Entry],
        if_present: IfPresent,
    ) -> Result<usize, IpsetError> {
        check_name(name)?;
        let command = match op {
            Operation::Add => IpsetCommand::Add,
            _ => IpsetCommand::Del,
        };
        let mut messages = 0;
        for chunk in entries.chunks(BATCH_ENTRIES) {
            let request = Request::batch(command, self.protocol, name, chunk, if_present);
            messages += 1;
            if let Err(failure) = self.exchange(request) {
                let entry = match &failure {
                    Failure::Kernel { echo, .. } => {
                        failed_line(echo).and_then(|line| chunk.get(line - 1).copied())
                    }
                    _ => None,
                };
                let bitmap = chunk.iter().any(|e| matches!(e, Entry::Port(_)));
                return Err(failure_error(op, name, entry, bitmap, failure));
            }
        }
        Ok(messages)
    }

    /// The set's type, header and entries.
    pub fn list(&mut self, name: &str) -> Result<SetListing, IpsetError> {
        check_name(name)?;
        let op = Operation::List;
        let messages = self
            .exchange(Request::list(self.protocol, name))
            .map_err(|f| failure_error(op, name, None, false, f))?;
        let mut sets = listings(&messages).map_err(|e| decode_error(op, name, e.to_string()))?;
        match sets.pop() {
            Some(set) if sets.is_empty() && set.name == name => Ok(set),
            _ => Err(decode_error(
                op,
                name,
                format!("{} sets in the dump", sets.len() + 1),
            )),
        }
    }

    /// Whether a set of that name exists.
    pub fn exists(&mut self, name: &str) -> Result<bool, IpsetError> {
        Ok(self.list_names()?.iter().any(|n| n == name))
    }

    /// The names of all sets in this network namespace.
    pub fn list_names(&mut self) -> Result<Vec<String>, IpsetError> {
        let op = Operation::ListNames;
        let messages = self
            .exchange(Request::list_names(self.protocol))
            .map_err(|f| failure_error(op, "", None, false, f))?;
        set_names(&messages).map_err(|e| decode_error(op, "", e.to_string()))
    }

    fn run(&mut self, op: Operation, name: &str, request: Request) -> Result<(), IpsetError> {
        self.exchange(request)
            .map(drop)
            .map_err(|f| failure_error(op, name, None, false, f))
    }

    fn run_entry(
        &mut self,
        op: Operation,
        name: &str,
        entry: &Entry,
        request: Request,
    ) -> Result<(), IpsetError> {
        let bitmap = matches!(entry, Entry::Port(_));
        self.exchange(request)
            .map(drop)
            .map_err(|f| failure_error(op, name, Some(*entry), bitmap, f))
    }

    /// Sends one request and collects its replies: up to the ACK for acknowledged
    /// requests, up to `NLMSG_DONE` for dumps, the single reply otherwise.
    fn exchange(&mut self, request: Request) -> Result<Vec<IpsetMessage>, Failure> {
        self.connection.request(request.message, request.flags)
    }
}

/// Names the operation, set and (when known) entry of a failed exchange. `bitmap` says
/// whether the set is a bitmap, which decides what the first type-specific code means.
fn failure_error(
    op: Operation,
    set: &str,
    entry: Option<Entry>,
    bitmap: bool,
    failure: Failure,
) -> IpsetError {
    let set = set.to_string();
    match failure {
        Failure::Io(source) => IpsetError::Io { op, set, source },
        Failure::Decode(e) => IpsetError::Decode {
            op,
            set,
            reason: e.to_string(),
        },
        Failure::Kernel { code, .. } => IpsetError::Kernel {
            op,
            set,
            entry,
            kind: KernelError::from_code(code, op, bitmap),
        },
    }
}

fn decode_error(op: Operation, set: &str, reason: String) -> IpsetError {
    IpsetError::Decode {
        op,
        set: set.to_string(),
        reason,
    }
}

/// The kernel keeps names in 32 bytes including the NUL.
fn check_name(name: &str) -> Result<(), IpsetError> {
    if name.is_empty() || name.len() >= IPSET_MAXNAMELEN || name.contains('\0') {
        return Err(IpsetError::InvalidName(name.to_string()));
    }
    Ok(())
}
