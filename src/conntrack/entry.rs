//! One conntrack entry as the reconciler reads it, taken out of a dump reply.

use std::fmt;

use netlink_packet_core::DecodeError;

use super::attr::ConntrackAttr;
use super::message::ConntrackMessage;
use super::tuple::Tuple;

/// An entry: both directions, and what a delete needs to name exactly this one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// The packet that created the entry, before NAT: for service traffic its destination
    /// is the service address.
    pub orig: Tuple,
    /// The answer expected back, after NAT: for DNATed service traffic its source is the
    /// endpoint.
    pub reply: Tuple,
    /// `IPS_*` bits.
    pub status: u32,
    /// Seconds left, when the kernel said.
    pub timeout: Option<u32>,
    /// 0 is the default zone.
    pub zone: u16,
    /// The kernel's id of the entry, when the kernel said.
    pub id: Option<u32>,
    pub mark: u32,
}

impl Entry {
    /// Reads an entry from a dump reply; fails when a tuple is missing or incomplete.
    pub fn from_message(message: &ConntrackMessage) -> Result<Self, DecodeError> {
        let (mut orig, mut reply) = (None, None);
        let (mut status, mut timeout, mut zone, mut id, mut mark) = (0, None, 0, None, 0);
        for attr in &message.attrs {
            match attr {
                ConntrackAttr::TupleOrig(t) => orig = Some(Tuple::from_attrs(t)?),
                ConntrackAttr::TupleReply(t) => reply = Some(Tuple::from_attrs(t)?),
                ConntrackAttr::Status(s) => status = *s,
                ConntrackAttr::Timeout(t) => timeout = Some(*t),
                ConntrackAttr::Zone(z) => zone = *z,
                ConntrackAttr::Id(i) => id = Some(*i),
                ConntrackAttr::Mark(m) => mark = *m,
                _ => {}
            }
        }
        Ok(Self {
            family: message.family,
            orig: orig.ok_or("entry without CTA_TUPLE_ORIG")?,
            reply: reply.ok_or("entry without CTA_TUPLE_REPLY")?,
            status,
            timeout,
            zone,
            id,
            mark,
        })
    }
}

impl fmt::Display for Entry {
    /// `conntrack -L`'s fields, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (o, r) = (&self.orig, &self.reply);
        write!(
            f,
            "proto={} src={} dst={} sport={} dport={} src={} dst={} sport={} dport={}",
            o.protocol, o.src, o.dst, o.src_port, o.dst_port, r.src, r.dst, r.src_port, r.dst_port
        )?;
        if self.zone != 0 {
            write!(f, " zone={}", self.zone)?;
        }
        Ok(())
    }
}
