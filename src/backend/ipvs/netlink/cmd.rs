//! The IPVS family's commands, the `cmd` byte of the generic netlink header.

use netlink_packet_core::DecodeError;

use super::constants::*;

/// An `IPVS_CMD_*` command. Requests use `New*`/`Set*`/`Del*`/`Get*`; the kernel answers a
/// `Get*` dump with `New*` messages (`GetService` → `NewService`), `GetConfig` with
/// `SetConfig` and `GetInfo` with `SetInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpvsCmd {
    NewService,
    SetService,
    DelService,
    GetService,
    NewDest,
    SetDest,
    DelDest,
    GetDest,
    NewDaemon,
    DelDaemon,
    GetDaemon,
    SetConfig,
    GetConfig,
    SetInfo,
    GetInfo,
    Zero,
    Flush,
}

impl From<IpvsCmd> for u8 {
    fn from(cmd: IpvsCmd) -> u8 {
        use IpvsCmd::*;
        match cmd {
            NewService => IPVS_CMD_NEW_SERVICE,
            SetService => IPVS_CMD_SET_SERVICE,
            DelService => IPVS_CMD_DEL_SERVICE,
            GetService => IPVS_CMD_GET_SERVICE,
            NewDest => IPVS_CMD_NEW_DEST,
            SetDest => IPVS_CMD_SET_DEST,
            DelDest => IPVS_CMD_DEL_DEST,
            GetDest => IPVS_CMD_GET_DEST,
            NewDaemon => IPVS_CMD_NEW_DAEMON,
            DelDaemon => IPVS_CMD_DEL_DAEMON,
            GetDaemon => IPVS_CMD_GET_DAEMON,
            SetConfig => IPVS_CMD_SET_CONFIG,
            GetConfig => IPVS_CMD_GET_CONFIG,
            SetInfo => IPVS_CMD_SET_INFO,
            GetInfo => IPVS_CMD_GET_INFO,
            Zero => IPVS_CMD_ZERO,
            Flush => IPVS_CMD_FLUSH,
        }
    }
}

impl TryFrom<u8> for IpvsCmd {
    type Error = DecodeError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        use IpvsCmd::*;
        Ok(match value {
            IPVS_CMD_NEW_SERVICE => NewService,
            IPVS_CMD_SET_SERVICE => SetService,
            IPVS_CMD_DEL_SERVICE => DelService,
            IPVS_CMD_GET_SERVICE => GetService,
            IPVS_CMD_NEW_DEST => NewDest,
            IPVS_CMD_SET_DEST => SetDest,
            IPVS_CMD_DEL_DEST => DelDest,
            IPVS_CMD_GET_DEST => GetDest,
            IPVS_CMD_NEW_DAEMON => NewDaemon,
            IPVS_CMD_DEL_DAEMON => DelDaemon,
            IPVS_CMD_GET_DAEMON => GetDaemon,
            IPVS_CMD_SET_CONFIG => SetConfig,
            IPVS_CMD_GET_CONFIG => GetConfig,
            IPVS_CMD_SET_INFO => SetInfo,
            IPVS_CMD_GET_INFO => GetInfo,
            IPVS_CMD_ZERO => Zero,
            IPVS_CMD_FLUSH => Flush,
            cmd => return Err(DecodeError::from(format!("unknown IPVS command: {cmd}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips_through_its_number() {
        for n in 1..=17u8 {
            let cmd = IpvsCmd::try_from(n).unwrap();
            assert_eq!(u8::from(cmd), n);
        }
        assert!(IpvsCmd::try_from(0).is_err());
        assert!(IpvsCmd::try_from(18).is_err());
    }
}
