//! Numbers from the kernel's `include/uapi/linux/netfilter/ipset/ip_set.h` (and
//! `ip_set_hash.h`, `ip_set_bitmap.h`, `nfnetlink.h`), named as there.

/// nfnetlink subsystem of ipset: the high byte of `nlmsg_type`.
pub const NFNL_SUBSYS_IPSET: u8 = 6;
/// `nfgenmsg.nfgen_family` and `IPSET_ATTR_FAMILY` for IPv4.
pub const NFPROTO_IPV4: u8 = 2;
/// `IPSET_ATTR_FAMILY` of types without an address family (bitmap:port).
pub const NFPROTO_UNSPEC: u8 = 0;

/// Highest and lowest protocol versions kproxy speaks (kernels since 5.x offer 7,
/// older ones only 6; the messages kproxy sends are the same in both).
pub const IPSET_PROTOCOL: u8 = 7;
pub const IPSET_PROTOCOL_MIN: u8 = 6;
/// Longest set or type name including its NUL.
pub const IPSET_MAXNAMELEN: usize = 32;

// Commands (`enum ipset_cmd`).
pub const IPSET_CMD_PROTOCOL: u8 = 1;
pub const IPSET_CMD_CREATE: u8 = 2;
pub const IPSET_CMD_DESTROY: u8 = 3;
pub const IPSET_CMD_FLUSH: u8 = 4;
pub const IPSET_CMD_RENAME: u8 = 5;
pub const IPSET_CMD_SWAP: u8 = 6;
pub const IPSET_CMD_LIST: u8 = 7;
pub const IPSET_CMD_SAVE: u8 = 8;
pub const IPSET_CMD_ADD: u8 = 9;
pub const IPSET_CMD_DEL: u8 = 10;
pub const IPSET_CMD_TEST: u8 = 11;
pub const IPSET_CMD_HEADER: u8 = 12;
pub const IPSET_CMD_TYPE: u8 = 13;
pub const IPSET_CMD_GET_BYNAME: u8 = 14;
pub const IPSET_CMD_GET_BYINDEX: u8 = 15;

// Attributes at command level.
pub const IPSET_ATTR_PROTOCOL: u16 = 1;
pub const IPSET_ATTR_SETNAME: u16 = 2;
/// Type name at create/type; the second set name at rename/swap (`IPSET_ATTR_SETNAME2`).
pub const IPSET_ATTR_TYPENAME: u16 = 3;
pub const IPSET_ATTR_REVISION: u16 = 4;
pub const IPSET_ATTR_FAMILY: u16 = 5;
pub const IPSET_ATTR_FLAGS: u16 = 6;
pub const IPSET_ATTR_DATA: u16 = 7;
pub const IPSET_ATTR_ADT: u16 = 8;
pub const IPSET_ATTR_LINENO: u16 = 9;
/// Also `IPSET_ATTR_REVISION_MIN` in a type reply.
pub const IPSET_ATTR_PROTOCOL_MIN: u16 = 10;
pub const IPSET_ATTR_INDEX: u16 = 11;

// Attributes inside DATA, shared by create and add/del/test (CADT).
pub const IPSET_ATTR_IP: u16 = 1;
pub const IPSET_ATTR_IP_TO: u16 = 2;
pub const IPSET_ATTR_CIDR: u16 = 3;
pub const IPSET_ATTR_PORT: u16 = 4;
pub const IPSET_ATTR_PORT_TO: u16 = 5;
pub const IPSET_ATTR_TIMEOUT: u16 = 6;
pub const IPSET_ATTR_PROTO: u16 = 7;
pub const IPSET_ATTR_CADT_FLAGS: u16 = 8;
pub const IPSET_ATTR_CADT_LINENO: u16 = 9;
// Create-only attributes inside DATA (also the header of a list reply).
pub const IPSET_ATTR_INITVAL: u16 = 17;
pub const IPSET_ATTR_HASHSIZE: u16 = 18;
pub const IPSET_ATTR_MAXELEM: u16 = 19;
pub const IPSET_ATTR_NETMASK: u16 = 20;
pub const IPSET_ATTR_BUCKETSIZE: u16 = 21;
pub const IPSET_ATTR_RESIZE: u16 = 22;
pub const IPSET_ATTR_SIZE: u16 = 23;
pub const IPSET_ATTR_ELEMENTS: u16 = 24;
pub const IPSET_ATTR_REFERENCES: u16 = 25;
pub const IPSET_ATTR_MEMSIZE: u16 = 26;
// Add/del/test-only attributes inside DATA: the same numbers as the create-only ones.
pub const IPSET_ATTR_IP2: u16 = 20;
pub const IPSET_ATTR_CIDR2: u16 = 21;
pub const IPSET_ATTR_BYTES: u16 = 24;
pub const IPSET_ATTR_PACKETS: u16 = 25;
pub const IPSET_ATTR_COMMENT: u16 = 26;

// Inside IPSET_ATTR_IP / IP_TO / IP2.
pub const IPSET_ATTR_IPADDR_IPV4: u16 = 1;
pub const IPSET_ATTR_IPADDR_IPV6: u16 = 2;

// Command-level flags (`IPSET_ATTR_FLAGS`).
pub const IPSET_FLAG_LIST_SETNAME: u32 = 1 << 1;

// Error codes (`enum ipset_errno`), sent negated in NLMSG_ERROR.
pub const IPSET_ERR_PROTOCOL: i32 = 4097;
pub const IPSET_ERR_FIND_TYPE: i32 = 4098;
pub const IPSET_ERR_MAX_SETS: i32 = 4099;
pub const IPSET_ERR_BUSY: i32 = 4100;
pub const IPSET_ERR_EXIST_SETNAME2: i32 = 4101;
pub const IPSET_ERR_TYPE_MISMATCH: i32 = 4102;
pub const IPSET_ERR_EXIST: i32 = 4103;
pub const IPSET_ERR_INVALID_CIDR: i32 = 4104;
pub const IPSET_ERR_INVALID_NETMASK: i32 = 4105;
pub const IPSET_ERR_INVALID_FAMILY: i32 = 4106;
pub const IPSET_ERR_TIMEOUT: i32 = 4107;
pub const IPSET_ERR_REFERENCED: i32 = 4108;
pub const IPSET_ERR_IPADDR_IPV4: i32 = 4109;
pub const IPSET_ERR_IPADDR_IPV6: i32 = 4110;
/// First type-specific code: "hash is full" for hash types, "out of range" for bitmaps.
pub const IPSET_ERR_TYPE_SPECIFIC: i32 = 4352;
pub const IPSET_ERR_HASH_ELEM: i32 = 4353;
pub const IPSET_ERR_INVALID_PROTO: i32 = 4354;
pub const IPSET_ERR_MISSING_PROTO: i32 = 4355;
