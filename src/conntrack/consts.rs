//! Numbers from the kernel's `include/uapi/linux/netfilter/nfnetlink.h`,
//! `nfnetlink_conntrack.h` and `nf_conntrack_common.h`, named as there.

/// nfnetlink subsystem of conntrack: the high byte of `nlmsg_type`.
pub const NFNL_SUBSYS_CTNETLINK: u8 = 1;

// Address families (`nfgenmsg.nfgen_family`): which table a dump reads.
pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

// Transport protocols (`CTA_PROTO_NUM`).
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_SCTP: u8 = 132;

// Messages (`enum cntl_msg_types`).
pub const IPCTNL_MSG_CT_NEW: u8 = 0;
pub const IPCTNL_MSG_CT_GET: u8 = 1;
pub const IPCTNL_MSG_CT_DELETE: u8 = 2;

// Attributes of an entry (`enum ctattr_type`).
pub const CTA_TUPLE_ORIG: u16 = 1;
pub const CTA_TUPLE_REPLY: u16 = 2;
pub const CTA_STATUS: u16 = 3;
pub const CTA_TIMEOUT: u16 = 7;
pub const CTA_MARK: u16 = 8;
pub const CTA_USE: u16 = 11;
pub const CTA_ID: u16 = 12;
pub const CTA_ZONE: u16 = 18;
pub const CTA_FILTER: u16 = 25;

// Inside a tuple (`enum ctattr_tuple`).
pub const CTA_TUPLE_IP: u16 = 1;
pub const CTA_TUPLE_PROTO: u16 = 2;
pub const CTA_TUPLE_ZONE: u16 = 3;

// Inside CTA_TUPLE_IP (`enum ctattr_ip`).
pub const CTA_IP_V4_SRC: u16 = 1;
pub const CTA_IP_V4_DST: u16 = 2;
pub const CTA_IP_V6_SRC: u16 = 3;
pub const CTA_IP_V6_DST: u16 = 4;

// Inside CTA_TUPLE_PROTO (`enum ctattr_l4proto`).
pub const CTA_PROTO_NUM: u16 = 1;
pub const CTA_PROTO_SRC_PORT: u16 = 2;
pub const CTA_PROTO_DST_PORT: u16 = 3;

// Inside CTA_FILTER (`enum ctattr_filter`, kernel 5.8 and later): which fields of the
// tuples given beside it a dump must match. The flags are in host byte order.
pub const CTA_FILTER_ORIG_FLAGS: u16 = 1;
pub const CTA_FILTER_REPLY_FLAGS: u16 = 2;
/// `CTA_FILTER_FLAG(CTA_PROTO_NUM)`: match the transport protocol.
pub const CTA_FILTER_F_CTA_PROTO_NUM: u32 = 1 << 3;

// Status bits (`enum ip_conntrack_status`).
pub const IPS_SEEN_REPLY: u32 = 1 << 1;
pub const IPS_ASSURED: u32 = 1 << 2;
pub const IPS_CONFIRMED: u32 = 1 << 3;
pub const IPS_DST_NAT: u32 = 1 << 5;
