//! The requests kproxy sends: a dump of one table (optionally of one protocol only) and
//! the delete of one entry by its original tuple.

use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage};

use super::attr::ConntrackAttr;
use super::consts::*;
use super::entry::Entry;
use super::filter::FilterAttr;
use super::message::{ConntrackCommand, ConntrackMessage};
use super::tuple::{ProtoAttr, TupleAttr};
use crate::netlink::nfnetlink;

/// A request: its netlink flags and payload. The sequence number comes at send time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub message: ConntrackMessage,
}

impl Request {
    /// Every entry of `family`'s table, as `conntrack -L -f ipv4` asks.
    pub fn dump(family: u8) -> Self {
        Self {
            flags: NLM_F_REQUEST | NLM_F_DUMP,
            message: ConntrackMessage::new(ConntrackCommand::Get, family, Vec::new()),
        }
    }

    /// The entries of `family`'s table with transport protocol `protocol`, filtered by
    /// the kernel (`CTA_FILTER`, kernel 5.8 and later; older kernels refuse it with
    /// `EINVAL` or `EOPNOTSUPP`, and [`Request::dump`] is the fallback).
    pub fn dump_protocol(family: u8, protocol: u8) -> Self {
        let mut request = Self::dump(family);
        request.message.attrs = vec![
            ConntrackAttr::TupleOrig(vec![TupleAttr::Proto(vec![ProtoAttr::Num(protocol)])]),
            ConntrackAttr::Filter(vec![
                FilterAttr::OrigFlags(CTA_FILTER_F_CTA_PROTO_NUM),
                FilterAttr::ReplyFlags(0),
            ]),
        ];
        request
    }

    /// Deletes `entry`: named by its original tuple and zone, and by its id when the dump
    /// gave one, so that an entry created since with the same tuple usually survives (the
    /// kernel's id hashes the entry's address, which a newer entry may reuse).
    pub fn delete(entry: &Entry) -> Self {
        let mut attrs = vec![ConntrackAttr::TupleOrig(entry.orig.to_attrs())];
        if entry.zone != 0 {
            attrs.push(ConntrackAttr::Zone(entry.zone));
        }
        if let Some(id) = entry.id {
            attrs.push(ConntrackAttr::Id(id));
        }
        Self {
            flags: NLM_F_REQUEST | NLM_F_ACK,
            message: ConntrackMessage::new(ConntrackCommand::Delete, entry.family, attrs),
        }
    }

    /// The netlink message with `seq`, ready to serialize.
    pub fn into_netlink(self, seq: u32) -> NetlinkMessage<ConntrackMessage> {
        nfnetlink::request(self.flags, seq, self.message)
    }

    /// Appends the bytes sent to the kernel to `out` (several requests go in one send).
    pub fn write_to(&self, seq: u32, out: &mut Vec<u8>) {
        let message = self.clone().into_netlink(seq);
        let start = out.len();
        out.resize(start + message.buffer_len(), 0);
        message.serialize(&mut out[start..]);
    }

    /// The bytes sent to the kernel.
    pub fn to_bytes(&self, seq: u32) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(seq, &mut out);
        out
    }
}
